"""The file tree of an interactive restore: what ``restore`` builds for a point in time and
what ``cd``, ``ls``, ``mark`` ... work on (Bareos ``ua_tree``).

Pure: no catalog, no console.  The tree is fed the File rows of the chosen jobs, oldest job
first (``add``); the newest version of each name wins, and a newest version that is a
deletion marker (FileIndex <= 0, an Accurate backup's "deleted since") takes the name out,
so the tree holds exactly what the point in time held.  A directory that only appears as
the path of something below it (no record of its own) is *implicit*: shown, walked, marked
along, but neither counted nor restored itself (Bareos' "NewDir").

Marking is recursive for directories; ``marked_below`` counts marked nodes under a node
so ``ls`` can tag a directory holding marked files with ``+`` without walking it.
"""

from __future__ import annotations

import fnmatch
import grp
import pwd
import stat
import time
from typing import Dict, Iterator, List, Optional, Tuple

from bareos.catalog.api import name_text
from bareos.filedaemon.attributes import decode_lstat


class Node:
    __slots__ = ("name", "parent", "children", "job_id", "file_index", "lstat", "marked",
                 "marked_below")

    def __init__(self, name: str, parent: Optional["Node"], is_dir: bool):
        self.name = name
        self.parent = parent
        self.children: Optional[Dict[str, Node]] = {} if is_dir else None
        self.job_id = 0                 # 0: no record of its own (an implicit directory)
        self.file_index = 0
        self.lstat = ""
        self.marked = False
        self.marked_below = 0           # marked nodes strictly below this one

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    @property
    def has_record(self) -> bool:
        return self.job_id != 0

    @property
    def tag(self) -> str:
        """Bareos' mark column: ``*`` marked, ``+`` something below is marked."""
        return "*" if self.marked else ("+" if self.marked_below else "")

    @property
    def display_name(self) -> str:
        return self.name + "/" if self.is_dir else self.name

    def sorted_children(self) -> List["Node"]:
        return [self.children[name] for name in sorted(self.children)] if self.children else []


def split_components(path: str) -> List[str]:
    """``/etc/ssh/`` -> ``['etc', 'ssh']``; ``C:/x`` -> ``['C:', 'x']``; relative plugin
    paths (``@bpipe@/x``) are components below the root too."""
    return [part for part in path.split("/") if part]


