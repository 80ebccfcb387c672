#!/usr/bin/env python3
"""Full backup and restore benchmark: our three real twistd daemons on the peer's dataset.

    .venv/bin/python bench/bench.py [--runs N] [--work DIR] [--data DIR] [--bacula]

Same data, same job sequence and same timing definition as the Bacula peer benchmark in
``../shared/peers/bacula`` (see its README.md and ours, bench/README.md):

* dataset: ``make_dataset.py`` (``large``: 8 x 128 MiB incompressible; ``small``: 20,455
  entries of 1-16 KiB), generated into ``DATA`` when missing and only read afterwards;
* per run, fresh daemons, catalog and volumes; Full backups ``LargeMD5``, ``SmallMD5``,
  (``--nosig``: ``LargeNoSig``, ``SmallNoSig``), then ``Tiny`` (one 9.9 KB file); then each
  of them restored into a new directory (verified with the peer's ``verify_tree.py``);
  then ``tar -cf`` / ``tar -xf`` of both profiles (the extraction verified too);
* every step is preceded by an untimed ``sync``; a job is timed from just before our
  ``bconsole`` process starts (Python start, connect, authentication, ``run``/``restore``)
  until the director's end-of-job report for that JobId (its ``Termination:`` line) is
  in the director's ``Append`` message log, polled every 5 ms;
* per step: CPU seconds (user+sys) and peak RSS (VmHWM, reset through
  ``/proc/PID/clear_refs`` before the step when the kernel allows it) of each daemon.

Nothing here is a test; no figure is asserted.  Results: ``WORK/results/run_N/steps.jsonl``
and ``WORK/summary.md`` (also printed).  Restored trees are kept until the end of the
session (deleting ~20k inodes slows the next file creations on ext4 without a journal).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bareos.config.writer import quote, resource  # noqa: E402
from bareos.testing.daemons import Suite, daemon_env, default_python  # noqa: E402
from procstat import cpu_times, reset_hwm, vm_hwm_mib  # noqa: E402  (bench/procstat.py)

PEER = (REPO / ".." / "shared" / "peers" / "bacula").resolve()
if not PEER.is_dir():
    PEER = Path("/work/shared/peers/bacula")
POLL = 0.005
EXT4_WAIT = float(os.environ.get("BAREOS_BENCH_EXT4_WAIT", "370"))

BACKUPS = [  # (job, profile, signature)
    ("BackupLargeMD5", "large", "MD5"),
    ("BackupSmallMD5", "small", "MD5"),
    ("BackupLargeNoSig", "large", None),
    ("BackupSmallNoSig", "small", None),
    ("BackupTiny", "tiny", "MD5"),
]
TINY = "small/d000/s000/f000000.dat"


# ----------------------------------------------------------------------------- helpers

def log(*parts):
    print(*parts, flush=True)


def sync():
    os.sync()


def dataset_facts(data):
    """Entries (as Bacula counts them: + the top dir) and bytes (hard links once) per profile."""
    out = {}
    for prof in ("large", "small"):
        root = os.path.join(data, prof)
        entries, seen, nbytes = 0, set(), 0
        for dp, dn, fn in os.walk(root):
            for n in dn + fn:
                entries += 1
                st = os.lstat(os.path.join(dp, n))
                if os.path.isfile(os.path.join(dp, n)) and not os.path.islink(os.path.join(dp, n)):
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        nbytes += st.st_size
        out[prof] = {"entries": entries + 1, "bytes": nbytes}
    tiny = os.path.join(data, TINY)
    out["tiny"] = {"entries": 1, "bytes": os.path.getsize(tiny)}
    return out


def read_tree(path):
    """Read every file once (puts the dataset into the page cache, as the peer requires)."""
    for dp, dn, fn in os.walk(path):
        for n in fn:
            p = os.path.join(dp, n)
            if os.path.islink(p):
                continue
            with open(p, "rb") as f:
                while f.read(1 << 20):
                    pass


def ext4_no_journal(path):
    try:
        fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", str(path)],
                                capture_output=True, text=True).stdout.split()
    except OSError:
        return False
    if not fstype or fstype[0] != "ext4":
        return False
    dev = os.path.basename(os.path.realpath(fstype[1]))
    try:
        return not any(entry.startswith(dev + "-") for entry in os.listdir("/proc/fs/jbd2"))
    except FileNotFoundError:
        return True


# ----------------------------------------------------------------------------- our suite

class OurSystem:
    """Our director, SD and FD (real twistd processes) configured for the benchmark."""

    def __init__(self, base, data, where_default):
        self.suite = Suite(base)
        self.data = Path(data)
        self.log_path = Path(base) / "log" / "bareos.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.where_default = where_default
        self.pids = {}

    def director_extra(self):
        s = self.suite
        res = {}
        filesets = {
            "LargeMD5": ("large", True), "SmallMD5": ("small", True),
            "LargeNoSig": ("large", False), "SmallNoSig": ("small", False),
            "Tiny": (TINY, True),
        }
        for name, (rel, md5) in filesets.items():
            res[f"fileset/{name}.conf"] = resource("FileSet", {"Name": name, "Include": {
                "Options": {"Signature": "MD5"} if md5 else None, "File": self.data / rel}})
        res["pool/BenchPool.conf"] = resource("Pool", [
            "Name = BenchPool", "Pool Type = Backup", 'Label Format = "Bench-"'])
        for job, _prof, sig in BACKUPS:
            fileset = job[len("Backup"):]
            res[f"job/{job}.conf"] = resource("Job", [
                f"Name = {job}", "Type = Backup", "Level = Full", f"Client = {s.client_name}",
                f"FileSet = {fileset}", f"Storage = {s.storage_name}", "Pool = BenchPool",
                "Messages = Standard", "Accurate = no"])
        res["job/RestoreFiles.conf"] = resource("Job", [
            "Name = RestoreFiles", "Type = Restore", f"Client = {s.client_name}",
            "FileSet = LargeMD5", f"Storage = {s.storage_name}", "Pool = BenchPool",
            "Messages = Standard", f"Where = {quote(self.where_default)}"])
        res["messages/Standard.conf"] = resource("Messages", [
            "Name = Standard", "Console = all, !skipped, !saved",
            f"Append = {quote(str(self.log_path))} = all, !skipped", "Catalog = all"])
        return res

    def start(self):
        s = self.suite
        t0 = time.monotonic()
        s.start_sd(wait=False)
        s.start_fd(wait=False)
        s.start_director(wait=False, extra_resources=self.director_extra())
        for d in s.daemons.values():
            d.wait_listening()
        elapsed = time.monotonic() - t0
        self.pids = {"dir": s.daemons["dir"].pid, "sd": s.daemons["sd"].pid, "fd": s.daemons["fd"].pid}
        self.console_config = s.write_bconsole()
        return elapsed

    def stop(self):
        self.suite.stop()

    def console(self, commands):
        return subprocess.run(
            [default_python(), "-m", "bareos.console.main", "-n", "-c", str(self.console_config)],
            input=commands, text=True, capture_output=True, timeout=3600, cwd=str(REPO),
            env=daemon_env())

    def timed_job(self, commands):
        """Run *commands*; wait for the job's Termination line; return a result dict."""
        self.log_path.touch()
        offset = self.log_path.stat().st_size
        cpu0 = {k: cpu_times(p) for k, p in self.pids.items()}
        reset = all(reset_hwm(p) for p in self.pids.values())
        t0 = time.monotonic()
        done = self.console(commands)
        t_queued = time.monotonic() - t0
        m = re.search(r"Job queued\. JobId=(\d+)", done.stdout)
        if not m:
            raise RuntimeError(f"job not queued:\n{done.stdout}\n{done.stderr}")
        jid = m.group(1)
        pattern = re.compile(r"\n\s+JobId:\s+" + jid + r"\n(?:.*\n)*?\s+Termination:\s+(.*)\n")
        buf = ""
        with open(self.log_path, errors="replace") as f:
            f.seek(offset)
            while True:
                buf += f.read()
                mm = pattern.search(buf)
                if mm:
                    break
                if time.monotonic() - t0 > 3600:
                    raise RuntimeError(f"JobId {jid}: no end-of-job report after 1 h")
                time.sleep(POLL)
        wall = time.monotonic() - t0
        cpu1 = {k: cpu_times(p) for k, p in self.pids.items()}
        report = buf[buf.rfind(f"JobId {jid}:", 0, mm.start()):mm.end()]
        fields = {}
        for line in report.splitlines():
            fm = re.match(r"\s{2}([A-Za-z /()-]+):\s+(.*)$", line)
            if fm:
                fields[fm.group(1).strip()] = fm.group(2).strip()
        return {
            "jobid": int(jid), "termination": mm.group(1).strip(), "wall_s": round(wall, 3),
            "console_queue_s": round(t_queued, 3), "elapsed": fields.get("Elapsed time"),
            "cpu_s": {k: round(sum(cpu1[k]) - sum(cpu0[k]), 2) for k in self.pids},
            "sys_s": {k: round(cpu1[k][1] - cpu0[k][1], 2) for k in self.pids},
            "hwm_mib": {k: vm_hwm_mib(p) for k, p in self.pids.items()},
            "hwm_is_step_peak": reset,
        }


