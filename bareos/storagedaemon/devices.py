"""Devices, their reservations, and the volumes open on them.

* ``DeviceManager`` hands out the concurrency slots of the Device resources
  (``Maximum Concurrent Jobs``) to jobs, by media type.
* ``VolumeRegistry`` keeps one ``FileVolume`` object per volume file that is
  being written, shared by every job appending to it (``FileVolume`` orders
  their appends under its own lock; two objects on one file would not).
"""

import collections
import os

from twisted.internet import defer


class NoSuchDevice(Exception):
    """No Device resource of that name / media type."""


class DeviceManager:
    def __init__(self, config, clock):
        self.devices = list(config.resources("device"))
        self.clock = clock
        self.in_use = collections.Counter()     # device name -> jobs holding a slot
        self._waiters = []

    def get(self, name):
        return next((d for d in self.devices if d.name == name), None)

    def with_media_type(self, media_type):
        return [d for d in self.devices if media_type is None or d.media_type == media_type]

    def free(self, device):
        return self.in_use[device.name] < device.maximum_concurrent_jobs

    def candidates(self, media_type, names):
        """Devices that may serve: the named ones first (in order), then any of the media type."""
        suitable = self.with_media_type(media_type)
        named = [d for n in names for d in suitable if d.name == n]
        return named + [d for d in suitable if d not in named]

    def try_reserve(self, media_type, names):
        candidates = self.candidates(media_type, names)
        if not candidates:
            raise NoSuchDevice(names[-1] if names else media_type)
        for device in candidates:
            if self.free(device):
                self.in_use[device.name] += 1
                return device
        return None

    def released(self, timeout):
        """A Deferred that fires (None) at the next ``release`` or ``wake``, or after
        ``timeout`` seconds."""
        waiter = defer.Deferred()
        self._waiters.append(waiter)

        def timed_out():
            self._waiters.remove(waiter)
            waiter.callback(None)
        call = self.clock.callLater(timeout, timed_out)
        waiter.addBoth(lambda result: (call.active() and call.cancel(), result)[1])
        return waiter

    def release(self, device):
        if device is None or self.in_use[device.name] <= 0:
            return
        self.in_use[device.name] -= 1
        self.wake()

    def wake(self):
        """Every job waiting for a device looks again (a slot freed, or one of them ended)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)


class OpenVolume:
    """A volume file opened for appending, shared by the jobs writing to it."""

    def __init__(self, device, volume):
        self.device = device
        self.volume = volume
        self.name = volume.name
        self.users = 0
        self.catalog = None          # the latest MediaInfo from the director
        self.writers = []            # the SessionWriters writing here now (block counting)
        self.base_blocks = 0         # VolBlocks when we opened it, with those of ended sessions
        self.first_written = 0

    @property
    def path(self):
        return self.volume.path

    def blocks(self):
        return self.base_blocks + sum(w.blocks_written for w in self.writers)

    def retire(self, writer):
        """A session has ended here: its blocks stay counted, its writer is let go (a volume
        open for thousands of jobs in a row keeps neither their writers nor a longer sum)."""
        if writer in self.writers:       # None, or not started here, when the job failed early
            self.writers.remove(writer)
            self.base_blocks += writer.blocks_written


class VolumeRegistry:
    """The volumes open for appending, and the lock that orders their mounting.

    Everything that changes which volume a device's jobs write, or the catalog's
    record of it, happens under the lock of the device's directory (``lock_for``):
    asking the director for a volume, labelling it, its first UpdateMedia, and the
    last job's UpdateMedia, JobMedia and close.  So the director always answers from
    an up-to-date catalog, a volume is labelled once, and a job waiting for the lock
    finds the volume open (``get``) only once its label is in the catalog.
    """

    def __init__(self):
        self._open = {}              # path -> OpenVolume
        self._locks = {}             # archive directory -> DeferredLock

    def lock_for(self, device):
        """The lock of the directory that holds ``device``'s volume files."""
        return self._locks.setdefault(os.path.abspath(device.archive_device), defer.DeferredLock())

    def get(self, device, name):
        return self._open.get(os.path.join(device.archive_device, name))

    def open_elsewhere(self, device, name):
        """The OpenVolume of that name on a device with another directory, or None."""
        return next((v for v in self._open.values()
                     if v.name == name and v.path != os.path.join(device.archive_device, name)),
                    None)

    def add(self, open_volume):
        self._open[open_volume.path] = open_volume
        open_volume.users += 1
        return open_volume

    def release(self, open_volume):
        """Drop one user; returns True when the caller must close the volume (last user)."""
        open_volume.users -= 1
        if open_volume.users <= 0:
            self._open.pop(open_volume.path, None)
            return True
        return False

    def by_device(self, device):
        return [v for v in self._open.values() if v.device is device]