class RestoreTree:
    def __init__(self):
        self.root = Node("", None, is_dir=True)
        self.cwd = self.root
        self.file_count = 0             # nodes with a record of their own (Bareos' "files")
        self._directories: Dict[str, Node] = {}     # Path value -> its node, while adding

    # --- building -----------------------------------------------------------------------

    def add(self, path: str, name: str, job_id: int, file_index: int, lstat: str = "") -> None:
        """One File row (see ``add_rows``)."""
        self.add_rows(job_id, [(path, name, file_index, lstat)])

    def add_rows(self, job_id: int, rows) -> None:
        """File rows of one job: (Path, Name, FileIndex, LStat, ...), names as str or as
        the catalog's bytes.  Jobs come oldest first; a later row of a name replaces an earlier
        one.  ``Name`` is empty for a directory's own record (``Path`` is the directory).
        One loop for millions of rows: a directory's node is looked up once per run of
        rows with the same Path."""
        last_path = directory = None
        for path, name, file_index, lstat, *_ in rows:
            if type(name) is not str:
                name = name_text(name)
            if file_index <= 0:
                path = path if type(path) is str else name_text(path)
                self._forget(split_components(path) + ([name] if name else []))
                last_path = None                # the directory may be gone
                continue
            if path is not last_path and path != last_path:
                last_path = path
                directory = self._directory(path if type(path) is str else name_text(path))
            node = directory
            if name:
                children = node.children
                node = children.get(name)
                if node is None:
                    node = children[name] = Node(name, directory, is_dir=False)
            elif node is self.root:
                continue                        # the root itself has no restorable record
            if not node.job_id:
                self.file_count += 1
            node.job_id, node.file_index, node.lstat = job_id, file_index, lstat

    def _directory(self, path: str) -> Node:
        """The directory node of a Path value, made with its parents when new.  Rows come
        grouped by directory, so the node of each path is remembered."""
        node = self._directories.get(path)
        if node is not None:
            return node
        node = self.root
        for part in split_components(path):
            if node.children is None:   # a name that was a file is now a directory
                node.children = {}
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = Node(part, node, is_dir=True)
            node = child
        if node.children is None:
            node.children = {}
        self._directories[path] = node
        return node

    def _forget(self, components: List[str]) -> None:
        """A deletion marker: the name's own record goes; a directory still holding
        names (recorded by the same backup) stays as an implicit directory."""
        node: Optional[Node] = self.root
        for part in components:
            node = node.children.get(part) if node and node.children else None
            if node is None:
                return
        if node.has_record:
            self.file_count -= 1
            node.job_id, node.file_index, node.lstat = 0, 0, ""
        while node is not self.root and not node.has_record and not node.children:
            del node.parent.children[node.name]
            node = node.parent
            self._directories.clear()           # it may hold a removed directory

    # --- walking ------------------------------------------------------------------------

    def full_path(self, node: Node) -> str:
        """``/etc/ssh/`` for a directory, ``/etc/hosts`` for a file; the root is ``/``."""
        parts = []
        walk = node
        while walk is not self.root:
            parts.append(walk.name)
            walk = walk.parent
        text = "/" + "/".join(reversed(parts))
        if parts and node.is_dir:
            text += "/"
        return text

    def pwd(self) -> str:
        return self.full_path(self.cwd)

    def node_at(self, path: str) -> Optional[Node]:
        """The file or directory ``path`` names exactly (no wildcards): absolute, or
        relative to the current directory; ``..`` and ``.`` work.  None if there is none."""
        node = self.root if path.startswith("/") else self.cwd
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                node = node.parent or node
                continue
            node = node.children.get(part) if node.children else None
            if node is None:
                return None
        return node

    def resolve(self, path: str) -> Optional[Node]:
        """The directory ``path`` names, or None."""
        node = self.node_at(path)
        return node if node is not None and node.is_dir else None

    def cd(self, path: str) -> bool:
        node = self.resolve(path)
        if node is None:
            return False
        self.cwd = node
        return True

    def listing(self, pattern: Optional[str] = None) -> List[Node]:
        """The current directory's entries (sorted), those matching ``pattern`` if given."""
        return [child for child in self.cwd.sorted_children()
                if pattern is None or fnmatch.fnmatchcase(child.name, pattern)]

    def walk(self, start: Optional[Node] = None) -> Iterator[Node]:
        """Every node below ``start`` (default: the root) in name order, depth first."""
        stack = list(reversed((start or self.root).sorted_children()))
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.sorted_children()))

    def find(self, pattern: str) -> List[Node]:
        return [node for node in self.walk() if fnmatch.fnmatchcase(node.name, pattern)]

    # --- marking ------------------------------------------------------------------------

    def mark(self, spec: str, marked: bool = True) -> int:
        """Mark (or unmark) what ``spec`` matches, directories with everything below;
        returns how many files (nodes with a record) changed.  ``spec`` is a name or a
        path, absolute or relative to the current directory, each component a shell
        wildcard; ``**`` matches any number of directories."""
        spec = spec.rstrip("/") if spec != "/" else spec
        parts = spec.split("/")
        if parts[0] == "":
            start, parts = self.root, [p for p in parts[1:] if p] or ["*"]
        else:
            start = self.cwd
        changed = 0
        seen = set()
        stack: List[Tuple[Node, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            part = parts[index]
            last = index + 1 == len(parts)
            if part == "**" and not last:
                stack.append((node, index + 1))
                stack.extend((child, index) for child in node.sorted_children() if child.is_dir)
                continue
            for child in node.sorted_children():
                if not fnmatch.fnmatchcase(child.name, part):
                    continue
                if last:
                    if id(child) not in seen:
                        seen.add(id(child))
                        changed += self._set_marked(child, marked)
                elif child.is_dir:
                    stack.append((child, index + 1))
        return changed

    def mark_path(self, path: str) -> bool:
        """Mark the file or directory (with everything below) of this exact path."""
        node = self.node_at(path)
        if node is None or node is self.root:
            return False
        self._set_marked(node, True)
        return True

    def mark_directory_only(self, node: Node, marked: bool) -> bool:
        """``markdir``: the directory itself, not what is below it; True if it changed."""
        if node.marked == marked:
            return False
        node.marked = marked
        parent = node.parent
        while parent is not None:
            parent.marked_below += 1 if marked else -1
            parent = parent.parent
        return True

    def mark_all(self) -> int:
        return sum(self._set_marked(child, True) for child in self.root.sorted_children())

    def _set_marked(self, top: Node, marked: bool) -> int:
        """Set ``top`` and everything below it; keep ``marked_below`` of it, its subtree
        and its ancestors right.  Returns how many files changed."""
        subtree = [top]
        index = 0
        while index < len(subtree):             # breadth first: parents before children
            node = subtree[index]
            if node.children:
                subtree.extend(node.children.values())
            index += 1
        changed = 0
        before = top.marked_below + top.marked
        for node in reversed(subtree):         # children before parents
            if node.marked != marked and node.has_record:
                changed += 1
            node.marked = marked
            node.marked_below = (sum(c.marked_below + c.marked for c in node.children.values())
                                 if node.children else 0)
        delta = top.marked_below + top.marked - before
        parent = top.parent
        while parent is not None and delta:
            parent.marked_below += delta
            parent = parent.parent
        return changed

    # --- what is marked -----------------------------------------------------------------

    def count(self) -> Tuple[int, int]:
        """(files, marked files) of the whole tree, as Bareos' ``count``."""
        total = marked = 0
        for node in self.walk():
            if node.has_record:
                total += 1
                marked += node.marked
        return total, marked

    def estimate(self) -> Tuple[int, int, int]:
        """(files, marked files, bytes of the marked regular files), Bareos' ``estimate``."""
        total = marked = size = 0
        for node in self.walk():
            if not node.has_record:
                continue
            total += 1
            if node.marked:
                marked += 1
                if not node.is_dir and node.lstat:
                    st = decode_lstat(node.lstat)
                    if stat.S_ISREG(st.mode) and st.size > 0:
                        size += st.size
        return total, marked, size

    def marked_lines(self, start: Optional[Node] = None, pattern: Optional[str] = None
                     ) -> List[str]:
        """``lsmark``: the marked names in and below ``start`` (the current directory),
        indented by depth, directories holding marked files tagged ``+``."""
        lines: List[str] = []
        stack = [(child, 0) for child in reversed((start or self.cwd).sorted_children())]
        while stack:
            node, depth = stack.pop()
            if not (node.marked or node.marked_below):
                continue
            if pattern is not None and not fnmatch.fnmatchcase(node.name, pattern):
                continue
            lines.append("  " * min(depth, 100) + node.tag + node.display_name)
            if node.children:
                stack.extend((child, depth + 1) for child in reversed(node.sorted_children()))
        return lines

    def selection(self) -> Dict[int, set]:
        """{JobId: set of FileIndexes} of the marked files: what the restore job reads.  A
        marked hard link brings the first name it links to (same job), which holds the
        data: the file daemon links to it (Bareos does the same)."""
        chosen: Dict[int, set] = {}
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.marked and node.has_record:
                indexes = chosen.setdefault(node.job_id, set())
                indexes.add(node.file_index)
                first_name = hard_link_target(node.lstat)
                if first_name:                  # its data are saved with the first name
                    indexes.add(first_name)
            if node.children and (node.marked_below or node is self.root):
                stack.extend(node.children.values())
        return chosen


def hard_link_target(lstat: str) -> int:
    """The FileIndex of the first name a hard link's LStat points to (LinkFI), else 0.
    Only a hard link has a LinkFI field other than ``A`` (0): nothing else is decoded."""
    fields = lstat.split(" ", 14)
    if len(fields) < 14 or fields[13] == "A":
        return 0
    return decode_lstat(lstat).link_fi


# --- the long listing of ``dir`` -------------------------------------------------------

def user_name(uid: int) -> str:
    """The director host's name of a uid (as Bareos shows owners), else the number."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def long_line(tree: RestoreTree, node: Node) -> str:
    """One line of ``dir``: mode, links, owner, group, size, the newer of mtime and
    ctime, the mark and the full path (Bareos' layout)."""
    st = decode_lstat(node.lstat) if node.lstat else None
    mode = st.mode if st else 0
    newest = max(st.mtime, st.ctime) if st else 0
    uid, gid = (st.uid, st.gid) if st else (0, 0)
    return (f"{stat.filemode(mode) if mode else '----------'}  {st.nlink if st else 0:2d} "
            f"{uid} ({user_name(uid)[:8]}) {gid} ({group_name(gid)[:8]})  "
            f"{st.size if st else 0:>12}  "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(newest))} "
            f"{node.tag or ' '} {tree.full_path(node)}")
