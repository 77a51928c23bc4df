"""LISTEN desk_changes on a dedicated autocommit connection, in a thread.

Services send ``NOTIFY desk_changes`` at commit with ids only (``Change.payload``). The
listener decodes each notification into a ``Change`` and hands it to ``on_change`` (on the
listener thread: the receiver marshals to its own thread, e.g. ``ui.live.LiveBridge``).
Notifications sent while the connection is down are lost, so after every reconnect the
listener calls ``on_reconnect`` and the receiver re-queries everything.

The same connection elects the organization's scheduler leader (``leader_key``): it holds
a session-level advisory lock keyed by the organization while it leads, and announces
itself with a heartbeat notification every ``leader_seconds``. The others stand by
without a query; only when no heartbeat came for two to three periods do they try the
lock (``pg_try_advisory_lock``). The lock dies with the leader's connection, so a killed
leader is replaced within about three periods, and ``on_leadership`` tells the scheduler.
Through PgBouncer this connection must be in session mode (``DESK_LISTEN_URL``): LISTEN
and session locks mean nothing through a transaction pool.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import make_url

from desk_desktop.db.session import NOTIFY_CHANNEL, Change, secure_url

log = logging.getLogger(__name__)

LEADER_LOCK_CLASS = 0x6465736B  # "desk": the advisory lock's first key; the second is the organization
LEADER_ENTITY = "scheduler"  # heartbeat notifications: Change("scheduler", None, org, "leader")


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as a libpq URI for ``psycopg.connect``, with
    the remote-server defaults of ``secure_url`` and without the app's own ``pooler`` option
    (libpq does not know it)."""
    u = make_url(secure_url(url)).set(drivername="postgresql").difference_update_query(["pooler"])
    return u.render_as_string(hide_password=False)


def parse_payload(payload: str) -> Change | None:
    """The change a payload announces; None for a malformed one, or one without an
    organization (every change the app sends names one: any role that can connect can
    NOTIFY, and "org": null would otherwise pass every organization's filter)."""
    try:
        data = json.loads(payload)
        return Change(
            entity=str(data["e"]),
            entity_id=int(data["id"]) if data.get("id") is not None else None,
            organization_id=int(data["org"]),
            action=str(data.get("a", "")),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring malformed %s payload: %r", NOTIFY_CHANNEL, payload[:200])
        return None


class ChangeListener:
    """``start()`` a daemon thread that listens until ``stop()``; reconnects with backoff."""

    def __init__(
        self,
        url: str,
        on_change: Callable[[Change], None],
        on_reconnect: Callable[[], None] = lambda: None,
        *,
        channel: str = NOTIFY_CHANNEL,
        poll_seconds: float = 0.5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        on_status: Callable[[bool, str | None], None] | None = None,
        leader_key: int | None = None,
        on_leadership: Callable[[bool], None] | None = None,
        leader_seconds: float = 5.0,
    ) -> None:
        self.conninfo = libpq_conninfo(url)
        self.leader_key = leader_key
        self.on_leadership = on_leadership
        self.leader_seconds = leader_seconds
        self.leading = False
        self._last_beat = 0.0  # when this connection last heard (or sent) a heartbeat
        self._patience = 0.0  # silence after which a standby tries the lock
        self.on_change = on_change
        self.on_reconnect = on_reconnect
        self.on_status = on_status
        self.channel = channel
        self.poll_seconds = poll_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = None
        self._conn_lock = threading.Lock()
        self.connected = threading.Event()
        self.connections = 0  # how many times it has (re)connected
        self.last_error: str | None = None

    # ------------------------------------------------------------ control
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="desk-change-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._close()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection (tests terminate it to force a reconnect)."""
        conn = self._conn
        try:
            return conn.info.backend_pid if conn is not None else None
        except Exception:  # noqa: BLE001
            return None

    # ------------------------------------------------------------ thread
    def _connect(self):
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10, prepare_threshold=None,
                               application_name="desk-desktop listener")
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return conn

    def _close(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.connected.clear()

    # ------------------------------------------------------------ leadership
    def _lead(self, conn, now: float) -> None:
        """Leader: send the heartbeat when due. Standby: try the lock after a silence."""
        if self.leading:
            if now - self._last_beat >= self.leader_seconds:
                beat = Change(LEADER_ENTITY, None, self.leader_key, "leader").payload()
                conn.execute("SELECT pg_notify(%s, %s)", (self.channel, beat))
                self._last_beat = now
            return
        if now - self._last_beat < self._patience:
            return
        self._last_beat = now
        self._patience = self.leader_seconds * (2 + random.random())
        got = conn.execute("SELECT pg_try_advisory_lock(CAST(%s AS integer), CAST(%s AS integer))",
                           (LEADER_LOCK_CLASS, self.leader_key)).fetchone()[0]
        if got:
            self.leading = True
            log.info("this workstation now leads the scheduler of organization %s", self.leader_key)
            self._safe(self.on_leadership, True)

    def _heard(self, change: Change, now: float) -> bool:
        """A heartbeat (for us or another organization): note it; it is no data change."""
        if change.entity != LEADER_ENTITY:
            return False
        if change.organization_id == self.leader_key:
            self._last_beat = now
        return True

    def _step_down(self) -> None:
        if self.leading:
            self.leading = False
            self._safe(self.on_leadership, False)

    def _status(self, up: bool, error: str | None) -> None:
        if self.on_status is not None:
            try:
                self.on_status(up, error)
            except Exception:  # noqa: BLE001
                log.exception("listener status callback failed")

    def _run(self) -> None:
        import psycopg

        delay = self.backoff_initial
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except psycopg.Error as exc:
                self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.info("listener cannot connect (%s); retrying in %.1fs", self.last_error, delay)
                self._status(False, self.last_error)
                self._stop.wait(delay * (0.5 + random.random() / 2))
                delay = min(self.backoff_max, delay * 2)
                continue
            with self._conn_lock:
                self._conn = conn
            self.connections += 1
            first = self.connections == 1
            self.connected.set()
            self.last_error = None
            self._status(True, None)
            delay = self.backoff_initial
            if not first:
                # Whatever was sent while we were away is lost: everyone re-queries.
                self._safe(self.on_reconnect)
            self._last_beat, self._patience = 0.0, 0.0  # a fresh connection tries the lock at once
            try:
                while not self._stop.is_set():
                    if self.leader_key is not None:
                        self._lead(conn, time.monotonic())
                    for note in conn.notifies(timeout=self.poll_seconds, stop_after=None):
                        change = parse_payload(note.payload)
                        if change is not None and not self._heard(change, time.monotonic()):
                            self._safe(self.on_change, change)
                        if self._stop.is_set():
                            break
            except psycopg.Error as exc:
                if self._stop.is_set():
                    break
                self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.warning("listener connection lost (%s); reconnecting", self.last_error)
                self._status(False, self.last_error)
            finally:
                self._close()  # the lock, if held, goes with the connection
                self._step_down()
            if not self._stop.is_set():
                self._stop.wait(delay * (0.5 + random.random() / 2))
                delay = min(self.backoff_max, delay * 2)

    @staticmethod
    def _safe(fn, *args) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a receiver's bug must not kill the listener
            log.exception("change listener callback failed")
