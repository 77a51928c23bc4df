"""Run work off the GUI thread and get the result back on it.

    runner.submit(fn, kwargs..., on_done=lambda result: ..., on_error=lambda exc: ...)

``fn`` runs on a thread pool and must never touch widgets; the callbacks run on the GUI
thread. The pool is injectable: tests use ``InlineRunner`` to run work synchronously.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, relay: _Relay) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs, self.relay = fn, args, kwargs, relay
        self.setAutoDelete(True)

    def run(self) -> None:  # pool thread
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.relay.failed.emit(exc)
        else:
            self.relay.done.emit(result)


class TaskRunner(QObject):
    """Submits callables to a ``QThreadPool``; results come back via queued signals."""

    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._relays: set[_Relay] = set()

    @property
    def active(self) -> int:
        return len(self._relays)

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> None:
        relay = _Relay()  # lives in the GUI thread: its signals are delivered there
        self._relays.add(relay)
        was_idle = len(self._relays) == 1

        @Slot(object)
        def _done(result: Any) -> None:
            self._finish(relay)
            if on_done is not None:
                on_done(result)

        @Slot(object)
        def _failed(exc: BaseException) -> None:
            self._finish(relay)
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background task failed: %s\n%s", exc, getattr(exc, "__traceback_text__", ""))

        relay.done.connect(_done)
        relay.failed.connect(_failed)
        if was_idle:
            self.busy_changed.emit(True)
        self.pool.start(_Job(fn, args, kwargs, relay))

    def _finish(self, relay: _Relay) -> None:
        self._relays.discard(relay)
        relay.deleteLater()
        if not self._relays:
            self.busy_changed.emit(False)

    def wait_for_done(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)


class InlineRunner(TaskRunner):
    """Runs work synchronously on the calling thread (tests)."""

    def submit(self, fn, *args, on_done=None, on_error=None, **kwargs) -> None:  # type: ignore[override]
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001
            if on_error is None:
                raise
            on_error(exc)
        else:
            if on_done is not None:
                on_done(result)
