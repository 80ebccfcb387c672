"""The catalog as a child service of the director: opened when it starts, closed when it stops.

Opening retries while the database server is unreachable (``open_catalog_retrying``);
``prepare(catalog)`` then runs (the director records its clients, storages and pools)
before ``catalog`` is set and ``ready()`` fires.  A catalog that cannot be opened for good
(bad password, unknown database, broken schema) stops the reactor: a director without
its catalog can run no job.  Stopping cancels an open in progress and the waiters of
``ready()``, and closes an open catalog; the director stops it only after its jobs have
recorded their end.
"""

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from bareos.catalog import open_catalog_retrying

log = Logger(namespace="bareos.catalog")


class CatalogService(service.Service):
    name = "catalog"

    def __init__(self, resource, working_directory, reactor, prepare=None):
        self.resource = resource
        self.working_directory = working_directory
        self.reactor = reactor
        self.prepare = prepare
        self.catalog = None            # the open ICatalog, once ready
        self._opening = None
        self._waiters = []

    @property
    def driver(self):
        return (self.resource.db_driver if self.resource else None) or "sqlite3"

    def startService(self):
        super().startService()
        if self.resource is None:
            log.error("No Catalog resource is configured: jobs cannot run")
            return
        self._opening = defer.ensureDeferred(self._open())
        self._opening.addErrback(self._open_failed)

    async def _open(self):
        catalog = await open_catalog_retrying(self.resource, self.working_directory, self.reactor)
        try:
            if self.prepare is not None:
                await self.prepare(catalog)
        except BaseException:
            await catalog.close()
            raise
        if not self.running:                   # stopped meanwhile
            await catalog.close()
            return
        self._opening = None
        self.catalog = catalog
        log.info("Catalog {name} ({driver}) is ready", name=self.resource.name,
                 driver=self.driver)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(catalog)

    def _open_failed(self, failure):
        self._opening = None
        if failure.check(defer.CancelledError) or not self.running:   # stopped while opening
            return
        log.critical("Cannot use the catalog {name}: {error}", name=self.resource.name,
                     error=failure.value)
        self.reactor.stop()

    def ready(self):
        """A Deferred that fires with the catalog once it is open."""
        if self.catalog is not None:
            return defer.succeed(self.catalog)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        return waiter

    def stopService(self):
        super().stopService()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.cancel()
        opening, self._opening = self._opening, None
        if opening is not None:          # fires once the open has given up (and closed)
            opening.cancel()
            return opening
        catalog, self.catalog = self.catalog, None
        if catalog is None:
            return None
        d = catalog.close()
        d.addCallback(lambda _: log.info("Catalog {name} closed", name=self.resource.name))
        return d
