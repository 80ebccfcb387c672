"""The catalog side of restores by directory (bareos.catalog.bvfs), on both backends:
the restore chain of a job, the bvfs cache, directory and file listings, versions and
restore lists."""

import itertools
from datetime import timedelta

import pytest_twisted
from twisted.internet import defer

from bareos.catalog import bvfs
from test_catalog import T0, job, raw, setup_client

DAY = timedelta(days=1)


@defer.inlineCallbacks
def backup(catalog, client, fileset, n, level, files, status="T"):
    """A job started n days after T0 whose files are (path, name, file_index)."""
    job_id = yield catalog.create_job(job(n=n, level=level, status=status, start=T0 + n * DAY,
                                          client_id=client, fileset_id=fileset))
    yield catalog.add_file_records(job_id, [(index, path, name, f"A A IH/ B A A A {'B' * n} A A A A",
                                             "0", 0) for path, name, index in files])
    return job_id


@defer.inlineCallbacks
def full_and_incremental(catalog):
    client, fileset, _pool = yield setup_client(catalog)
    full = yield backup(catalog, client, fileset, 1, "F", [
        ("/d/", "a", 1), ("/d/", "gone", 2), ("/d/sub/", "x", 3), ("/d/sub/", "", 4),
        ("/d/", "", 5), ("BPIPE-ROOT/", "pipe.txt", 6)])
    incr = yield backup(catalog, client, fileset, 2, "I", [
        ("/d/", "a", 1), ("/d/", "gone", 0), ("/d/", "new", 2)])
    return full, incr


def run(catalog, op, *args):
    return catalog.run_operation(op, *args)


@pytest_twisted.inlineCallbacks
def test_job_chain_is_the_full_differential_and_incrementals_up_to_the_job(catalog):
    client, fileset, _ = yield setup_client(catalog)
    full = yield backup(catalog, client, fileset, 1, "F", [])
    inc1 = yield backup(catalog, client, fileset, 2, "I", [])
    diff = yield backup(catalog, client, fileset, 3, "D", [])
    inc2 = yield backup(catalog, client, fileset, 4, "I", [])
    yield backup(catalog, client, fileset, 5, "I", [])               # after: not needed
    assert (yield catalog.job_chain(inc2)) == [full, diff, inc2]
    assert (yield catalog.job_chain(inc1)) == [full, inc1]
    assert (yield catalog.job_chain(full)) == [full]
    assert (yield catalog.job_chain(9999)) == []
    assert (yield catalog.restore_job_ids("fd1-fd", before=T0 + 3 * DAY)) == [full, inc1]


@pytest_twisted.inlineCallbacks
def test_the_tree_rows_of_a_job_come_in_pages_a_directory_together(catalog):
    full, incr = yield full_and_incremental(catalog)
    first = yield run(catalog, bvfs.op_tree_rows, incr, bvfs.TREE_START, 2)
    assert [(path, bytes(name), index) for path, name, index, _, _ in first] == [
        (b"/d/", b"a", 1), (b"/d/", b"gone", 0)]
    rest = yield run(catalog, bvfs.op_tree_rows, incr, (first[-1][4], first[-1][1]), 2)
    assert [(bytes(row[1]), row[2]) for row in rest] == [(b"new", 2)]
    assert (yield run(catalog, bvfs.op_tree_rows, incr, (rest[-1][4], rest[-1][1]), 2)) == []
    rows = yield run(catalog, bvfs.op_tree_rows, full)
    groups = [path for path, _ in itertools.groupby(row[0] for row in rows)]
    assert len(rows) == 6 and len(groups) == len(set(groups)) == 3     # a directory together


@pytest_twisted.inlineCallbacks
def test_the_cache_lists_directories_from_the_root_down(catalog):
    full, incr = yield full_and_incremental(catalog)
    assert (yield run(catalog, bvfs.op_bvfs_update, full))
    assert (yield run(catalog, bvfs.op_bvfs_update, full))           # again: already there
    assert (yield run(catalog, bvfs.op_jobs_without_cache)) == [incr]
    assert (yield run(catalog, bvfs.op_bvfs_update, incr))
    assert (yield raw(catalog, "SELECT COUNT(*) FROM Job WHERE HasCache = 1"))[0][0] == 2
    jobs = [full, incr]

    def names(entries):
        return [e.name for e in entries]

    root = yield run(catalog, bvfs.op_path_id, "")
    top = yield run(catalog, bvfs.op_bvfs_lsdirs, jobs, root, 100, 0)
    assert names(top) == [".", "/", "BPIPE-ROOT/"]
    slash = top[1].path_id
    assert names((yield run(catalog, bvfs.op_bvfs_lsdirs, jobs, slash, 100, 0))) == [
        ".", "..", "/d/"]
    d = yield run(catalog, bvfs.op_path_id, "/d/")
    listed = yield run(catalog, bvfs.op_bvfs_lsdirs, jobs, d, 100, 0)
    assert names(listed) == [".", "..", "/d/sub/"]
    assert (listed[0].job_id, listed[2].job_id) == (full, full)      # their own records
    assert names((yield run(catalog, bvfs.op_bvfs_lsdirs, jobs, d, 100, 1))) == ["..", "/d/sub/"]
    assert (yield run(catalog, bvfs.op_bvfs_lsdirs, jobs, root, 1000, 1000)) == []
    # the Full alone: nothing of the Incremental
    assert names((yield run(catalog, bvfs.op_bvfs_lsdirs, [full], d, 100, 0)))[-1] == "/d/sub/"


