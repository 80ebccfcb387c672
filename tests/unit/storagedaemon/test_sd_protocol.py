"""The storage daemon's lines: parsing and formatting without a reactor."""

import re
import struct

import pytest

from bareos.catalog.api import VolumeRecord
from bareos.director.jobs.storage import volume_info_line
from bareos.storagedaemon import protocol as P


def test_session_key_is_eight_groups_of_letters_a_to_p():
    key = P.make_session_key()
    assert re.fullmatch(r"[A-P]{4}(-[A-P]{4}){7}", key)
    assert P.make_session_key() != key
    # low nibble first, then high nibble; '-' after every second byte
    assert P.make_session_key(bytes([0x10, 0xF2] + [0] * 14)) == "ABCP-" + "-".join(["AAAA"] * 7)


JOB = ("JobId=12 job=Backup\x01One.2026-01-01_10.00.00_12 job_name=Backup\x01One "
       "client_name=client-fd type=66 level=70 FileSet=Full\x01Set NoAttr=0 SpoolAttr=0 "
       "FileSetMD5=4eFj+Q SpoolData=0 PreferMountedVols=1 SpoolSize=0 rerunning=0 "
       "VolSessionId=0 VolSessionTime=0 Quota=0 Protocol=0 BackupFormat=Native\n")


def test_job_command_parses_all_nineteen_fields_and_unbashes_names():
    cmd = P.parse_job_command(JOB)
    assert (cmd.job_id, cmd.job, cmd.job_name, cmd.fileset) == (
        12, "Backup One.2026-01-01_10.00.00_12", "Backup One", "Full Set")
    assert (cmd.job_type, cmd.job_level, cmd.fileset_md5, cmd.backup_format) == (66, 70, "4eFj+Q", "Native")


@pytest.mark.parametrize("line, fields", [
    ("JobId=1 job=x job_name=y\n", 3),
    ("JobId=x\n", 0),
    (JOB.replace("level=70", "level=F"), 5),
    (JOB.replace(" BackupFormat=Native", ""), 18),
])
def test_bad_job_commands_count_the_fields_that_parsed(line, fields):
    with pytest.raises(P.CommandError) as info:
        P.parse_job_command(line)
    assert info.value.fields == fields
    assert P.format_bad_job(info.value.fields, line).startswith(f"3915 Bad Job command. stat={fields} CMD: ")


def test_use_storage_and_device():
    use = P.parse_use_storage("use storage=File media_type=File pool_name=Full\x01Pool pool_type=Backup "
                              "append=1 copy=0 stripe=0\n")
    assert (use.storage, use.pool_name, use.append) == ("File", "Full Pool", True)
    assert P.parse_use_device("use device=File\x01Storage\n") == "File Storage"
    assert P.format_use_ok("File Storage") == "3000 OK use device device=File\x01Storage\n"
    with pytest.raises(P.CommandError):
        P.parse_use_storage("use storage=File media_type=File\n")


def test_media_reply_parses_by_key():
    reply = ("1000 OK VolName=Full-0001 VolJobs=2 VolFiles=0 VolBlocks=17 VolBytes=1048576 VolMounts=1 "
             "VolErrors=0 VolWrites=17 MaxVolBytes=53687091200 VolCapacityBytes=0 VolStatus=Append "
             "Slot=0 MaxVolJobs=0 MaxVolFiles=0 InChanger=1 VolReadTime=0 VolWriteTime=0 EndFile=0 "
             "EndBlock=0 LabelType=0 MediaId=3 EncryptionKey= MinBlocksize=0 MaxBlocksize=0\n")
    info = P.parse_media_reply(reply)
    assert (info.name, info.jobs, info.bytes, info.max_bytes, info.status, info.media_id) == (
        "Full-0001", 2, 1048576, 53687091200, "Append", 3)
    with pytest.raises(P.CatalogRefused, match="1901 No Media."):
        P.parse_media_reply("1901 No Media.\n")


