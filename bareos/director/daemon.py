"""The director daemon: consoles, jobs, the catalog, and links to the other daemons."""

import contextlib

from twisted.internet import defer
from twisted.logger import Logger

from bareos.catalog.service import CatalogService
from bareos.config import ConfigError
from bareos.config.schemas import DIRECTOR
from bareos.daemon.service import Daemon
from bareos.director.client_connections import (
    ClientConnectionPool, accept_client_connection, may_connect_to_director)
from bareos.director.console.session import DEFAULT_CONSOLE, ConsoleLimitReached, accept_console
from bareos.director.jobs.manager import JobManager
from bareos.director.jobs.reconcile import reconcile_unfinished_jobs
from bareos.director.messages import MessageRouter
from bareos.director.scheduler import Scheduler, parse_schedules
from bareos.protocol.admission import ThrottledLog
from bareos.protocol.hello import HelloKind

LEVEL_POOLS = {"F": "full_backup_pool", "I": "incremental_backup_pool",
               "D": "differential_backup_pool"}


def check_director_config(config):
    """The director's rules beyond the schema (ConfigError): Run lines that parse, a Catalog."""
    parse_schedules(config)
    if not config.resources("catalog"):
        director = config.only("director")
        raise ConfigError(director.location[0], None,
                          "no Catalog resource defined: the director needs one "
                          "(the simplest: Catalog { Name = MyCatalog; DB Driver = sqlite3; "
                          "DB Name = bareos })")


