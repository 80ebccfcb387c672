"""The interactive restore's file tree (bareos.director.restoretree), without a catalog."""

import pytest

from bareos.director.restoretree import RestoreTree, long_line
from bareos.filedaemon.attributes import LStat

FULL, INCR, INCR2 = 1, 2, 3


def file_lstat(size, mode=0o100644):
    return LStat(mode=mode, nlink=1, size=size, mtime=1_700_000_000, ctime=1_700_000_000).encode()


DIR_LSTAT = file_lstat(4096, mode=0o040755)


@pytest.fixture
def tree():
    """A Full of /etc and /home, then an Incremental that changes one file, adds one and
    records one deletion (Accurate)."""
    tree = RestoreTree()
    rows = [
        ("/etc/", "hosts", FULL, 1, file_lstat(100)),
        ("/etc/", "passwd", FULL, 2, file_lstat(2000)),
        ("/etc/ssh/", "sshd_config", FULL, 3, file_lstat(300)),
        ("/etc/ssh/", "", FULL, 4, DIR_LSTAT),
        ("/etc/", "", FULL, 5, DIR_LSTAT),
        ("/home/ann/", "notes.txt", FULL, 6, file_lstat(40)),
        ("/home/ann/", "old.txt", FULL, 7, file_lstat(50)),
        ("/etc/", "hosts", INCR, 1, file_lstat(111)),
        ("/home/ann/", "new.txt", INCR, 2, file_lstat(60)),
        ("/home/ann/", "old.txt", INCR, 0, ""),          # deleted since the Full
    ]
    for row in rows:
        tree.add(*row)
    return tree


def names(nodes):
    return [node.tag + node.display_name for node in nodes]


def test_the_tree_holds_the_newest_version_of_each_file_and_not_the_deleted_ones(tree):
    assert names(tree.listing()) == ["etc/", "home/"]
    assert tree.cd("/home/ann")
    assert names(tree.listing()) == ["new.txt", "notes.txt"]
    hosts = tree.resolve("/etc").children["hosts"]
    assert (hosts.job_id, hosts.file_index) == (INCR, 1)
    # /home and /home/ann have no record of their own: shown, not counted
    assert tree.count() == (7, 0)


def test_cd_takes_absolute_relative_dot_and_dotdot_paths_and_refuses_files(tree):
    assert tree.pwd() == "/"
    assert tree.cd("etc/ssh") and tree.pwd() == "/etc/ssh/"
    assert tree.cd("..") and tree.pwd() == "/etc/"
    assert tree.cd("./ssh/") and tree.pwd() == "/etc/ssh/"
    assert not tree.cd("/etc/hosts")
    assert not tree.cd("/nowhere")
    assert tree.pwd() == "/etc/ssh/"
    assert tree.cd("/") and tree.pwd() == "/"


def test_marking_a_directory_marks_everything_below_and_tags_its_parents(tree):
    assert tree.mark("etc/ssh") == 2                     # the directory and its one file
    assert names(tree.listing()) == ["+etc/", "home/"]
    tree.cd("/etc")
    assert names(tree.listing()) == ["hosts", "passwd", "*ssh/"]
    assert tree.mark("ssh") == 0                         # nothing newly marked
    assert tree.mark("ssh", marked=False) == 2
    assert names(tree.listing()) == ["hosts", "passwd", "ssh/"]
    tree.cd("/")
    assert names(tree.listing()) == ["etc/", "home/"]


def test_wildcards_and_absolute_patterns_select_by_name(tree):
    tree.cd("/etc")
    assert tree.mark("p*") == 1
    assert tree.mark("/home/ann/n*.txt") == 2
    assert tree.mark("/**/sshd_*") == 1
    assert sorted(tree.selection()[FULL]) == [2, 3, 6]
    assert sorted(tree.selection()[INCR]) == [2]
    assert tree.mark("nomatch*") == 0


def test_selection_is_what_is_marked_newest_versions_only(tree):
    tree.mark_all()
    assert tree.selection() == {FULL: {2, 3, 4, 5, 6}, INCR: {1, 2}}
    assert tree.count() == (7, 7)


def test_lsmark_find_count_and_estimate(tree):
    tree.mark("/etc/hosts")
    tree.mark("/home")
    assert tree.marked_lines(tree.root) == [
        "+etc/", "  *hosts", "*home/", "  *ann/", "    *new.txt", "    *notes.txt"]
    assert [tree.full_path(n) for n in tree.find("*.txt")] == [
        "/home/ann/new.txt", "/home/ann/notes.txt"]
    # files: hosts, new.txt, notes.txt (home and ann have no records)
    assert tree.count() == (7, 3)
    assert tree.estimate() == (7, 3, 111 + 60 + 40)


def test_a_deleted_directory_goes_with_its_record_once_nothing_is_left_below():
    tree = RestoreTree()
    tree.add("/tmp/d/", "f", FULL, 1, file_lstat(1))
    tree.add("/tmp/d/", "", FULL, 2, DIR_LSTAT)
    tree.add("/tmp/d/", "f", INCR, 0)
    tree.add("/tmp/d/", "", INCR, 0)
    assert tree.resolve("/tmp") is None
    assert tree.count() == (0, 0)


def test_a_name_restored_again_after_its_deletion_is_back():
    tree = RestoreTree()
    tree.add("/a/", "x", FULL, 1, file_lstat(1))
    tree.add("/a/", "x", INCR, 0)
    tree.add("/a/", "x", INCR2, 4, file_lstat(2))
    node = tree.resolve("/a").children["x"]
    assert (node.job_id, node.file_index) == (INCR2, 4)


def test_dir_shows_the_long_listing_with_the_mark(tree):
    tree.mark("/etc/hosts")
    hosts = tree.resolve("/etc").children["hosts"]
    line = long_line(tree, hosts)
    assert line.startswith("-rw-r--r--   1 0 (")
    assert line.endswith(" * /etc/hosts")
    assert "         111  " in line


def test_a_marked_hard_link_brings_the_first_name_that_holds_its_data():
    tree = RestoreTree()
    tree.add("/a/", "first", FULL, 4, file_lstat(10))
    hard_link = LStat(mode=0o100644, nlink=2, size=10, link_fi=4).encode()
    tree.add("/b/", "second", FULL, 9, hard_link)
    tree.mark("/b/second")
    assert tree.selection() == {FULL: {4, 9}}