def test_media_reply_is_our_directors_volume_line():
    volume = VolumeRecord(media_id=7, volume_name="Full 0007", pool_id=1, media_type="File",
                          vol_jobs=3, vol_bytes=5 << 32, max_vol_bytes=1 << 40, in_changer=1,
                          max_block_size=1048576)
    info = P.parse_media_reply(volume_info_line(volume))
    assert (info.name, info.jobs, info.bytes, info.max_bytes, info.in_changer, info.media_id,
            info.encryption_key, info.max_blocksize) == (
        "Full 0007", 3, 5 << 32, 1 << 40, 1, 7, "", 1048576)


def test_media_reply_without_the_whole_record_is_refused_by_name():
    with pytest.raises(P.MalformedMediaReply, match=r"^VolJobs, VolFiles, .*, MaxBlocksize missing "
                                                     r"in '1000 OK VolName=x'$"):
        P.parse_media_reply("1000 OK VolName=x\n")
    full = volume_info_line(VolumeRecord(media_id=1, volume_name="x", pool_id=1, media_type="F"))
    with pytest.raises(P.MalformedMediaReply, match=r"^MediaId missing in "):
        P.parse_media_reply(full.replace(" MediaId=1", ""))
    with pytest.raises(P.MalformedMediaReply, match=r"^bad VolBytes= in "):
        P.parse_media_reply(full.replace(" VolBytes=0", " VolBytes="))
    with pytest.raises(P.MalformedMediaReply, match=r"^no volume name in "):
        P.parse_media_reply(full.replace("VolName=x", "VolName="))


def test_catalog_request_lines():
    assert P.format_find_media("j1", "Full Pool", "File", ["A", "B"]) == (
        "CatReq Job=j1 FindMedia=1 pool_name=Full\x01Pool media_type=File unwanted_volumes=A,B\n")
    info = P.MediaInfo("Full-0001", jobs=1, blocks=3, bytes=130000, status="Full", media_id=2)
    line = P.format_update_media("j1", info, end_time=1700000000.5, relabel=True, first_written=17)
    assert line == ("CatReq Job=j1 UpdateMedia VolName=Full-0001 VolJobs=1 VolFiles=0 VolBlocks=3 "
                    "VolBytes=130000 VolMounts=0 VolErrors=0 VolWrites=0 MaxVolBytes=0 "
                    "EndTime=1700000000 VolStatus=Full Slot=0 relabel=1 InChanger=0 VolReadTime=0 "
                    "VolWriteTime=0 VolFirstWritten=17\n")
    start, end = (5 << 32) | 200, (6 << 32) | 99
    assert P.format_create_jobmedia("j1", 1, 9, start, end, 2) == (
        "CatReq Job=j1 CreateJobMedia FirstIndex=1 LastIndex=9 StartFile=5 EndFile=6 "
        "StartBlock=200 EndBlock=99 Copy=0 Strip=0 MediaId=2\n")


def test_file_attributes_packet():
    packet = P.format_file_attributes("j1", 3, 1700000000, 7, 1, b"7 3 /etc/passwd\x00lstat\x00")
    prefix = b"UpdCat Job=j1 FileAttributes "
    assert packet.startswith(prefix)
    assert struct.unpack_from(">IIiiI", packet, len(prefix)) == (3, 1700000000, 7, 1, 22)
    assert packet.endswith(b"/etc/passwd\x00lstat\x00")


def test_messages_to_the_director():
    assert P.format_jmsg("j1", P.M_FATAL, 1700000000.7, "sd JobId 1: Fatal error: boom") == \
        "Jmsg Job=j1 type=3 level=1700000000 sd JobId 1: Fatal error: boom\n"
    assert P.message_prefix("sd", 4, P.M_INFO) == "sd JobId 4: "
    assert P.format_status("j1", "R") == "Status Job=j1 JobStatus=82\n"
    assert P.format_job_end("j1", "T", 3, 1024, 0) == \
        "3099 Job j1 end JobStatus=84 JobFiles=3 JobBytes=1024 JobErrors=0\n"
    assert P.format_canceled(5, "j1") == '3000 JobId=5 Job="j1" marked to be canceled.\n'


