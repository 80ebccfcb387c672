"""The console's ``relabel`` and ``truncate``, and the Pool's ``Action On Purge =
Truncate``, as Bareos' ``ua_label.cc`` and ``ua_purge.cc`` do them.

Both ask the storage daemon to relabel a volume file (``relabel <device> OldName=
NewName=``): under a new name for ``relabel``, under its own name for ``truncate``; either
way the file is rewritten to hold only its label.  Only a Purged (or Recycle) volume, one
whose jobs the catalog has forgotten, is ever rewritten.
"""

import re
from datetime import datetime

from bareos.director.console.admin import _volume, confirmed
from bareos.director.console.commands import _keyword, command, refuse_unknown
from bareos.director.links import DaemonUnreachable, ProtocolViolation, connect_storage
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.cram import bash_spaces

_LABEL_OK = re.compile(r"3000 OK label\. (?:VolFiles=\d+ )?VolBytes=(\d+) ")
#: ``truncate`` leaves a volume alone that holds no more than one default block (64,512
#: bytes), as Bareos does: there is nothing to win.
TRUNCATE_ABOVE_BYTES = 512 * 126


class RelabelFailed(Exception):
    pass


async def relabel_file(director, storage, volume, new_name, pool_name):
    """Have ``storage``'s storage daemon rewrite the file of ``volume`` (a VolumeRecord)
    as the empty, labelled volume ``new_name``; its size in bytes (the VolBytes to store).
    Raises RelabelFailed with the reason."""
    try:
        link = await connect_storage(director, storage, timeout=15, retry_interval=1)
    except DaemonUnreachable as exc:
        raise RelabelFailed(str(exc)) from None
    try:
        answer = await link.command(
            f"relabel {bash_spaces(storage.device[0])} "
            f"OldName={bash_spaces(volume.volume_name)} NewName={bash_spaces(new_name)} "
            f"PoolName={bash_spaces(pool_name)} MediaType={bash_spaces(volume.media_type)} "
            f"Slot={volume.slot} drive=0 MinBlocksize={volume.min_block_size} "
            f"MaxBlocksize={volume.max_block_size}\n", "3000 OK label")
    except (ProtocolViolation, ConnectionClosed, ReceiveTimeout) as exc:
        raise RelabelFailed(str(exc)) from None
    finally:
        link.close()
    match = _LABEL_OK.match(answer)
    if match is None:
        raise RelabelFailed(f"unexpected answer {answer.strip()!r}")
    return int(match.group(1))


def _storage_of(session, reply, volume, name=None):
    """The Storage resource the volume is on (or ``name``), allowed by the Storage ACL."""
    name = name or volume.storage
    storage = session.director.config.get("storage", name) if name else None
    if storage is None or not session.acl_allows("storage_acl", name):
        reply.error(f'Storage "{name}" not found.' if name else
                    f'Volume "{volume.volume_name}" has no storage; give storage=.')
        return None
    return storage


async def truncate_volume(director, storage, volume):
    """Shrink a Purged volume's file to its label; the catalog's VolBytes follows.
    Raises RelabelFailed."""
    size = await relabel_file(director, storage, volume, volume.volume_name,
                              volume.pool or "")
    await director.catalog.update_volume(volume.media_id, vol_bytes=size, vol_files=0,
                                         vol_blocks=0)


# -- relabel ------------------------------------------------------------------------------

@command("relabel", "Relabel a purged volume under a new name",
         "storage=<storage-name> oldvolume=<old-volume-name> volume=<new-volume-name> "
         "[pool=<pool-name>] [yes]")
