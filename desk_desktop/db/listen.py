"""LISTEN desk_changes on a dedicated autocommit connection, in a thread.

Services send ``NOTIFY desk_changes`` at commit with ids only (``Change.payload``). The
listener decodes each notification into a ``Change`` and hands it to ``on_change`` (on the
listener thread: the receiver marshals to its own thread, e.g. ``ui.live.LiveBridge``).
Notifications sent while the connection is down are lost, so after every reconnect the
listener calls ``on_reconnect`` and the receiver re-queries everything.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

from desk_desktop.db.session import NOTIFY_CHANNEL, Change, secure_url

log = logging.getLogger(__name__)


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as a libpq URI for ``psycopg.connect``."""
    u = make_url(secure_url(url)).set(drivername="postgresql")
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
    ) -> None:
        self.conninfo = libpq_conninfo(url)
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

        conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10,
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
            try:
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=self.poll_seconds, stop_after=None):
                        change = parse_payload(note.payload)
                        if change is not None:
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
                self._close()
            if not self._stop.is_set():
                self._stop.wait(delay * (0.5 + random.random() / 2))
                delay = min(self.backoff_max, delay * 2)

    @staticmethod
    def _safe(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a receiver's bug must not kill the listener
            log.exception("change listener callback failed")