class Director(Daemon):
    log = Logger(namespace="bareos.director")
    schema = DIRECTOR
    own_resource_type = "director"

    def __init__(self, config, reactor=None, config_path=None):
        """``config_path``: what the configuration was loaded from (``-c``), which
        ``reload`` reads again and ``configure add`` writes into; None for a configuration
        given as text (then neither is possible)."""
        super().__init__(config, reactor)
        self.config_path = config_path
        self.resource = config.only("director")
        self.name = self.resource.name
        self.qualified_name = f"R_DIRECTOR::{self.name}"
        self.consoles = []
        self.console_logins = 0          # consoles authenticating now (see console_login)
        self.console_refusals = ThrottledLog(self.log, self.reactor,
                                             self.resource.failed_login_window)
        self.pool_ids = {}
        # What retention is measured against (volume LastWritten, prune "now"): the reactor;
        # a test may put a twisted.internet.task.Clock here to live through a year at once.
        self.clock = self.reactor
        self.messages = MessageRouter(self)
        self.jobs = JobManager(self)
        self.listen(self.resource.addresses)
        self.scheduler = Scheduler(self, self.reactor)
        self.scheduler.setServiceParent(self.intake)
        self.client_connections = ClientConnectionPool(self.reactor)
        self.client_connections.setServiceParent(self)
        catalogs = config.resources("catalog")
        self.catalog_service = CatalogService(
            catalogs[0] if catalogs else None, self.resource.working_directory, self.reactor,
            prepare=self._prepare_catalog)
        self.catalog_service.setServiceParent(self)

    @property
    def catalog(self):
        """The open catalog, or None before it is open and once it has closed."""
        return self.catalog_service.catalog

    @property
    def catalog_driver(self):
        return self.catalog_service.driver

    @property
    def jobs_run(self):
        return self.jobs.jobs_run

    def catalog_problem(self, error):
        """The one line a console or a job is told when the catalog failed:
        "catalog MyCatalog: <reason>" (the reason names the database and the server)."""
        resource = self.catalog_service.resource
        return f"catalog {resource.name if resource else '(none configured)'}: {error}"

    def catalog_ready(self):
        """A Deferred that fires with the catalog once it is open."""
        return self.catalog_service.ready()

    async def _prepare_catalog(self, catalog):
        """Before the catalog is published: its rows for our resources, and the jobs an
        earlier director left unfinished settled (no job of ours can exist yet)."""
        await self._register_resources(catalog)
        await reconcile_unfinished_jobs(self, catalog)

    async def _register_resources(self, catalog):
        """Clients, pools and storages of the configuration get their catalog rows."""
        for client in self.config.resources("client"):
            await catalog.ensure_client(client.name, auto_prune=int(bool(client.auto_prune)),
                                        file_retention=client.file_retention,
                                        job_retention=client.job_retention)
        for storage in self.config.resources("storage"):
            await catalog.ensure_storage(storage.name)
        for pool in self.config.resources("pool"):
            await self.register_pool(catalog, pool)

    async def register_pool(self, catalog, pool):
        """The catalog's Pool row follows the Pool resource (also ``update pool``)."""
        self.pool_ids[pool.name] = await catalog.ensure_pool(
            pool.name, pool_type=pool.pool_type or "Backup", label_format=pool.label_format,
            max_volume_bytes=pool.maximum_volume_bytes or 0,
            volume_use_duration=pool.volume_use_duration or 0,
            max_volume_jobs=pool.maximum_volume_jobs or 0,
            max_volume_files=pool.maximum_volume_files or 0,
            max_vols=pool.maximum_volumes or 0, volume_retention=pool.volume_retention,
            recycle=int(pool.recycle is not False), auto_prune=int(pool.auto_prune is not False))
        return self.pool_ids[pool.name]

    # -- the configuration at run time -------------------------------------------------

    def check_config(self, config):
        check_director_config(config)

    async def use_config(self, config):
        """After ``reload`` (Bareos' command, or SIGHUP): jobs already running keep the
        resources they started with; new jobs, consoles and the scheduler use the new
        ones, and ``enable``/``disable`` settings made at run time are gone.  Waiting
        client-initiated connections of Clients removed (or no longer allowed) close.  Clients,
        pools and storages new in the configuration get their catalog rows, and the
        catalog's pools follow their resources."""
        self.scheduler.schedules = parse_schedules(config)
        self.client_connections.close_unless(
            lambda name: may_connect_to_director(config, name))
        catalog = self.catalog
        if catalog is not None:
            await self._register_resources(catalog)

    async def adopt_resource(self, resource):
        """Put a resource new on disk (``configure add``) into the running configuration,
        keeping what ``enable``/``disable`` changed in the others; a new client, pool or
        storage gets its catalog row."""
        self.config.add(resource)
        catalog = self.catalog
        if catalog is not None:
            await self._register_resources(catalog)

    # -- jobs, when the director stops ----------------------------------------------------

    def has_running_jobs(self):
        return bool(self.jobs.running or self.jobs.waiting)

    def cancel_jobs(self, reason):
        self.jobs.cancel_all(reason)

    def abandon_jobs(self):
        return defer.ensureDeferred(self.jobs.record_unfinished())

    # -- configuration helpers ---------------------------------------------

    def pool_for_level(self, job_resource, level, default_pool):
        """The Full/Incremental/Differential Backup Pool of a job, if it names one."""
        name = getattr(job_resource, LEVEL_POOLS.get(level, ""), None)
        return self.config.get("pool", name) if name else default_pool

    # -- connections ---------------------------------------------------------

    def psk_key(self, resource_type, name):
        if resource_type == "R_CONSOLE":
            if name == DEFAULT_CONSOLE:
                return self.resource.password.key
            console = self.config.get("console", name)
            return console.password.key if console else None
        if resource_type == "R_CLIENT":
            client = self.config.get("client", name)
            return client.password.key if client else None
        return None

    def hello_handlers(self):
        return {HelloKind.CONSOLE: lambda conn, hello: accept_console(self, conn, hello),
                HelloKind.CLIENT: lambda conn, hello: accept_client_connection(self, conn, hello)}

    def client_connected(self, client):
        """A client dialled in: start its jobs that want to run on incoming connections."""
        self.spawn(self.jobs.run_on_incoming_connect(client),
                   f"Starting the jobs of client {client.name} on its connection")

    def minimum_connections(self):
        # Bareos' rule: Maximum Connections leaves room for the consoles and ten others
        return self.resource.maximum_console_connections + 10

    def minimum_waiting_connections(self):
        # every client that dials us may do so in the same second (after our restart)
        return sum(1 for client in self.config.resources("client")
                   if client.connection_from_client_to_director)

    @contextlib.contextmanager
    def console_login(self):
        """Count a console login in progress against Maximum Console Connections, as Bareos
        does (it counts consoles still authenticating); raises ConsoleLimitReached when the
        limit is reached, before any authentication work."""
        if len(self.consoles) + self.console_logins >= self.resource.maximum_console_connections:
            raise ConsoleLimitReached(self.resource.maximum_console_connections)
        self.console_logins += 1
        try:
            yield
        finally:
            self.console_logins -= 1

    def admit_console(self, session):
        self.consoles.append(session)

    def release_console(self, session):
        if session in self.consoles:
            self.consoles.remove(session)

    # -- what status reports -------------------------------------------------

    def scheduled_jobs(self):
        return self.scheduler.upcoming()

    def running_jobs(self):
        return [job.summary() for job in list(self.jobs.running.values()) + self.jobs.waiting]

    def terminated_jobs(self):
        return [job.summary() for job in self.jobs.terminated]

    def waiting_client_connections(self):
        return self.client_connections.entries()
