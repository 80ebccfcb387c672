"""Many backups started at once on empty pools: the daemons, the data and the burst itself.

Shared by the system test of concurrent jobs (tests/system/test_concurrent_backups.py)
and the benchmark bench/burst.py.
"""

import os

from bareos.config.writer import Quoted, Resource


def with_concurrency(text, jobs):
    """A one-level resource's text with ``Maximum Concurrent Jobs`` room for ``jobs`` more."""
    return text.replace("}", f"  Maximum Concurrent Jobs = {jobs * 2}\n}}", 1)


def start_burst_daemons(suite, source, pools, jobs, director_resources=None):
    """SD, FD and director of ``suite`` able to run ``jobs`` jobs of Job ``burst`` at once.

    ``burst`` backs up ``source`` (Full) into ``pools[0]`` unless ``run ... pool=`` names
    another of ``pools``; each pool is empty and makes its volumes from its Label Format.
    Every limit on the way (Director, Client, Storage, Job, Device, the SD's Storage)
    lets ``jobs`` run together, restores included.  ``director_resources`` (such as
    another Catalog) are merged in last.
    """
    resources = suite.backup_resources(source)
    resources.update((item.path, item.text()) for item in (
        *(Resource("Pool", {"Name": pool, "Pool Type": "Backup", "Label Format": Quoted(f"{pool}-")})
          for pool in pools),
        Resource("Job", {
            "Name": "burst", "Type": "Backup", "Level": "Full", "Client": suite.client_name,
            "FileSet": "TestSet", "Storage": suite.storage_name, "Pool": pools[0],
            "Messages": "Standard"})))
    for path in ("job/burst.conf", "job/RestoreFiles.conf"):
        resources[path] = with_concurrency(resources[path], jobs)
    for path, text in suite.director_resources().items():
        if path.startswith(("client/", "storage/")):
            resources[path] = with_concurrency(text, jobs)
    suite.start_sd(extra_resources={
        path: with_concurrency(text, jobs) for path, text in suite.sd_resources().items()
        if path.startswith(("device/", "storage/"))})
    suite.start_fd()
    suite.start_director(director_extra=[f"Maximum Concurrent Jobs = {jobs * 2}"],
                         extra_resources={**resources, **(director_resources or {})})


def make_source(source, total_bytes):
    """About ``total_bytes`` of incompressible data in files of different sizes."""
    os.makedirs(os.path.join(source, "sub"))
    sizes = [1 + n * 13 for n in range(12)]
    unit = max(total_bytes // sum(sizes), 1)
    for n, size in enumerate(sizes):
        with open(os.path.join(source, f"file{n:02d}.bin"), "wb") as stream:
            stream.write(os.urandom(unit * size))
    with open(os.path.join(source, "sub", "note.txt"), "w") as stream:
        stream.write("concurrent jobs on an empty pool\n")


def run_burst(suite, pool, jobs):
    """Queue ``jobs`` runs of ``burst`` into ``pool`` in one console session, wait for all.

    Returns (sorted JobIds, the console's output)."""
    output = suite.console("".join(f"run job=burst pool={pool} yes\n" for _ in range(jobs))
                           + "wait\nmessages\n")
    jobids = sorted({int(word.split("=")[1]) for word in output.split() if word.startswith("JobId=")})
    return jobids, output