# ----------------------------------------------------------------------------- one run

def one_run(args, run, facts, results_dir):
    R = results_dir / f"run_{run}"
    R.mkdir(parents=True, exist_ok=True)
    steps = R / "steps.jsonl"
    rst = Path(args.work) / "restore" / f"run_{run}"
    if rst.exists():
        sys.exit(f"{rst} exists; use a fresh --work (or delete it and wait out the ext4 window)")
    rst.mkdir(parents=True)
    base = Path(args.work) / "ours" / f"run_{run}"
    if base.exists():
        shutil.rmtree(base)  # a few big files (volumes, catalog): harmless for the inode allocator

    def record(step, kind, prof, res):
        res = {"step": step, "mode": kind, "files": facts[prof]["entries"],
               "bytes": facts[prof]["bytes"], **res}
        wall = res["wall_s"]
        res["mb_per_s"] = round(res["bytes"] / 1e6 / wall, 2) if wall else None
        res["files_per_s"] = round(res["files"] / wall, 1) if wall else None
        with open(steps, "a") as f:
            f.write(json.dumps(res) + "\n")
        extra = ""
        if "cpu_s" in res:
            extra = (f" cpu {res['cpu_s']} (sys {res['sys_s']}) peak RSS MiB {res['hwm_mib']}"
                     f" (console {res['console_queue_s']:.2f} s) {res['termination']}")
        log(f"  run {run}  {step:30s} {wall:7.2f} s {res['mb_per_s'] or 0:9.1f} MB/s "
            f"{res['files_per_s'] or 0:10.1f} files/s{extra}")
        return res

    def verify(step, src, dst):
        out = subprocess.run([sys.executable, str(PEER / "verify_tree.py"), str(src), str(dst)],
                             capture_output=True, text=True)
        ok = out.returncode == 0
        if ok:
            ok = subprocess.run(["diff", "-r", "--no-dereference", "-q", str(src), str(dst)],
                                capture_output=True).returncode == 0
        line = f"{step} {'OK' if ok else 'FAILED'} {out.stdout.strip()} {out.stderr.strip()[-500:]}"
        with open(R / "verify.txt", "a") as f:
            f.write(line + "\n")
        if not ok:
            log(f"  run {run}  VERIFY {step} FAILED: {out.stdout.strip()} {out.stderr.strip()[-500:]}")
        return ok

    system = OurSystem(base, args.data, str(rst / "default"))
    sync()
    startup = system.start()
    with open(steps, "a") as f:
        f.write(json.dumps({"step": "daemon_startup", "wall_s": round(startup, 3),
                            "hwm_mib": {k: vm_hwm_mib(p) for k, p in system.pids.items()}}) + "\n")
    log(f"  run {run}  daemons listening after {startup:.2f} s (pids {system.pids})")
    all_ok = True
    jobs = [b for b in BACKUPS if args.nosig or b[2] is not None]
    jobids = {}
    try:
        for job, prof, sig in jobs:
            sync()
            res = system.timed_job(f"run job={job} level=Full yes\nquit\n")
            record(f"ours_backup_{job}", "backup", prof, res)
            all_ok &= res["termination"] == "Backup OK"
            jobids[job] = res["jobid"]
        for job, prof, sig in jobs:
            label = f"{prof}_{sig or 'NoSig'}" if prof != "tiny" else "tiny"
            where = rst / f"ours_{label}"
            sync()
            res = system.timed_job(f"restore jobid={jobids[job]} where={where} all done yes\nquit\n")
            record(f"ours_restore_{label}", "restore", prof, res)
            all_ok &= res["termination"] == "Restore OK"
            src = Path(args.data) / (TINY if prof == "tiny" else prof)
            dst = Path(str(where) + str(src))
            if prof == "tiny":
                ok = dst.read_bytes() == src.read_bytes()
                with open(R / "verify.txt", "a") as f:
                    f.write(f"ours_restore_tiny {'OK' if ok else 'FAILED'}\n")
            else:
                ok = verify(f"ours_restore_{label}", src, dst)
            all_ok &= ok
        hwm_total = {k: vm_hwm_mib(p) for k, p in system.pids.items()}
        volumes = sum(p.stat().st_size for p in system.suite.storage_dir.iterdir() if p.is_file())
        with open(R / "volumes.txt", "w") as f:
            f.write(f"volume bytes {volumes}\n")
        shutil.copy(system.log_path, R / "bareos.log")
    finally:
        system.stop()
        for name in ("bareos-dir", "bareos-sd", "bareos-fd"):
            src = system.suite.run_dir / f"{name}.log"
            if src.exists():
                shutil.copy(src, R / f"{name}.log")
    # the volumes are big files; free them now (not inodes that matter to ext4's allocator)
    shutil.rmtree(system.suite.storage_dir, ignore_errors=True)
    log(f"  run {run}  peak RSS since the last reset: {hwm_total}")

    if not args.no_tar:
        tardir = Path(args.work) / "tar"
        tardir.mkdir(exist_ok=True)
        for prof in ("large", "small"):
            tarfile = tardir / f"x_{prof}.tar"
            for step, argv in ((f"tar_create_{prof}", ["tar", "-cf", str(tarfile), "-C", args.data, prof]),
                               (f"tar_extract_{prof}", ["tar", "-xf", str(tarfile), "-C", str(rst / f"tar_{prof}")])):
                if "extract" in step:
                    (rst / f"tar_{prof}").mkdir()
                sync()
                t0 = time.monotonic()
                subprocess.run(argv, check=True)
                record(step, "baseline", prof, {"wall_s": round(time.monotonic() - t0, 3)})
            all_ok &= verify(f"tar_extract_{prof}", Path(args.data) / prof, rst / f"tar_{prof}" / prof)
            tarfile.unlink()
    sync()
    return all_ok