def test_data_channel_lines():
    assert P.parse_data_header(b"12 2 0") == (12, 2)
    assert P.parse_data_header(b"3 268435458 0\x00") == (3, 268435458)
    with pytest.raises(P.CommandError):
        P.parse_data_header(b"hello")
    assert P.rechdr(1, 1700000000, 5, 2, 65536) == b"rechdr 1 1700000000 5 2 65536"
    assert P.parse_read_open("read open session = DummyVolume 1 2 3 4 5 6\n") == (
        "DummyVolume", 1, 2, 3, 4, 5, 6)
    assert P.format_close("T") == "3000 OK close Status = 84\n"


def test_label_command_in_both_forms():
    cmd = P.parse_label_command("label File\x01Dev VolumeName=Vol-1 PoolName=Full MediaType=File "
                                "Slot=0 drive=0 MinBlocksize=0 MaxBlocksize=0")
    assert (cmd.device, cmd.volume, cmd.pool, cmd.media_type) == ("File Dev", "Vol-1", "Full", "File")
    cmd = P.parse_label_command("label storage=File volume=Vol-2 pool=Full")
    assert (cmd.device, cmd.storage, cmd.volume, cmd.pool) == ("", "File", "Vol-2", "Full")
    with pytest.raises(P.CommandError):
        P.parse_label_command("label storage=File pool=Full")
    assert P.format_label_ok(203, "Vol-1", "FileStorage", "/var/lib/bareos/storage") == (
        '3000 OK label. VolBytes=203 Volume="Vol-1" Device="FileStorage" (/var/lib/bareos/storage)\n')


def test_relabel_command_names_the_old_and_the_new_volume():
    cmd = P.parse_label_command("relabel FileStorage OldName=Full-0001 NewName=Renamed\x011 "
                                "PoolName=Full MediaType=File Slot=0 drive=0 MinBlocksize=0 "
                                "MaxBlocksize=0")
    assert (cmd.device, cmd.old_volume, cmd.volume, cmd.pool) == (
        "FileStorage", "Full-0001", "Renamed 1", "Full")
    assert P.parse_label_command("label FileStorage VolumeName=V PoolName=Full").old_volume == ""
    with pytest.raises(P.CommandError):
        P.parse_label_command("relabel FileStorage NewName=V PoolName=Full")


BSR = """Storage="File"
Volume="Full-0001"
MediaType="File"
Device="FileStorage"
VolSessionId=1
VolSessionTime=1562050726
VolAddr=209-822
FileIndex=1
FileIndex=4-6
Count=4
Volume="Full-0002"|"Full-0003"
MediaType="File"
VolSessionId=1-2,5
VolSessionTime=1562050726
VolFile=0-0
VolBlock=100-900
"""


def test_bootstrap_volumes_and_filters():
    first, second, third = P.parse_bootstrap(BSR.splitlines())
    assert (first.volume, first.media_type, first.device, first.storage) == (
        "Full-0001", "File", "FileStorage", "File")
    assert first.address_ranges() == [(209, 822)]
    assert first.wants_session(1, 1562050726) and not first.wants_session(2, 1562050726)
    assert not first.wants_session(1, 1)
    assert [fi for fi in range(8) if first.wants_file_index(fi)] == [1, 4, 5, 6]
    assert first.count == 4
    assert (second.volume, third.volume) == ("Full-0002", "Full-0003")
    assert second.session_ids == [(1, 2), (5, 5)] and second.wants_file_index(99)
    assert third.address_ranges() == [(100, 900)]
    assert P.parse_bootstrap('Volume="V"\n') [0].address_ranges() == [(0, None)]


@pytest.mark.parametrize("text", ["VolSessionId=1\n", 'Volume="V"\nVolAddr=9-1\n',
                                  'Volume="V"\nnonsense\n', 'Volume="V"\nFileIndex=a\n'])
def test_bad_bootstraps(text):
    with pytest.raises(P.BootstrapError):
        P.parse_bootstrap(text)
