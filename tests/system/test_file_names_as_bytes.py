"""File names that are not UTF-8, end to end, on both catalogs.

A file name is bytes.  The file daemon sends them as they are, the director must
store them in the catalog byte for byte (SQLite BLOB, PostgreSQL bytea), list them
(api 0: the raw bytes, as Bareos; api 2: JSON whose strings decode to the
surrogateescape form, so ``os.fsencode`` gives the bytes back), select them for a
restore by ``file=`` typed as raw bytes, and restore exactly them.
"""

import json
import os

from backup_helpers import run_job
from bareos.testing.trees import differences, snapshot

# Latin-1 (not UTF-8), broken UTF-8 sequences, an encoded surrogate, and UTF-8 names.
NOT_UTF8 = [b"caf\xe9", b"\xff\xfe lead", b"cut \xc3", b"bad \xc3( seq", b"surrogate \xed\xa0\x80"]
UTF8 = ["café.txt", "日本語", "caf\\xe9 (a real backslash)"]
LATIN1_DIR = b"latin1 \xe9t\xe9"


def make_byte_tree(root):
    """A tree whose names are the bytes above; returns the file names (bytes, absolute)."""
    root = os.fsencode(root)
    os.makedirs(os.path.join(root, LATIN1_DIR, b"sub \xff"))
    files = []
    for name in NOT_UTF8 + [name.encode() for name in UTF8]:
        for directory in (root, os.path.join(root, LATIN1_DIR), os.path.join(root, LATIN1_DIR, b"sub \xff")):
            path = os.path.join(directory, name)
            with open(path, "wb") as stream:
                stream.write(b"content of " + path + b"\n")
            files.append(path)
    os.symlink(b"caf\xe9", os.path.join(root, b"link to caf\xe9 \xe9"))
    files.append(os.path.join(root, b"link to caf\xe9 \xe9"))
    return files


def catalog_names(catalog, jobid):
    rows = catalog.query("SELECT p.Path, f.Name FROM File f JOIN Path p ON p.PathId = f.PathId "
                         "WHERE f.JobId = ?", jobid)
    # bytes from a BLOB (memoryview from bytea); str only from text columns (before the fix)
    return {(os.fsencode(path) if isinstance(path, str) else bytes(path))
            + (os.fsencode(name) if isinstance(name, str) else bytes(name)) for path, name in rows}


def listed_json(output):
    """The JSON document of the command after ``.api 2 compact=yes`` in bconsole's output."""
    documents = [line for line in output.splitlines() if line.startswith('{"jsonrpc"')]
    assert len(documents) == 2, output            # the answer to .api, then the command's
    return json.loads(documents[1])


def test_names_that_are_not_utf8_are_listed_selected_and_restored(suite, catalog, tmp_path):
    source = tmp_path / "source"
    files = make_byte_tree(source)
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources={**suite.backup_resources(source), **catalog.resources})

    full, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    stored = catalog_names(catalog, full)
    assert set(files) <= stored
    assert os.fsencode(source) + b"/" + LATIN1_DIR + b"/" in stored

    # api 0: the names as the raw bytes (bconsole prints them; read back with surrogateescape)
    listed = suite.console(f"list files jobid={full}\n")
    for path in files:
        assert os.fsdecode(path) in listed, (path, listed)
    # api 2: valid JSON text (ASCII), each undecodable byte a \udcXX escape
    document = listed_json(suite.console(f".api 2 compact=yes\nlist files jobid={full}\n"))
    names = {os.fsencode(row["filename"]) for row in document["result"]["filenames"]}
    assert set(files) <= names
    assert '"' + str(source) + '/caf\\udce9"' in json.dumps(document)

    # Undecodable bytes anywhere else on a command line are text (U+FFFD), as before.
    answer = suite.console("list jobs client=\udcff\udcfe\n")
    assert "*list jobs client=\udcff\udcfe" in answer and "Internal error" not in answer

    # Accurate Incremental: the FD gets the catalog's names back byte for byte, finds every
    # file unchanged and saves none of them again.
    incremental, status, output = run_job(suite, "run job=backup level=Incremental yes")
    assert status == "T", output
    assert not set(files) & catalog_names(catalog, incremental)

    # One file selected by its name, typed as raw bytes.
    chosen = os.path.join(os.fsencode(source), LATIN1_DIR, b"caf\xe9")
    where = tmp_path / "one"
    _, status, output = run_job(
        suite, f'restore client={suite.client_name} select current file="{os.fsdecode(chosen)}" '
               f"done yes where={where}")
    assert status == "T", output
    assert "1 file selected to be restored." in output
    restored = [os.path.join(d, f) for d, _, names in os.walk(os.fsencode(where)) for f in names]
    assert restored == [os.fsencode(where) + chosen]
    with open(restored[0], "rb") as stream:
        assert stream.read() == b"content of " + chosen + b"\n"

    # The whole tree, byte-identical names and contents.
    where = tmp_path / "all"
    _, status, output = run_job(suite, f"restore jobid={full} all done yes where={where}")
    assert status == "T", output
    assert differences(snapshot(source), snapshot(str(where) + str(source))) == []
