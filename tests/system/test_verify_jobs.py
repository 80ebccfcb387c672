"""Verify jobs with real daemons (one director, file daemon and storage daemon for the
module): VolumeToCatalog reads a backup's volume back and compares it with the catalog,
DiskToCatalog compares the disk with the last backup, InitCatalog then Catalog is the
intrusion-detection pair.  Each difference is a job error naming the file, and the job
ends "Verify differences" (D).
"""

import os
import struct
import zlib

import pytest

from bareos.config.writer import Quoted, Resource, resource_files
from tests.system.backup_helpers import run_job, small_site

HOST = "127.0.31.2"


def verify_job(name, level, verify_job=None):
    directives = {"Name": name, "Type": "Verify", "Level": level, "Client": "FD",
                  "FileSet": "TestSet", "Pool": "Full", "Messages": "Standard"}
    if level == "VolumeToCatalog":              # the disk levels need no storage daemon
        directives["Storage"] = "SD"
    if verify_job:
        directives["Verify Job"] = verify_job
    return Resource("Job", directives)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    extra = resource_files(
        # volumes of their own for the backups whose volume gets damaged
        Resource("Pool", {"Name": "Damaged", "Pool Type": "Backup",
                          "Label Format": Quoted("Damaged-"), "Storage": "SD"}),
        Resource("Job", {"Name": "backup-damaged", "Type": "Backup", "Level": "Full",
                         "Client": "FD", "FileSet": "TestSet", "Storage": "SD",
                         "Pool": "Damaged", "Messages": "Standard"}),
        Resource("Pool", {"Name": "Tampered", "Pool Type": "Backup",
                          "Label Format": Quoted("Tampered-"), "Storage": "SD"}),
        Resource("Job", {"Name": "backup-tampered", "Type": "Backup", "Level": "Full",
                         "Client": "FD", "FileSet": "TestSet", "Storage": "SD",
                         "Pool": "Tampered", "Messages": "Standard"}),
        verify_job("verify-tampered", "VolumeToCatalog", "backup-tampered"),
        verify_job("verify-volume", "VolumeToCatalog", "backup"),
        verify_job("verify-damaged", "VolumeToCatalog", "backup-damaged"),
        verify_job("verify-disk", "DiskToCatalog", "backup"),
        verify_job("verify-catalog", "InitCatalog"))
    with small_site(tmp_path_factory.mktemp("verify"), HOST, extra) as topology:
        yield topology


def run(site, job, level=""):
    """Run ``job`` to its end: (its status letter, the console output with its log)."""
    level = f" level={level}" if level else ""
    _jobid, status, output = run_job(site, f"run job={job}{level} yes")
    return status, output


def test_volume_to_catalog_after_a_good_backup_is_ok(site):
    assert run(site, "backup")[0] == "T"
    status, output = run(site, "verify-volume")
    assert status == "T", output
    assert "Verify OK" in output
    assert "differs" not in output and "not found" not in output


def test_a_byte_flipped_in_the_volume_is_reported_with_the_damaged_file(site):
    assert run(site, "backup-damaged")[0] == "T"
    volume = site.base / "storage-SD" / "Damaged-0001"
    middle = volume.stat().st_size // 2           # inside big.bin's 1 MiB of data
    with open(volume, "r+b") as stream:
        stream.seek(middle)
        byte = stream.read(1)
        stream.seek(middle)
        stream.write(bytes([byte[0] ^ 0xFF]))
    status, output = run(site, "verify-damaged")
    assert status not in ("T", "W"), output
    assert "block checksum mismatch" in output
    big = os.path.join(site.source, "big.bin")
    assert f"{big}: no digest: its data was not read whole" in output, output
    assert output.count("not read whole") == 1
    # the files after it on the volume were not read: named as such, not as missing
    assert f"File not read back from the volume: {os.path.join(site.source, 'empty file')}" \
        in output
    assert "File not found on volume" not in output


def flip_byte_keeping_block_checksums(volume, offset):
    """Flip the byte at ``offset`` and re-seal its block's CRC, as a volume altered by
    someone who knows the format would be: the storage daemon reads it without complaint."""
    data = bytearray(volume.read_bytes())
    start = 0
    while True:
        size = struct.unpack_from(">I", data, start + 4)[0]     # CheckSum, BlockSize, ...
        if start <= offset < start + size:
            break
        start += size
    data[offset] ^= 0xFF
    struct.pack_into(">I", data, start, zlib.crc32(data[start + 4:start + size]))
    volume.write_bytes(bytes(data))


def test_volume_to_catalog_and_data_report_data_altered_under_a_valid_checksum(site):
    assert run(site, "backup-tampered")[0] == "T"
    volume = site.base / "storage-SD" / "Tampered-0001"
    flip_byte_keeping_block_checksums(volume, volume.stat().st_size // 2)   # in big.bin
    big = os.path.join(site.source, "big.bin")

    status, output = run(site, "verify-tampered")
    assert status == "D", output
    assert f"{big}: digest differs" in output
    assert output.count("differs") == 1                # every other file reads back intact

    status, output = run(site, "verify-tampered", level="Data")
    assert status == "E", output
    assert f"{big}: MD5 digest mismatch" in output
    assert output.count("digest mismatch") == 1


def test_disk_to_catalog_reports_a_changed_file(site):
    assert run(site, "backup")[0] == "T"
    changed = os.path.join(site.source, "names", "with space.txt")
    with open(changed, "a") as stream:
        stream.write("changed after the backup\n")
    status, output = run(site, "verify-disk")
    assert status == "D", output
    assert f"{changed}: size differs" in output
    assert "digest differs" in output
    assert "Verify Differences" in output
    assert output.count("size differs") == 1        # only that file


def test_init_catalog_then_catalog_reports_a_changed_mode(site):
    status, output = run(site, "verify-catalog", level="InitCatalog")
    assert status == "T", output
    assert run(site, "verify-catalog", level="Catalog")[0] == "T"   # nothing changed yet
    target = os.path.join(site.source, "empty file")
    os.chmod(target, 0o600 if os.stat(target).st_mode & 0o777 != 0o600 else 0o640)
    status, output = run(site, "verify-catalog", level="Catalog")
    assert status == "D", output
    assert f"{target}: mode differs" in output
    assert output.count("mode differs") == 1
