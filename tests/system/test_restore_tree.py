"""Restoring chosen files of a point in time, through real daemons: the interactive
``restore`` driven through our bconsole's pipe, and the WebUI's way (``.bvfs_*`` in api 2,
then ``restore file=?b2<n>``).  Only the marked files come back, in their newest version,
and a file deleted before the point in time is not offered.

One Full and one Accurate Incremental are made once for the module; each test restores
into its own directory.
"""

import json
import re

import pytest

from backup_helpers import run_job
from bareos.testing.daemons import Suite
from bareos.testing.pybareos import director_console


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    base = tmp_path_factory.mktemp("restore-tree")
    source = base / "source"
    for name, text in {"keep/a.txt": "a", "keep/b.txt": "b", "keep/sub/c.txt": "c",
                       "skip/d.txt": "d", "changed.txt": "old", "deleted.txt": "gone"}.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    suite = Suite(base / "daemons")
    # a console that may run every command but see neither the jobs nor the client
    suite.add_console("otherclient", full_access=False, extra=(
        "Command ACL = *all*", "Job ACL = other-job", "Client ACL = other-fd", "Storage ACL = *all*",
        "Pool ACL = *all*", "FileSet ACL = *all*", "Catalog ACL = *all*", "Where ACL = *all*"))
    try:
        suite.start_sd()
        suite.start_fd()
        suite.start_director(extra_resources=suite.backup_resources(source))
        full, status, output = run_job(suite, "run job=backup level=Full yes")
        assert status == "T", output
        (source / "changed.txt").write_text("new")
        (source / "deleted.txt").unlink()
        (source / "new.txt").write_text("added")
        incr, status, output = run_job(suite, "run job=backup level=Incremental yes")
        assert status == "T", output
        yield suite, source, (full, incr), base
    finally:
        suite.stop()


def restored_files(where, source):
    """{path relative to the source: content} of what a restore wrote under ``where``."""
    root = where / source.relative_to("/")
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def finish(suite, output):
    jobid = int(re.search(r"Job queued\. JobId=(\d+)", output).group(1))
    waited = suite.console(f"wait jobid={jobid}\n")
    assert "JobStatus=OK (T)" in waited or "(T)" in waited, waited
    return jobid


def test_marked_files_only_are_restored_from_the_interactive_tree(backed_up):
    suite, source, _jobs, base = backed_up
    where = base / "interactive"
    output = suite.console("\n".join([
        f"restore where={where}",
        "5",                           # the most recent backup of a client (the one client)
        f"cd {source}",
        "ls",
        "mark keep",
        "unmark keep/b.txt",
        "mark chan*",
        "lsmark",
        "count",
        "estimate",
        "cd nowhere",
        "bogus",
        "done",
        "yes",
    ]) + "\n")
    assert "To select the JobIds, you have the following choices:" in output
    assert "Automatically selected Client: bareos-fd" in output
    assert "You are now entering file selection mode" in output
    after_cd = output.split(f"cwd is: {source}/\n", 1)[1]
    assert after_cd.split("$ \n")[1].split() == ["changed.txt", "keep/", "new.txt", "skip/"]
    assert "5 files newly marked." in output              # keep/, a.txt, b.txt, sub/, c.txt
    assert "1 file newly unmarked." in output
    assert "1 file newly marked." in output                # changed.txt
    assert "*changed.txt\n*keep/\n  *a.txt\n  *sub/\n    *c.txt\n" in output
    assert "5 marked to be restored; 5 bytes." in output    # a, c and changed: 1 + 1 + 3
    assert "Invalid path given." in output
    assert 'Invalid command "bogus". Enter "done" to exit.' in output
    assert "5 files selected to be restored." in output   # keep/, a.txt, sub/, c.txt, changed.txt
    finish(suite, output)
    assert restored_files(where, source) == {
        "keep/a.txt": "a", "keep/sub/c.txt": "c", "changed.txt": "new"}


def test_the_menu_refuses_what_it_does_not_offer_and_cancels_with_a_dot(backed_up):
    suite, _source, _jobs, _base = backed_up
    output = suite.console("restore\n4\n13\nlist jobs\n")
    assert 'Item 4 ("Enter SQL list command") is not offered by this director.' in output
    assert "Selection aborted, nothing done." in output
    assert "| backup " in output                           # the session goes on


def test_the_other_menu_items_choose_jobs_files_and_directories(backed_up):
    suite, source, (full, incr), base = backed_up
    output = suite.console("\n".join([
        "restore",
        "7",                                     # a list of files (latest backup)
        f"{source}/changed.txt", f"{source}/nosuch", "",
        "no",
        "restore",
        "9",                                     # find the JobIds of the latest backup,
        "11",                                    # then a list of directories in them
        f"{source}/keep", "",
        "no",
        "restore",
        "12", str(full),                         # the state at the Full
        f"cd {source}", "ls", "quit",
        "restore",
        "6", "yesterday", "2000-01-01",          # before a time: nothing then
    ]) + "\n")
    first, directories, at_full, before = output.split("*restore\n")[1:]
    assert f"No database record found for: {source}/nosuch" in first
    assert "1 file selected to be restored." in first and "Restore not run." in first
    assert f"You have selected the following JobIds: {full},{incr}" in directories
    assert f"You have already selected the following JobIds: {full},{incr}" in directories
    assert "5 files selected to be restored." in directories    # keep/, a, b, sub/, c
    assert "deleted.txt" in at_full and "new.txt" not in at_full
    assert "Selection aborted, nothing done." in at_full
    assert "Improper date format." in before
    assert "No Full backup of client bareos-fd found in the catalog before 2000-01-01" in before
    assert "Job queued" not in output


