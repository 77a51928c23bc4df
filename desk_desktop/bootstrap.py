"""Composition root: settings → (private cluster) → engine → unit-of-work factory → scheduler.

Nothing here runs at import time. The GUI, the CLI and the tests all build their
objects through these functions, so they run the exact same code.

A database URL ending in ``?pooler=transaction`` goes through a transaction-pooling
PgBouncer: its connections then use no server-side prepared statements (PgBouncer before
1.21 cannot route them), and the change listener needs its own session address
(``DESK_LISTEN_URL``: PgBouncer in session mode, or the server itself).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from desk_desktop.config import Settings
from desk_desktop.db import migrate
from desk_desktop.db.local_cluster import LocalCluster
from desk_desktop.db.session import UnitOfWorkFactory, make_engine, normalize_url

log = logging.getLogger(__name__)


@dataclass
class Database:
    """An open database: where it is, its engine and the unit-of-work factory."""

    url: str
    engine: Engine
    uow_factory: UnitOfWorkFactory
    cluster: LocalCluster | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def is_private(self) -> bool:
        return self.cluster is not None

    def describe(self) -> str:
        """One line for the status bar: private or shared, and the server version."""
        with self.engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            user = conn.execute(text("SELECT session_user")).scalar_one()
        where = "private database" if self.is_private else f"shared server {self.engine.url.host or 'local socket'}"
        return f"{where} · PostgreSQL {version.split()[0]} · {user}"

    def close(self) -> None:
        self.engine.dispose()
        if self.cluster is not None:
            self.cluster.release_lease_and_stop_if_last()


POOLER_OPTION = "pooler"
POOLER_MODES = ("transaction", "session")


def through_transaction_pooler(url: str) -> bool:
    """Whether ``url`` says it goes through a transaction pool (``?pooler=transaction``)."""
    from desk_desktop.services.common import DeskError

    mode = make_url(normalize_url(url)).query.get(POOLER_OPTION)
    if mode is not None and mode not in POOLER_MODES:
        raise DeskError(f"The database URL's pooler={mode} is not understood: use pooler=transaction "
                        "(PgBouncer in transaction mode) or pooler=session.")
    return mode == "transaction"


def engine_for(url: str, **kw: Any) -> Engine:
    """An engine for ``url``; through a transaction pooler without server-side prepared statements."""
    if through_transaction_pooler(url):
        kw.setdefault("connect_args", {})["prepare_threshold"] = None
    bare = make_url(normalize_url(url)).difference_update_query([POOLER_OPTION])
    return make_engine(bare.render_as_string(hide_password=False), **kw)


def listen_url(settings: Settings, db: Database) -> str:
    """Where the change listener connects: ``DESK_LISTEN_URL``, else the database's own URL."""
    from desk_desktop.services.common import DeskError

    url = settings.listen_url or db.url
    given, own = make_url(normalize_url(url)), make_url(normalize_url(db.url))
    if given.password is None and own.password is not None and given.username in (None, own.username):
        # The password typed at login (never in a file) serves the listener's address too.
        url = given.set(username=own.username, password=own.password).render_as_string(hide_password=False)
    if through_transaction_pooler(url):
        raise DeskError("Live updates need a session: the database URL goes through a transaction pool "
                        "(pooler=transaction), where LISTEN does not work. Set DESK_LISTEN_URL to PgBouncer's "
                        "session-mode database or to the server itself.")
    return url


def private_cluster(settings: Settings) -> LocalCluster:
    return LocalCluster(settings.data_dir / "cluster", cluster_user=settings.cluster_user, bindir=settings.pg_bindir)


def open_database(settings: Settings, *, migrate_private: bool = True, check_schema: bool = True,
                  start_cluster: bool = True) -> Database:
    """Connect to the configured database, starting and migrating the private cluster if needed.

    Against a shared server the schema must match this app exactly (``SchemaMismatch``
    otherwise, with the command an administrator should run).
    """
    cluster = None
    if settings.uses_private_cluster:
        cluster = private_cluster(settings)
        if start_cluster:
            cluster.start()
            cluster.acquire_lease()
        url = cluster.url
    else:
        url = settings.database_url  # type: ignore[assignment]
    engine = engine_for(url)
    try:
        if cluster is not None and migrate_private:
            migrate.upgrade(engine)
        elif check_schema:
            migrate.check_schema(engine)
    except Exception:
        engine.dispose()
        if cluster is not None:
            cluster.release_lease_and_stop_if_last()
        raise
    return Database(url=url, engine=engine, uow_factory=UnitOfWorkFactory(engine), cluster=cluster)


