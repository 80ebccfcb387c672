"""Volume commands against real daemons (one director, file daemon and storage daemon for
the module): ``relabel`` of a purged volume, ``truncate volstatus=Purged`` and a Pool's
``Action On Purge = Truncate`` -- each checked on the volume file the storage daemon
rewrote and on the catalog's Media row.
"""

import os
import re
import sqlite3
import time

import pytest

from bareos.config.writer import Quoted, Resource, resource_files
from bareos.volume import FileVolume
from tests.system.backup_helpers import small_site

HOST = "127.0.31.2"
_QUEUED = re.compile(r"Job queued\. JobId=(\d+)")
#: The 1 MiB file of the site's tree: a volume holding a backup is larger.
BACKUP_BYTES = 1024 * 1024


def _pool_and_job(name, **pool_directives):
    return (Resource("Pool", {"Name": name, "Pool Type": "Backup",
                              "Label Format": Quoted(f"{name}-"), "Maximum Volume Jobs": 1,
                              "Storage": "SD", **pool_directives}),
            Resource("Job", {"Name": f"backup-{name}", "Type": "Backup", "Level": "Full",
                             "Client": "FD", "FileSet": "TestSet", "Storage": "SD",
                             "Pool": name, "Messages": "Standard"}))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    extra = resource_files(*_pool_and_job("Rel"), *_pool_and_job("Plain"),
                           *_pool_and_job("Trunc", **{"Action On Purge": "Truncate"}),
                           *_pool_and_job("Cur", **{"Recycle Current Volume": "yes",
                                                    "Volume Retention": "1 day"}))
    with small_site(tmp_path_factory.mktemp("volcmds"), HOST, extra) as topology:
        yield topology


def media(site, volume):
    """(VolStatus, VolBytes, Pool name) of the volume's Media row, or None."""
    with sqlite3.connect(site.base / "work-dir" / "bareos.db", timeout=30) as db:
        return db.execute("SELECT m.VolStatus, m.VolBytes, p.Name FROM Media m JOIN Pool p "
                          "ON p.PoolId = m.PoolId WHERE m.VolumeName = ?", (volume,)).fetchone()


def volume_file(site, volume):
    return site.base / "storage-SD" / volume


def label_of(site, volume):
    with FileVolume.open(site.base / "storage-SD", volume, writable=False) as opened:
        return opened.label.volume_name, opened.label.pool_name


def assert_only_its_label_left(site, volume, pool):
    """The purged volume's file holds only its label, and the catalog's VolBytes says so."""
    size = os.path.getsize(volume_file(site, volume))
    assert size < BACKUP_BYTES
    assert label_of(site, volume) == (volume, pool)
    assert media(site, volume) == ("Purged", size, pool)


def backup_to_new_volume(site, pool):
    """Run the pool's backup job; the volume it wrote (the pool's only one)."""
    output = site.console(f"run job=backup-{pool} yes\nwait\nmessages\n")
    jobid = int(_QUEUED.search(output).group(1))
    with sqlite3.connect(site.base / "work-dir" / "bareos.db", timeout=30) as db:
        status, = db.execute("SELECT JobStatus FROM Job WHERE JobId = ?", (jobid,)).fetchone()
        volume, = db.execute("SELECT DISTINCT m.VolumeName FROM JobMedia jm JOIN Media m ON "
                             "m.MediaId = jm.MediaId WHERE jm.JobId = ?", (jobid,)).fetchone()
    assert status == "T", output
    assert os.path.getsize(volume_file(site, volume)) > BACKUP_BYTES
    return volume


@pytest.mark.slow
def test_relabel_renames_only_a_purged_volume_on_disk_and_in_the_catalog(site):
    old = backup_to_new_volume(site, "Rel")
    refused = site.console(f"relabel storage=SD oldvolume={old} volume=Renamed-1 yes\n")
    assert f'Volume "{old}" has VolStatus Append. It must be Purged or Recycled' in refused
    assert media(site, old)[0] == "Append"
    assert os.path.getsize(volume_file(site, old)) > BACKUP_BYTES

    site.console(f"purge volume={old} yes\n")
    output = site.console(f"relabel storage=SD oldvolume={old} volume=Renamed-1 pool=Rel yes\n")

    assert f'Old volume "{old}" deleted from catalog.' in output, output
    assert not volume_file(site, old).exists()
    assert label_of(site, "Renamed-1") == ("Renamed-1", "Rel")
    size = os.path.getsize(volume_file(site, "Renamed-1"))
    assert size < BACKUP_BYTES
    assert media(site, old) is None
    assert media(site, "Renamed-1") == ("Append", size, "Rel")
    # The relabelled volume takes the pool's next backup.
    assert backup_to_new_volume(site, "Rel") == "Renamed-1"


@pytest.mark.slow
def test_truncate_shrinks_purged_volumes_to_their_label(site):
    volume = backup_to_new_volume(site, "Plain")
    assert "Invalid parameter. 'volstatus' must be 'Purged'" in \
        site.console("truncate volstatus=Used yes\n")
    site.console("truncate volstatus=Purged pool=Plain yes\n")
    assert os.path.getsize(volume_file(site, volume)) > BACKUP_BYTES   # not purged: kept

    site.console(f"purge volume={volume} yes\n")
    assert os.path.getsize(volume_file(site, volume)) > BACKUP_BYTES   # no Action On Purge
    output = site.console("truncate volstatus=Purged pool=Plain yes\n")

    assert f"The volume '{volume}' has been truncated." in output, output
    assert_only_its_label_left(site, volume, "Plain")


@pytest.mark.slow
def test_action_on_purge_truncate_shrinks_the_volume_when_purged(site):
    volume = backup_to_new_volume(site, "Trunc")
    output = site.console(f"purge volume={volume} yes\n")

    assert f'The volume "{volume}" has been truncated' in output, output
    assert_only_its_label_left(site, volume, "Trunc")


@pytest.mark.slow
def test_recycle_current_volume_reuses_the_last_written_volume_once_expired(site):
    first = backup_to_new_volume(site, "Cur")
    # Its job is two days old (catalog time shifted): past the pool's Volume Retention.
    with sqlite3.connect(site.base / "work-dir" / "bareos.db", timeout=30) as db:
        db.execute("UPDATE Job SET JobTDate = ? WHERE JobId IN (SELECT jm.JobId FROM JobMedia "
                   "jm JOIN Media m ON m.MediaId = jm.MediaId WHERE m.VolumeName = ?)",
                   (int(time.time()) - 2 * 86400, first))

    # Without the directive the pool's Label Format would make a second volume.
    assert backup_to_new_volume(site, "Cur") == first
    assert media(site, "Cur-0002") is None
    assert media(site, first)[0] == "Append"
    assert label_of(site, first) == (first, "Cur")