@pytest_twisted.inlineCallbacks
def test_files_of_a_directory_are_the_newest_versions_without_the_deleted(catalog):
    import re
    full, incr = yield full_and_incremental(catalog)
    d = yield run(catalog, bvfs.op_path_id, "/d/")
    files = yield run(catalog, bvfs.op_bvfs_lsfiles, [full, incr], d, 100, 0)
    assert [(f.name, f.job_id) for f in files] == [("a", incr), ("new", incr)]
    files = yield run(catalog, bvfs.op_bvfs_lsfiles, [full], d, 100, 0)
    assert [(f.name, f.job_id) for f in files] == [("a", full), ("gone", full)]
    assert [f.name for f in (yield run(catalog, bvfs.op_bvfs_lsfiles, [full, incr], d, 1, 1))] == [
        "new"]
    assert [f.name for f in (yield run(catalog, bvfs.op_bvfs_lsfiles, [full, incr], d, 100, 0,
                                       re.compile("^n")))] == ["new"]


@pytest_twisted.inlineCallbacks
def test_versions_of_a_file_name_their_volume(catalog):
    full, incr = yield full_and_incremental(catalog)
    media = yield catalog.create_volume("Full-0001", "Full", "File")
    for job_id in (full, incr):
        yield catalog.create_jobmedia(job_id, media, 1, 6, 0, 0, 0, 100)
    d = yield run(catalog, bvfs.op_path_id, "/d/")
    versions = yield run(catalog, bvfs.op_bvfs_versions, "fd1-fd", d, "a", False, 100, 0)
    assert [(v.job_id, v.volume) for v in versions] == [(full, "Full-0001"), (incr, "Full-0001")]
    assert (yield run(catalog, bvfs.op_bvfs_versions, "nosuch-fd", d, "a", False, 100, 0)) == []


@pytest_twisted.inlineCallbacks
def test_a_restore_list_holds_the_newest_version_of_what_was_chosen(catalog):
    full, incr = yield full_and_incremental(catalog)
    d = yield run(catalog, bvfs.op_path_id, "/d/")
    pipe = (yield raw(catalog, "SELECT FileId FROM File WHERE FileIndex = 6"))[0][0]
    no_such = list(range(10 ** 6, 10 ** 6 + 1200))        # more FileIds than one statement takes
    stored = yield run(catalog, bvfs.op_bvfs_restore, "b201", [full, incr], [pipe] + no_such, [d],
                       [(full, 1)])
    # /d/a (incr, newer than the Full's given as a hard link), /d/new (incr), /d/sub/x,
    # /d/sub/, /d/ (full), pipe.txt; not /d/gone
    assert stored == 6
    assert (yield run(catalog, bvfs.op_bvfs_restore_list, "b201")) == {
        full: {3, 4, 5, 6}, incr: {1, 2}}
    assert (yield run(catalog, bvfs.op_bvfs_restore_list, "b299")) is None
    assert (yield run(catalog, bvfs.op_bvfs_drop_restore_list, "b201"))
    assert (yield run(catalog, bvfs.op_bvfs_restore_list, "b201")) is None
    assert not (yield run(catalog, bvfs.op_bvfs_drop_restore_list, "Job"))


@pytest_twisted.inlineCallbacks
def test_clearing_the_cache_and_deleting_a_job_leave_no_stale_rows(catalog):
    full, incr = yield full_and_incremental(catalog)
    for job_id in (full, incr):
        yield run(catalog, bvfs.op_bvfs_update, job_id)
    yield catalog.delete_job(incr)
    assert (yield raw(catalog, "SELECT COUNT(*) FROM PathVisibility WHERE JobId = ?", incr)) == [
        (0,)]
    yield run(catalog, bvfs.op_bvfs_clear_cache)
    for table in ("PathHierarchy", "PathVisibility"):
        assert (yield raw(catalog, f"SELECT COUNT(*) FROM {table}")) == [(0,)]
    assert (yield raw(catalog, "SELECT COUNT(*) FROM Job WHERE HasCache <> 0")) == [(0,)]


def test_parent_paths_follow_bareos():
    assert bvfs.parent_path(b"/etc/ssh/") == b"/etc/"
    assert bvfs.parent_path(b"/etc/") == b"/"
    assert bvfs.parent_path(b"/") == b""
    assert bvfs.parent_path(b"BPIPE-ROOT/") == b""
    assert bvfs.parent_path(b"C:/") == b""