async def relabel(session, reply, args):
    if refuse_unknown(reply, "relabel", args,
                      {"storage", "oldvolume", "volume", "pool", "yes"}):
        return False
    director = session.director
    catalog = await director.catalog_ready()
    old_name = _keyword(args, "oldvolume")
    old = await _volume(session, reply, [("volume", old_name)] if old_name else [])
    if old is None:
        return False
    if old.vol_status not in ("Purged", "Recycle"):
        reply.error(f'Volume "{old.volume_name}" has VolStatus {old.vol_status}. It must be '
                    f"Purged or Recycled before relabeling.")
        return False
    new_name = _keyword(args, "volume")
    if not new_name:
        reply.error("relabel: give volume=<new-volume-name>")
        return False
    existing = await catalog.get_volume(new_name)
    if existing is not None and existing.media_id != old.media_id:
        reply.error(f'Media record for new Volume "{new_name}" already exists.')
        return False
    storage = _storage_of(session, reply, old, _keyword(args, "storage"))
    pool_name = _keyword(args, "pool") or old.pool
    pool = director.config.get("pool", pool_name) if pool_name else None
    if storage is None:
        return False
    if pool is None or not session.acl_allows("pool_acl", pool_name):
        reply.error(f'Pool "{pool_name}" not found.')
        return False
    reply.send(f'Sending relabel command from "{old.volume_name}" to "{new_name}" ...\n')
    try:
        size = await relabel_file(director, storage, old, new_name, pool.name)
    except RelabelFailed as exc:
        reply.error(f"Relabel failed: {exc}")
        return False
    # As Bareos: a new Media row for the new label (the pool's defaults), the old one deleted.
    await catalog.create_volume(new_name, pool.name, old.media_type,
                                storage_id=await catalog.ensure_storage(storage.name),
                                label_date=datetime.now().replace(microsecond=0),
                                vol_bytes=size)
    await catalog.delete_volume(old.media_id)
    reply.send(f'Catalog record for Volume "{new_name}", Slot {old.slot} successfully '
               f'created.\nOld volume "{old.volume_name}" deleted from catalog.\n')
    reply.result("relabel", {"oldvolume": old.volume_name, "volume": new_name,
                             "pool": pool.name, "volbytes": size})
    return True


# -- truncate -----------------------------------------------------------------------------

@command("truncate", "Truncate purged volumes",
         "volstatus=Purged [storage=<storage>] [pool=<pool>] [volume=<volume>] [yes]")
async def truncate(session, reply, args):
    usage = ("Usage: truncate volstatus=Purged [storage=<storage>] [pool=<pool>] "
             "[volume=<volume>] [yes]")
    if refuse_unknown(reply, "truncate", args,
                      {"volstatus", "storage", "pool", "volume", "yes"}):
        return False
    status = _keyword(args, "volstatus")
    if status is None or status.lower() != "purged":
        reply.error(f"Invalid parameter. 'volstatus' must be 'Purged'.\n{usage}")
        return False
    director = session.director
    catalog = await director.catalog_ready()
    pool_name, storage_name, name = (_keyword(args, "pool"), _keyword(args, "storage"),
                                     _keyword(args, "volume"))
    for kind, given in (("pool", pool_name), ("storage", storage_name)):
        if given and (director.config.get(kind, given) is None
                      or not session.acl_allows(f"{kind}_acl", given)):
            reply.error(f'{kind.capitalize()} "{given}" not found.')
            return False
    candidates = [
        v for v in await catalog.list_volumes(pool_name)
        if v.vol_status == "Purged" and v.recycle and v.enabled == 1
        and v.vol_bytes > TRUNCATE_ABOVE_BYTES
        and (not storage_name or v.storage == storage_name) and (not name or v.volume_name == name)
        and session.acl_allows("pool_acl", v.pool or "")
        and session.acl_allows("storage_acl", v.storage or "")]
    for volume in candidates:
        reply.send(f'Volume "{volume.volume_name}" Pool "{volume.pool}" Storage '
                   f'"{volume.storage}" VolBytes={volume.vol_bytes}\n')
    truncated = []
    if candidates and not await confirmed(session, reply, args,
                                          "Truncate listed volumes (yes/no)? "):
        return False
    ok = True
    for volume in candidates:
        storage = _storage_of(session, reply, volume)
        if storage is None:
            ok = False
            continue
        try:
            await truncate_volume(director, storage, volume)
        except RelabelFailed as exc:
            reply.warning(f'Unable to truncate volume "{volume.volume_name}": {exc}')
            ok = False
            continue
        truncated.append(volume.volume_name)
        reply.send(f"The volume '{volume.volume_name}' has been truncated.\n")
    reply.result("truncate", {"volumes": truncated})
    return ok