@dataclass
class Workstation:
    """Everything a running workstation needs besides its widgets."""

    settings: Settings
    db: Database
    actor: Any
    scheduler: Any = None
    listener: Any = None
    demo_loaded: bool = False
    identity: str = ""  # "Organization · user" for the window

    def shutdown(self) -> None:
        """Explicit, ordered shutdown: scheduler, listener, then the database (and cluster)."""
        if self.scheduler is not None:
            try:
                self.db.uow_factory.remove_commit_listener(self.scheduler.on_commit)
                self.scheduler.shutdown()
            except Exception:  # noqa: BLE001 - keep shutting down
                log.exception("scheduler shutdown failed")
        if self.listener is not None:
            try:
                self.listener.stop()
            except Exception:  # noqa: BLE001
                log.exception("listener shutdown failed")
        self.db.close()


def resolve_actor(db: Database, *, load_demo_if_empty: bool = True) -> tuple[Any, bool]:
    """Who is working: the dispatcher mapped to the connected login role.

    On the private cluster an empty database gets the demo organization first (as the
    cluster's superuser), then the app switches to the private dispatcher login
    (``desk_local``), so it obeys row-level security exactly like a dispatcher on a
    shared server. A superuser connected to a shared server (an administrator) acts as an
    admin of the first organization; anyone else must be a mapped dispatcher.
    """
    from desk_desktop.services import demo
    from desk_desktop.services.session_info import NotADispatcher, current_actor, use_private_dispatcher

    demo_loaded = False
    if db.is_private:
        if load_demo_if_empty and demo.database_is_empty(uow_factory=db.uow_factory):
            demo.load_demo(uow_factory=db.uow_factory, planned=demo.DEMO_PLANNED)
            demo_loaded = True
        session = use_private_dispatcher(db)
        return session.actor, demo_loaded
    try:
        return current_actor(uow=db.uow_factory()), demo_loaded
    except NotADispatcher:
        if not _is_superuser(db):
            raise
    from sqlalchemy import select

    from desk_desktop.db.models import Organization
    from desk_desktop.services.common import Actor, DeskError

    with db.uow_factory() as uow:
        org = uow.session.execute(select(Organization.id, Organization.slug).order_by(Organization.id)).first()
    if org is None:
        raise DeskError("This database has no organization yet. Run 'desk-desktop demo' or "
                        "'desk-desktop admin add-organization'.")
    with db.engine.connect() as conn:
        user = conn.execute(text("SELECT session_user")).scalar_one()
    return Actor(organization_id=org.id, name=user, is_admin=True), demo_loaded


def describe_identity(db: Database, actor: Any) -> str:
    """Organization and user, for the navigation bar and the status bar."""
    with db.engine.connect() as conn:
        org = conn.execute(text("SELECT name FROM organizations WHERE id = :id"), {"id": actor.organization_id}).scalar()
    role = " · admin" if getattr(actor, "is_admin", False) else ""
    return f"{org or 'organization ' + str(actor.organization_id)}\n{actor.name}{role}"


def _is_superuser(db: Database) -> bool:
    with db.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user")).scalar())


def start_workstation(settings: Settings, *, with_scheduler: bool = True, with_listener: bool = True,
                      intervals: dict[str, float] | None = None) -> Workstation:
    """Open the database, find the actor, start the scheduler.

    ``with_listener``: the caller starts the change listener (``start_listener``), which
    elects the organization's scheduler leader; until elected this scheduler only runs what
    its own commits kick. Without a listener the scheduler does all its periodic work."""
    db = open_database(settings)
    try:
        actor, demo_loaded = resolve_actor(db)
        if with_listener:
            listen_url(settings, db)  # a listener that cannot work is refused now, with the fix
        ws = Workstation(settings=settings, db=db, actor=actor, demo_loaded=demo_loaded,
                         identity=describe_identity(db, actor))
        if with_scheduler:
            from desk_desktop.jobs.scheduler import AppScheduler
            from desk_desktop.services.scanning import scanner_from_settings

            ws.scheduler = AppScheduler(db.uow_factory, settings, scanner=scanner_from_settings(settings),
                                        intervals=intervals, standby=with_listener)
            db.uow_factory.add_commit_listener(ws.scheduler.on_commit)
            ws.scheduler.start()
        return ws
    except Exception:
        db.close()
        raise


def start_listener(ws: Workstation, *, on_change: Any, on_reconnect: Any = lambda: None,
                   leader_seconds: float | None = None) -> Any:
    """Start the workstation's change listener (``ws.listener``). With a scheduler it also
    runs the leader election, handing leadership to ``ws.scheduler.set_leader``."""
    from desk_desktop.db.listen import ChangeListener

    election: dict[str, Any] = {}
    if ws.scheduler is not None:
        election = {"leader_key": ws.actor.organization_id, "on_leadership": ws.scheduler.set_leader}
        if leader_seconds is not None:
            election["leader_seconds"] = leader_seconds
    listener = ChangeListener(listen_url(ws.settings, ws.db), on_change=on_change, on_reconnect=on_reconnect,
                              **election)
    listener.start()
    ws.listener = listener
    return listener
