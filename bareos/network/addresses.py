"""The Lan Address rule: which address the director tells a daemon to dial.

When both daemons of a data channel have a ``Lan Address`` they sit in the same
LAN, so the initiating daemon is told the other's LAN address; otherwise it is
told its ``Address``.  The director itself always dials ``Address``.
"""

from typing import Protocol


class Reachable(Protocol):
    """What the rule reads of a Client or Storage resource."""

    @property
    def address(self) -> str: ...

    @property
    def lan_address(self) -> str | None: ...


def both_in_lan(first: Reachable, second: Reachable) -> bool:
    """True when both resources have a ``Lan Address``: the rule picks LAN addresses."""
    return bool(first.lan_address) and bool(second.lan_address)


def storage_address_for_client(client: Reachable, storage: Reachable) -> str | None:
    """Active client: the address of ``storage`` the file daemon dials."""
    return storage.lan_address if both_in_lan(client, storage) else storage.address


def client_address_for_storage(client: Reachable, storage: Reachable) -> str | None:
    """Passive client: the address of ``client`` the storage daemon dials."""
    return client.lan_address if both_in_lan(client, storage) else client.address


def storage_address_for_storage(reading_storage: Reachable,
                                writing_storage: Reachable) -> str | None:
    """SD-to-SD copy: the address of the writing storage the reading one dials."""
    if both_in_lan(reading_storage, writing_storage):
        return writing_storage.lan_address
    return writing_storage.address


def which_address(first: Reachable, second: Reachable) -> str:
    """``"Lan Address"`` or ``"Address"``: what the rule picks for this pair (job log text)."""
    return "Lan Address" if both_in_lan(first, second) else "Address"
