"""Engine construction and the unit of work.

A service runs ``with uow: ...; uow.commit()``. Leaving the outermost block without
``commit()`` rolls back. Blocks nest: an inner ``commit()`` is a no-op and the outermost
block decides, so two service steps can share one transaction.

Changes recorded with ``uow.record_change(...)`` are sent as ``NOTIFY desk_changes``
inside the transaction (PostgreSQL delivers them at commit, never on rollback) and handed
to the commit listeners after a successful commit (e.g. to kick the ``assign`` job). The
payload is ``Change.payload()``, the only definition of it; a statement that sends its own
notifications runs ``NOTIFY_SQL`` with those payloads and records the changes with
``notified=True``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import Compiled

NOTIFY_CHANNEL = "desk_changes"

# Send ``:payloads`` (``Change.payload()`` texts) on ``:channel``, in the order given (the
# volatile pg_notify runs after the sort).
NOTIFY_SQL = ("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) WITH ORDINALITY AS t(p, i) "
              "ORDER BY i")


@dataclass(frozen=True)
class Change:
    entity: str
    entity_id: int | None
    organization_id: int | None
    action: str

    def payload(self) -> str:
        # Ids only: NOTIFY is not filtered by row-level security.
        return json.dumps(
            {"e": self.entity, "id": self.entity_id, "org": self.organization_id, "a": self.action},
            separators=(",", ":"),
        )


@cache
def _compiled(statement: str, dialect: Dialect) -> Compiled:
    """``statement`` as SQLAlchemy sends it to the driver (its placeholder style), once per text."""
    return text(statement).compile(dialect=dialect)


CommitListener = Callable[[tuple[Change, ...]], None]


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    u = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if u.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


# Connections to another computer: the server's certificate is checked against its name
# (``verify-full``) unless the URL chooses another ``sslmode``, and the password is only
# ever answered to a SCRAM challenge (``require_auth``), so an active attacker who strips
# TLS and asks for a clear-text password gets nothing (channel binding, libpq's default
# ``prefer``, is used whenever the connection has TLS). A URL that sets either keeps it.
_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")
REMOTE_DEFAULTS = {"sslmode": "verify-full", "require_auth": "scram-sha-256"}


def secure_url(url: str) -> str:
    """``url`` (normalized) with the defaults for a remote server added (see above);
    a Unix socket or this computer's own address is left as it is."""
    u = make_url(normalize_url(url))
    host = str(u.host or u.query.get("host") or "")
    if host.startswith("/") or host in _LOCAL_HOSTS:
        return u.render_as_string(hide_password=False)
    missing = {k: v for k, v in REMOTE_DEFAULTS.items() if k not in u.query}
    return u.update_query_dict(missing).render_as_string(hide_password=False)


# A pooled connection handed back less than this long ago is not pinged again when it is
# checked out (HikariCP's "alive bypass window", default 500 ms): it was just used, a ping
# would learn nothing, and for a burst of short transactions (an import, a bench writer)
# the ping was a whole extra round trip per transaction. A connection idle for longer is
# pinged exactly as SQLAlchemy's ``pool_pre_ping`` does (a dead one is replaced).
PING_AFTER_IDLE_SECONDS = 0.5


def make_engine(url: str, **kw: Any) -> Engine:
    pre_ping = kw.pop("pool_pre_ping", True)
    kw.setdefault("pool_size", 5)
    kw.setdefault("max_overflow", 10)
    engine = create_engine(secure_url(url), pool_pre_ping=False, **kw)
    if pre_ping:
        _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    dialect = engine.dialect

    def stamp(_dbapi_connection, record, *_args) -> None:
        record.info["desk_last_used"] = time.monotonic()

    def ping(dbapi_connection, record, _proxy) -> None:
        last = record.info.get("desk_last_used")
        if last is not None and time.monotonic() - last < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                # As pool_pre_ping: invalidate the pool's older connections and connect anew.
                raise InvalidatePoolError() from exc
            raise
        record.info["desk_last_used"] = time.monotonic()

    event.listen(engine, "connect", stamp)  # a fresh connection needs no ping (as pool_pre_ping)
    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", ping)