# ----------------------------------------------------------------------------- summary

def summarize(results_dir, facts, bacula_summary=None):
    rows = {}
    for steps in sorted(results_dir.glob("run_*/steps.jsonl")):
        for line in steps.read_text().splitlines():
            r = json.loads(line)
            rows.setdefault(r["step"], []).append(r)

    def med(step):
        walls = [r["wall_s"] for r in rows.get(step, [])]
        return statistics.median(walls) if walls else None

    out = ["| operation | median wall s [min-max] | MB/s | files/s | net s | net MB/s | "
           "CPU s dir/sd/fd | peak RSS MiB dir/sd/fd |", "|---|---|---|---|---|---|---|---|"]
    order = [s for s in rows if s != "daemon_startup"]
    for step in order:
        rs = rows[step]
        walls = [r["wall_s"] for r in rs]
        m = statistics.median(walls)
        r0 = rs[0]
        mbs = r0["bytes"] / 1e6 / m if m else 0
        fps = r0["files"] / m if m else 0
        net = netmbs = ""
        if r0.get("mode") in ("backup", "restore") and "tiny" not in step.lower():
            tiny = med("ours_backup_BackupTiny" if r0["mode"] == "backup" else "ours_restore_tiny")
            if tiny is not None:
                n = m - tiny
                net = f"{n:.2f}"
                netmbs = f"{r0['bytes'] / 1e6 / n:.0f}" if n > 0 else "n/a"
        cpu = rss = ""
        if "cpu_s" in r0:
            cpu = "/".join(f"{statistics.median(r['cpu_s'][k] for r in rs):.2f}" for k in ("dir", "sd", "fd"))
            rss = "/".join(f"{max(r['hwm_mib'][k] for r in rs):.0f}" for k in ("dir", "sd", "fd"))
        rng = f"{m:.2f} [{min(walls):.2f}-{max(walls):.2f}]"
        out.append(f"| {step} | {rng} | {mbs:.1f} | {fps:,.1f} | {net} | {netmbs} | {cpu} | {rss} |")
    if "daemon_startup" in rows:
        out.append(f"| daemons start (all listening) | {med('daemon_startup'):.2f} | | | | | | |")
    text = "\n".join(out) + "\n"
    text += f"\nruns: {len(list(results_dir.glob('run_*')))}; dataset: {json.dumps(facts)}\n"
    if bacula_summary is not None:
        text += "\nBacula peer, same sitting:\n\n" + bacula_summary
    return text