def test_a_console_sees_neither_tree_nor_bvfs_of_jobs_its_acls_hide(backed_up):
    suite, source, (full, incr), base = backed_up
    output = suite.console(f"restore jobid={full},{incr} all done yes where={base / 'no'}\n"
                           f".bvfs_lsfiles jobid={full},{incr} path={source}/\n"
                           f".bvfs_get_jobids jobid={incr}\n", console="otherclient")
    assert f'Access to JobId={full} (Job "backup") not authorized. Not selected.' in output
    assert "No Jobs selected." in output and "Job queued" not in output
    assert "Unauthorized command from this console." in output
    assert "changed.txt" not in output
    assert f"{full},{incr}" not in output.split(".bvfs_get_jobids")[1]


def api2_answers(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"jsonrpc"')][1:]


def test_a_bvfs_restore_list_restores_the_chosen_file_and_directory(backed_up):
    suite, source, (full, incr), base = backed_up
    jobs = f"{full},{incr}"
    answers = api2_answers(suite.console("\n".join([
        ".api 2 compact=yes",
        f".bvfs_get_jobids jobid={incr}",
        f".bvfs_update jobid={jobs}",
        f".bvfs_lsdirs jobid={jobs} path={source}/",
        f".bvfs_lsfiles jobid={jobs} path={source}/",
        f".bvfs_lsfiles jobid={jobs} path={source}/keep/ offset 1 limit 1",
        f".bvfs_versions jobid=0 client=bareos-fd path={source}/ fname=changed.txt",
    ]) + "\n"))
    get_jobids, update, lsdirs, lsfiles, limited, versions = (a["result"] for a in answers)
    assert get_jobids == {"jobids": [{"id": str(full)}, {"id": str(incr)}]}
    assert update == {}
    dirs = {d["name"]: d for d in lsdirs["directories"]}
    assert set(dirs) == {".", "..", "keep/", "skip/"}
    assert dirs["keep/"]["fullpath"] == f"{source}/keep/" and dirs["keep/"]["jobid"] in (full, incr)
    files = {f["name"]: f for f in lsfiles["files"]}
    assert set(files) == {"changed.txt", "new.txt"}      # not deleted.txt
    assert files["changed.txt"]["jobid"] == incr and files["changed.txt"]["stat"]["size"] == 3
    assert [f["name"] for f in limited["files"]] == ["b.txt"]
    assert [v["jobid"] for v in versions["versions"]] == [full, incr]
    assert all(v["volumename"] for v in versions["versions"])

    where = base / "bvfs"
    output = suite.console("\n".join([
        ".api 2 compact=yes",
        f".bvfs_restore path=b2777 jobid={jobs} fileid={files['changed.txt']['fileid']} "
        f"dirid={dirs['keep/']['pathid']}",
        f"restore client=bareos-fd file=?b2777 where={where} yes",
        ".bvfs_cleanup path=b2777",
        f"restore client=bareos-fd file=?b2777 where={where} yes",
    ]) + "\n")
    prepared, queued, cleaned, after_cleanup = api2_answers(output)
    assert prepared["result"] == {} and cleaned["result"] == {}
    jobid = queued["result"]["run"]["jobid"]
    assert "No restore list b2777" in json.dumps(after_cleanup["error"])
    waited = suite.console(f"wait jobid={jobid}\n")
    assert "(T)" in waited, waited
    assert restored_files(where, source) == {
        "keep/a.txt": "a", "keep/b.txt": "b", "keep/sub/c.txt": "c", "changed.txt": "new"}


def test_bvfs_lists_in_text_and_clears_its_cache(backed_up):
    suite, source, (full, incr), _base = backed_up
    output = suite.console(f".bvfs_lsfiles jobid={full},{incr} path={source}/keep/\n"
                           f".bvfs_get_jobids jobid={incr}\n"
                           ".bvfs_clear_cache\n"
                           ".bvfs_clear_cache yes\n")
    rows = [line.split("\t") for line in output.splitlines() if line.count("\t") == 4]
    assert [row[4] for row in rows] == ["a.txt", "b.txt"]
    assert all(row[2] == str(full) for row in rows)
    assert f"\n{full},{incr}\n" in output
    assert "Can't find 'yes' argument" in output
    assert output.rstrip().endswith("OK")


def test_python_bareos_drives_the_menu_and_the_tree_as_a_plain_console(backed_up, pybareos_venv):
    """python-bareos' DirectorConsole answers each prompt with the next call (Bareos'
    test_acl does this): the sub-prompt ends each answer."""
    suite, source, (full, incr), base = backed_up
    where = base / "python-bareos"
    answer = director_console(suite.dir_port, suite.dir_password, tls_psk_enable=False, calls=[
        f"restore where={where}",
        "2", "changed.txt",                # the jobs that saved a file of that name
        "3", f"{full},{incr}",             # then restore from these jobs
        "find *.txt",
        f"mark {source}/keep/a.txt",
        "done", "yes"])
    assert answer["ok"], answer
    menu, file_name, jobs_with_file, ask_ids, job_ids, find, mark, done, confirmed = answer["results"]
    assert menu.rstrip().endswith("Select item:  (1-13):")
    assert "Automatically selected Client: bareos-fd" in file_name
    assert jobs_with_file.count(f"| {source}/changed.txt ") == 2
    assert ask_ids.rstrip().endswith("to restore:") and job_ids.rstrip().endswith("$")
    assert f"{source}/new.txt" in find and "deleted.txt" not in find
    assert "1 file newly marked." in mark
    assert "1 file selected to be restored." in done and done.rstrip().endswith("(yes/no):")
    jobid = int(re.search(r"Job queued\. JobId=(\d+)", confirmed).group(1))
    assert "(T)" in suite.console(f"wait jobid={jobid}\n")
    assert restored_files(where, source) == {"keep/a.txt": "a"}