class UnitOfWork:
    """One transaction. Not thread-safe: make one per thread/task via the factory."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        commit_listeners: Iterable[CommitListener] = (),
    ) -> None:
        self._session_factory = session_factory
        self._listeners = tuple(commit_listeners)
        self._depth = 0
        self._committed = False
        self._changes: list[Change] = []
        self._notified: set[Change] = set()
        self.session: Session = None  # type: ignore[assignment]

    def __enter__(self) -> UnitOfWork:
        if self._depth == 0:
            self.session = self._session_factory()
            self._committed = False
            self._changes = []
            self._notified = set()
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        changes = tuple(self._changes)
        committed = self._committed
        try:
            if not committed:
                self.session.rollback()
        finally:
            self.session.close()
            self.session = None  # type: ignore[assignment]
            self._changes = []
            self._notified = set()
        if committed and changes:
            for listener in self._listeners:
                listener(changes)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def record_change(
        self, entity: str, entity_id: int | None, organization_id: int | None, action: str, *, notified: bool = False
    ) -> None:
        """Record a change for NOTIFY and the commit listeners. ``notified``: a statement of
        this transaction sent its NOTIFY already (``NOTIFY_SQL``); commit does not repeat it."""
        change = Change(entity, entity_id, organization_id, action)
        self._changes.append(change)
        if notified:
            self._notified.add(change)

    def _unsent_payloads(self) -> list[str]:
        sent = {change.payload() for change in self._notified}
        return [p for p in dict.fromkeys(change.payload() for change in self._changes) if p not in sent]

    def commit(self) -> None:
        if self._depth == 0:
            raise RuntimeError("commit() outside of 'with uow:'")
        if self._depth > 1:
            return  # the outermost block commits
        payloads = self._unsent_payloads()
        if payloads:
            self.session.execute(text(NOTIFY_SQL), {"channel": NOTIFY_CHANNEL, "payloads": payloads})
        self.session.commit()
        self._committed = True

    def begin_with(self, statement: str, params: Mapping[str, Any]) -> Any:
        """Run ``statement`` (``:name`` placeholders, at most one result row) as the
        transaction's first statement; returns its row, or None.

        Its BEGIN goes to the server together with it, in one round trip (psycopg's
        pipeline mode), instead of taking a round trip of its own. In a transaction that has
        begun already it is simply run."""
        if self._depth == 0:
            raise RuntimeError("begin_with() outside of 'with uow:'")
        connection = self.session.connection()
        if connection.connection.driver_connection.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return self.session.execute(text(statement), params).one_or_none()
        return self._pipelined(connection, statement, params, commit=False)

    def commit_with(self, statement: str, params: Mapping[str, Any]) -> Any:
        """Run ``statement`` (``:name`` placeholders, one result row) as the transaction's
        last statement and commit; returns its row.

        When this unit of work owns its transaction, the statement, the change
        notifications and COMMIT go to the server in one round trip (psycopg's pipeline
        mode), so a row lock the statement takes (e.g. a counter's) is held for that one
        round trip only. Nested in a caller's transaction it only runs the statement (the
        caller's commit ends the transaction). Errors are SQLAlchemy's ``DBAPIError`` types,
        as from ``session.execute``; after one the transaction is rolled back as usual."""
        if self._depth == 0:
            raise RuntimeError("commit_with() outside of 'with uow:'")
        if self._depth > 1 or not isinstance(self.session.bind, Engine):
            row = self.session.execute(text(statement), params).one()
            self.commit()
            return row
        row = self._pipelined(self.session.connection(), statement, params, commit=True)
        self.session.commit()  # the session's own bookkeeping; the driver has nothing left to commit
        self._committed = True
        return row

    def _pipelined(self, connection: Connection, statement: str, params: Mapping[str, Any], *, commit: bool) -> Any:
        """``statement`` in pipeline mode — after the BEGIN the driver adds when the
        transaction has not begun, and before the change notifications and COMMIT when
        ``commit`` — all in one round trip; its first row (or None)."""
        compiled = _compiled(statement, connection.dialect)
        driver_params = compiled.construct_params(params)
        payloads = self._unsent_payloads() if commit else []
        driver = connection.connection.driver_connection
        try:
            with driver.pipeline(), driver.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(compiled.string, driver_params)
                if payloads:
                    notify = _compiled(NOTIFY_SQL, connection.dialect)
                    driver.execute(notify.string, notify.construct_params({"channel": NOTIFY_CHANNEL,
                                                                           "payloads": payloads}))
                if commit:
                    driver.commit()
                row = cursor.fetchone()  # (without a commit, fetching sends what is queued)
        except psycopg.Error as exc:
            raise DBAPIError.instance(compiled.string, driver_params, exc, psycopg.Error) from exc
        return row

    def flush(self) -> None:
        self.session.flush()


class UnitOfWorkFactory:
    """Makes a fresh ``UnitOfWork`` per call; shared listeners (e.g. kick the assign job)."""

    def __init__(self, engine: Engine | None = None, session_factory: Callable[[], Session] | None = None) -> None:
        if session_factory is None:
            if engine is None:
                raise ValueError("engine or session_factory required")
            session_factory = sessionmaker(bind=engine, expire_on_commit=False)
        self.engine = engine
        self._session_factory = session_factory
        self._listeners: list[CommitListener] = []

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def remove_commit_listener(self, listener: CommitListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._session_factory, self._listeners)