# ----------------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--work", default=os.environ.get("BAREOS_BENCH_WORK", "/var/tmp/bareos-bench"))
    p.add_argument("--data", help="dataset dir with large/ and small/ (default WORK/data)")
    p.add_argument("--nosig", action="store_true", help="also the no-signature backups (as the peer)")
    p.add_argument("--no-tar", action="store_true", help="skip the tar baselines")
    p.add_argument("--bacula", action="store_true",
                   help="then run the Bacula peer (run.sh --runs N) in WORK/bacula-peer on the same data")
    p.add_argument("--keep", action="store_true", help="keep the restored trees at the end")
    args = p.parse_args(argv)
    work = Path(args.work).resolve()
    args.work = str(work)
    args.data = str(Path(args.data).resolve()) if args.data else str(work / "data")
    work.mkdir(parents=True, exist_ok=True)

    if not (Path(args.data) / "large").is_dir() or not (Path(args.data) / "small").is_dir():
        log(f"generating the dataset into {args.data}")
        subprocess.run([sys.executable, str(PEER / "make_dataset.py"), "--out", args.data,
                        "--manifest", str(Path(args.data) / "manifest.sha256")], check=True)
    marker = work / ".last_bulk_delete"
    if marker.exists() and ext4_no_journal(work) and EXT4_WAIT > 0:
        left = EXT4_WAIT - (time.time() - marker.stat().st_mtime)
        if left > 0:
            log(f"waiting {left:.0f} s: trees were deleted recently on ext4 without a journal "
                f"(see bench/README.md; BAREOS_BENCH_EXT4_WAIT=0 skips)")
            time.sleep(left)
    restore_root = work / "restore"
    if restore_root.exists() and any(restore_root.iterdir()):
        sys.exit(f"{restore_root} holds trees of an earlier session: delete it, then wait 6 min "
                 f"(or rerun: this script deletes them at the end of a session)")
    facts = dataset_facts(args.data)
    log(f"dataset {args.data}: {facts}")
    log("reading the dataset once (page cache)")
    read_tree(args.data)
    results_dir = work / "results"
    if results_dir.exists():
        results_dir.rename(work / f"results.old.{int(time.time())}")
    results_dir.mkdir()
    env = subprocess.run("uname -a; nproc; free -m | sed -n 2p; findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "
                         + args.work + "; " + default_python() + " --version; tar --version | head -1",
                         shell=True, capture_output=True, text=True).stdout
    (results_dir / "env.txt").write_text(env)

    ok = True
    for run in range(1, args.runs + 1):
        ok &= one_run(args, run, facts, results_dir)

    bacula_text = None
    if args.bacula:
        peer_work = work / "bacula-peer"
        log(f"Bacula peer: {PEER / 'run.sh'} --runs {args.runs} --work {peer_work} --data {args.data}")
        done = subprocess.run([str(PEER / "run.sh"), "--runs", str(args.runs), "--work", str(peer_work),
                               "--data", args.data])
        ok &= done.returncode == 0
        summary = peer_work / "summary.md"
        bacula_text = summary.read_text() if summary.exists() else "(no summary.md)\n"

    text = summarize(results_dir, facts, bacula_text)
    (work / "summary.md").write_text(text)
    log("\n" + text)
    if not args.keep:
        log("deleting the restored trees (the next session waits out the ext4 window)")
        shutil.rmtree(restore_root, ignore_errors=True)
        shutil.rmtree(work / "ours", ignore_errors=True)
        marker.touch()
    verify_lines = [l for f in results_dir.glob("run_*/verify.txt") for l in f.read_text().splitlines()]
    log(f"verified: {sum(' OK' in l for l in verify_lines)} OK, "
        f"{sum('FAILED' in l for l in verify_lines)} FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
