"""Errors raised by the volume layer.

Every error that concerns a place on a volume names the volume and the byte
offset, so an operator can find the damage with a hex editor or ``bls``.
"""


class VolumeError(Exception):
    """A volume is unreadable, malformed or cannot be written."""

    def __init__(self, message: str, *, volume: str | None = None,
                 offset: int | None = None) -> None:
        self.volume = volume
        self.offset = offset
        where = []
        if volume is not None:
            where.append(f"volume {volume!r}")
        if offset is not None:
            where.append(f"offset {offset}")
        text = f"{', '.join(where)}: {message}" if where else message
        super().__init__(text)
        self.reason = message


class TruncatedVolume(VolumeError):
    """The volume ends inside a block (an interrupted write)."""


class LabelError(VolumeError):
    """A volume or session label does not decode."""


class VolumeFull(VolumeError):
    """The volume reached ``max_volume_bytes`` or the disk is full.

    Nothing the writer accepted is lost: the blocks that did not fit stay
    with the :class:`~bareos.volume.device.SessionWriter`; continue with
    ``writer.continue_on(new_volume)``.
    """
