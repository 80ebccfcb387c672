"""The catalog as the director's child service, on both backends: open on start (after the
director's own preparation), closed on stop; waiters of a stop before the open are cancelled."""

import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.catalog import CatalogClosedError
from bareos.catalog.service import CatalogService


def catalog_service(catalog_config, prepare=None):
    resource, working_directory = catalog_config
    named = types.SimpleNamespace(**vars(resource), name="MyCatalog")
    return CatalogService(named, working_directory, reactor, prepare=prepare)


@pytest_twisted.ensureDeferred
async def test_the_catalog_opens_with_the_service_and_closes_with_it(catalog_config):
    prepared = []

    async def prepare(catalog):
        prepared.append(await catalog.ensure_client("fd1"))

    service = catalog_service(catalog_config, prepare)
    service.startService()
    catalog = await service.ready()
    assert service.catalog is catalog and len(prepared) == 1
    assert [c.name for c in await catalog.list_clients()] == ["fd1"]

    await service.stopService()

    assert service.catalog is None
    with pytest.raises(CatalogClosedError):
        await catalog.list_clients()


@pytest_twisted.ensureDeferred
async def test_a_stop_before_the_catalog_is_open_cancels_its_waiters(catalog_config):
    service = catalog_service(catalog_config)
    waiter = service.ready()
    service.startService()
    await service.stopService()
    with pytest.raises(defer.CancelledError):
        await waiter
    assert service.catalog is None
