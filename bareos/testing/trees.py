"""File trees for backup tests: build one with every kind of entry, snapshot it, compare.

A snapshot maps each relative path to what a restore must reproduce: type,
mode, owner, group, mtime (seconds), size, content digest, symlink target,
and which paths share an inode (hard links).
"""

import hashlib
import os
import stat

OLD_MTIME_NS = 946_684_800_123_456_789          # 2000-01-01 00:00:00.123456789 UTC


def make_tree(root, big_file_mib=100, small_files=10_000, seed=1):
    """Build the test tree of the backup issue under ``root``; return ``root``."""
    os.makedirs(root, exist_ok=True)
    rng = _Random(seed)
    with open(os.path.join(root, "big.bin"), "wb") as stream:
        block = rng.bytes(1 << 20)
        for index in range(big_file_mib):
            stream.write(block[index:] + block[:index])     # differs per MiB, cheap to make
    small = os.path.join(root, "small")
    for index in range(small_files):
        directory = os.path.join(small, f"d{index // 500:03d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"f{index:05d}.txt"), "wb") as stream:
            stream.write(rng.bytes(1 + (index * 7919) % 3000))
    os.makedirs(os.path.join(root, "empty dir", "nested empty"), exist_ok=True)
    open(os.path.join(root, "empty file"), "wb").close()
    names = os.path.join(root, "names")
    os.makedirs(names, exist_ok=True)
    for name in ("with space.txt", "naïve-日本語.txt", "new\nline.txt", "  leading spaces"):
        with open(os.path.join(names, name), "w", encoding="utf-8") as stream:
            stream.write(f"content of {name!r}\n")
    os.symlink("big.bin", os.path.join(root, "link-to-big"))
    os.symlink("/nonexistent/target", os.path.join(root, "dangling link"))
    os.symlink("names", os.path.join(root, "link-to-dir"))
    with open(os.path.join(root, "hardlink-a"), "wb") as stream:
        stream.write(b"shared by two names\n")
    os.link(os.path.join(root, "hardlink-a"), os.path.join(names, "hardlink-b"))
    os.mkfifo(os.path.join(root, "fifo"))
    secret = os.path.join(root, "private")
    os.makedirs(secret)
    with open(os.path.join(secret, "key"), "wb") as stream:
        stream.write(b"top secret\n")
    os.chmod(os.path.join(secret, "key"), 0o600)
    os.chmod(secret, 0o700)
    os.chmod(os.path.join(names, "with space.txt"), 0o444)
    if os.geteuid() == 0:
        os.chown(os.path.join(root, "empty file"), 1234, 5678)
    old = os.path.join(root, "old.txt")
    with open(old, "w") as stream:
        stream.write("written long ago\n")
    os.utime(old, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    os.utime(os.path.join(root, "empty dir"), ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return root


class _Random:
    def __init__(self, seed):
        self._state = hashlib.sha256(str(seed).encode()).digest()

    def bytes(self, count):
        out = bytearray()
        while len(out) < count:
            self._state = hashlib.sha256(self._state).digest()
            out += self._state * 64
        return bytes(out[:count])


def snapshot(root, ignore=()):
    """``{relative path: properties}`` of everything under ``root`` (``root`` itself excluded)."""
    entries = {}
    inodes = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if relative in ignore:
                continue
            info = os.lstat(path)
            entry = {"mode": stat.S_IMODE(info.st_mode), "type": stat.S_IFMT(info.st_mode),
                     "uid": info.st_uid, "gid": info.st_gid,
                     # whole seconds: the attribute record (LStat) carries no more
                     "mtime": info.st_mtime_ns // 1_000_000_000}
            if stat.S_ISREG(info.st_mode):
                entry["size"] = info.st_size
                entry["sha256"] = _digest(path)
                if info.st_nlink > 1:
                    inodes.setdefault((info.st_dev, info.st_ino), []).append(relative)
            elif stat.S_ISLNK(info.st_mode):
                entry["target"] = os.readlink(path)
            entries[relative] = entry
    for group in inodes.values():
        for relative in group:
            entries[relative]["links"] = sorted(group)
    return entries


def _digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def differences(expected, actual, limit=20):
    """Human-readable differences between two snapshots (empty when equal)."""
    problems = []
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            problems.append(f"missing: {path!r}")
        elif path not in expected:
            problems.append(f"unexpected: {path!r}")
        elif expected[path] != actual[path]:
            changed = {k: (expected[path].get(k), actual[path].get(k))
                       for k in set(expected[path]) | set(actual[path])
                       if expected[path].get(k) != actual[path].get(k)}
            problems.append(f"differs: {path!r}: {changed}")
        if len(problems) >= limit:
            problems.append("...")
            break
    return problems
