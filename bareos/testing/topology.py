"""Several file and storage daemons and one director, each on an address of its own.

:class:`Topology` writes the configuration trees of a director, any number of
file daemons and storage daemons, starts them as real ``twistd`` processes
(optionally inside network namespaces, see :mod:`bareos.testing.netns`) and
runs bconsole against the director.  It is what the network-setup tests need
that :class:`bareos.testing.daemons.Suite` (one daemon of each kind, all on
127.0.0.1) does not give:

* every daemon listens on its own address (``listen``), and the director's
  Client / Storage resources may name another ``Address`` (a NAT's outside
  address or a relay) and a ``Lan Address``;
* every file daemon appears twice in the director: as Client ``<name>`` and as
  Client ``<name>-passive`` (``Passive = yes``), so one director runs a job in
  either mode with ``run ... client=<name>[-passive]``;
* every storage daemon has its own Media Type (``File-<name>``), so volumes of
  one storage daemon are never handed to another one.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from bareos.config.writer import Quoted, Resource, resource, resource_files, write_file
from bareos.testing.daemons import (
    CATALOG, PLUGINS, REPO_ROOT, DaemonProcess, daemon_env, default_python, director_of_daemon,
    file_device, generate_password, messages_to_director, tls_directives, write_config_tree)


@dataclass
class Node:
    """One file or storage daemon, as it listens and as the director names it."""

    kind: str                           # "fd" or "sd"
    name: str
    listen: str                         # the address it listens on
    port: int
    address: str                        # the director's Address for it
    lan_address: Optional[str] = None   # the director's Lan Address for it
    netns: Optional[str] = None
    tls: bool = False
    extra: Sequence[str] = ()           # more lines for its own Client / Storage resource
    password: str = field(default_factory=generate_password)
    process: Optional[DaemonProcess] = None

    @property
    def media_type(self) -> str:
        return f"File-{self.name}"


@dataclass
class StorageAlias:
    """One more Storage resource of the director for a storage daemon, with an Address and
    Lan Address of its own (e.g. the same daemon without its Lan Address)."""

    name: str
    sd: Node
    address: str
    lan_address: Optional[str] = None

    @property
    def port(self) -> int:
        return self.sd.port


def netns_prefix(netns: Optional[str]) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


class Topology:
    def __init__(self, base, *, director_host: str, director_port: int,
                 director_netns: Optional[str] = None, director_name: str = "bareos-dir",
                 source: Optional[Path] = None):
        self.base = Path(base)
        self.etc = self.base / "etc"
        self.run_dir = self.base / "run"
        for d in (self.etc, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.director_name = director_name
        self.director_host = director_host
        self.director_port = director_port
        self.director_netns = director_netns
        self.director_password = generate_password()
        self.source = source
        self.fds: dict[str, Node] = {}
        self.sds: dict[str, Node] = {}
        self.extra_clients: list[Resource] = []
        self.storage_aliases: dict[str, StorageAlias] = {}
        self.director: Optional[DaemonProcess] = None

    # -- declaring ------------------------------------------------------------

    def add_fd(self, name, listen, port, *, address=None, lan_address=None, netns=None,
               tls=False, extra=()) -> Node:
        node = Node("fd", name, listen, port, address or listen, lan_address, netns, tls, extra)
        self.fds[name] = node
        return node

    def add_sd(self, name, listen, port, *, address=None, lan_address=None, netns=None,
               tls=False, extra=()) -> Node:
        node = Node("sd", name, listen, port, address or listen, lan_address, netns, tls, extra)
        self.sds[name] = node
        return node

    def add_client(self, name, fd: Node, *, address=None, lan_address=None, passive=False):
        """One more Client resource for the file daemon *fd* (e.g. with a wrong Lan Address)."""
        self.extra_clients.append(self._client(name, fd, address or fd.address, lan_address,
                                               passive))

    def add_storage(self, name, sd: Node, *, address=None, lan_address=None) -> StorageAlias:
        """One more Storage resource for the storage daemon *sd* (e.g. without its Lan Address)."""
        alias = StorageAlias(name, sd, address or sd.address, lan_address)
        self.storage_aliases[name] = alias
        return alias

    def storage(self, name):
        """The Storage resource ``name`` as the director knows it: a daemon or an alias."""
        return self.sds.get(name) or self.storage_aliases[name]

    # -- configuration text ----------------------------------------------------

    def _client(self, name, fd, address, lan_address, passive) -> Resource:
        return Resource("Client", [
            {"Name": name, "Address": address, "Port": fd.port, "Lan Address": lan_address,
             "Password": Quoted(fd.password), "Passive": passive or None},
            *tls_directives(fd.tls)])

    def _storage(self, name, sd, address, lan_address) -> Resource:
        return Resource("Storage", [
            {"Name": name, "Address": address, "Port": sd.port, "Lan Address": lan_address,
             "Password": Quoted(sd.password), "Device": "FileStorage", "Media Type": sd.media_type},
            *tls_directives(sd.tls)])

    def director_resources(self, extra_resources=None) -> dict[str, str]:
        first_fd, first_sd = next(iter(self.fds)), next(iter(self.sds))
        job = {"Client": first_fd, "FileSet": "TestSet", "Storage": first_sd, "Pool": "Full",
               "Messages": "Standard"}
        return resource_files(
            Resource("Director", {
                "Name": self.director_name, "DirAddress": self.director_host,
                "DirPort": self.director_port, "Password": Quoted(self.director_password),
                "Working Directory": self._work("dir"), "Messages": "Daemon",
                "TLS Enable": False, "TLS Require": False}),
            Resource("Messages", {"Name": "Daemon", "Console": "all"}),
            Resource("Messages", {"Name": "Standard", "Console": "all", "Catalog": "all"}),
            CATALOG,
            Resource("Pool", {"Name": "Full", "Pool Type": "Backup", "Label Format": Quoted("Full-")}),
            Resource("FileSet", {"Name": "TestSet", "Include": {"Options": {"Signature": "MD5"},
                                                                "File": Path(self.source)}}),
            *(self._client(name, fd, fd.address, fd.lan_address, passive)
              for fd in self.fds.values()
              for name, passive in ((fd.name, False), (f"{fd.name}-passive", True))),
            *self.extra_clients,
            *(self._storage(sd.name, sd, sd.address, sd.lan_address) for sd in self.sds.values()),
            *(self._storage(alias.name, alias.sd, alias.address, alias.lan_address)
              for alias in self.storage_aliases.values()),
            Resource("Job", {"Name": "backup", "Type": "Backup", "Level": "Full", **job}),
            Resource("Job", {"Name": "RestoreFiles", "Type": "Restore", **job,
                             "Where": self.base / "restores"}),
        ) | dict(extra_resources or {})

    def fd_resources(self, fd: Node) -> dict[str, str]:
        # 5 s unless the test's extra lines set their own (a directive may not appear twice)
        sd_connect_timeout = (None if any("sd connect timeout" in line.lower() for line in fd.extra)
                              else 5)
        return resource_files(
            Resource("Client", [
                {"Name": fd.name, "FdAddress": fd.listen, "FdPort": fd.port,
                 "Working Directory": self._work(fd.name), "SD Connect Timeout": sd_connect_timeout},
                *tls_directives(fd.tls), *fd.extra]),
            director_of_daemon(self.director_name, fd.password, fd.tls),
            messages_to_director(self.director_name),
        )

    def sd_resources(self, sd: Node) -> dict[str, str]:
        storage = self.base / f"storage-{sd.name}"
        storage.mkdir(parents=True, exist_ok=True)
        return resource_files(
            Resource("Storage", [
                {"Name": sd.name, "SdAddress": sd.listen, "SdPort": sd.port,
                 "Working Directory": self._work(sd.name)},
                *tls_directives(sd.tls), *sd.extra]),
            director_of_daemon(self.director_name, sd.password, sd.tls),
            file_device(storage, sd.media_type, extra=["Maximum Concurrent Jobs = 5"]),
            messages_to_director(self.director_name),
        )

    def _work(self, name) -> Path:
        path = self.base / f"work-{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- running ----------------------------------------------------------------

    def _process(self, kind, name, files, host, port, netns) -> DaemonProcess:
        root = self.etc / name
        write_config_tree(root, f"{PLUGINS[kind]}.d", files)
        return DaemonProcess(PLUGINS[kind], root, port=port, host=host, run_dir=self.run_dir,
                             name=name, command_prefix=netns_prefix(netns))

    def start(self, extra_resources=None) -> "Topology":
        """Start the storage daemons, the file daemons, then the director."""
        procs = []
        for sd in self.sds.values():
            sd.process = self._process("sd", sd.name, self.sd_resources(sd), sd.listen, sd.port,
                                       sd.netns)
            procs.append(sd.process)
        for fd in self.fds.values():
            fd.process = self._process("fd", fd.name, self.fd_resources(fd), fd.listen, fd.port,
                                       fd.netns)
            procs.append(fd.process)
        self.director = self._process("dir", self.director_name,
                                      self.director_resources(extra_resources),
                                      self.director_host, self.director_port, self.director_netns)
        procs.append(self.director)
        for proc in procs:              # all at once: they start in parallel
            proc.start(wait=False)
        for proc in procs:
            proc.wait_listening()
        return self

    def processes(self) -> list[DaemonProcess]:
        nodes = list(self.sds.values()) + list(self.fds.values())
        procs = [n.process for n in nodes if n.process is not None]
        return procs + ([self.director] if self.director is not None else [])

    def stop(self) -> None:
        for proc in self.processes():
            proc.stop()

    def describe(self) -> str:
        return "\n".join(proc.describe() for proc in self.processes())

    def console(self, commands: str, timeout: float = 300) -> str:
        """bconsole (in the director's namespace, if any) with *commands* on its input."""
        config = write_file(self.etc / "bconsole.conf", resource("Director", {
            "Name": self.director_name, "Address": self.director_host,
            "DirPort": self.director_port, "Password": Quoted(self.director_password),
            "TLS Enable": False, "TLS Require": False}))
        argv = netns_prefix(self.director_netns) + [
            default_python(), "-m", "bareos.console.main", "-c", str(config)]
        result = subprocess.run(argv, input=commands, text=True, capture_output=True,
                                timeout=timeout, cwd=REPO_ROOT, env=daemon_env())
        if result.returncode != 0:
            raise AssertionError(f"bconsole failed ({result.returncode}):\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result.stdout
