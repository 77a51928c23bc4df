"""Run work off the GUI thread and hand the answer back to the widget that asked, if it still wants it.

    runner.submit(fn, *args, owner=self, key="candidates", on_done=..., on_error=..., **kwargs)

``fn`` runs on a thread pool and must never touch widgets; the callbacks run on the GUI
thread. Every request has an ``owner`` (the widget or object that asked) and optionally a
``key``. The answer is dropped, never delivered, when

- the owner is gone (its C++ object was deleted),
- the owner asked again with the same ``key`` (only the newest answer counts), or
- the owner called ``runner.drop(owner)`` (it is shutting down) or ``drop(owner, key)``.

``owner_settled(owner)`` is emitted whenever one of an owner's requests ended (delivered
or dropped), so a view can keep a "loading" indicator with ``runner.in_flight(owner)``.
The pool is injectable: tests use ``InlineRunner`` to run work synchronously.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Hashable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

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


class _Request:
    """One submitted piece of work and whether its answer is still wanted."""

    __slots__ = ("owner", "key", "on_done", "on_error", "dropped", "relay")

    def __init__(self, owner: QObject, key: Hashable | None, on_done, on_error) -> None:
        self.owner, self.key, self.on_done, self.on_error = owner, key, on_done, on_error
        self.dropped = False
        self.relay: _Relay | None = None  # kept here until the answer arrived

    @property
    def wanted(self) -> bool:
        return not self.dropped and shiboken6.isValid(self.owner)


class TaskRunner(QObject):
    """Submits callables to a ``QThreadPool``; answers come back via queued signals."""

    busy_changed = Signal(bool)
    owner_settled = Signal(object)  # the owner one of whose requests just ended

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._requests: list[_Request] = []

    @property
    def active(self) -> int:
        return len(self._requests)

    def in_flight(self, owner: QObject) -> int:
        """How many of ``owner``'s requests have not ended yet."""
        return sum(1 for r in self._requests if r.owner is owner)

    def drop(self, owner: QObject, key: Hashable | None = None) -> None:
        """Answers to what ``owner`` asked so far (with ``key``, or all of it) are not delivered."""
        for r in self._requests:
            if r.owner is owner and (key is None or r.key == key):
                r.dropped = True

    def _open(self, owner: QObject, key: Hashable | None, on_done, on_error) -> _Request:
        if key is not None:
            for r in self._requests:
                if r.owner is owner and r.key == key:
                    r.dropped = True  # superseded by this newer request
        request = _Request(owner, key, on_done, on_error)
        self._requests.append(request)
        if len(self._requests) == 1:
            self.busy_changed.emit(True)
        return request

    def finish(self, request: _Request, *, result: Any = None, exc: BaseException | None = None) -> None:
        """``request`` ended: deliver its answer if it is still wanted."""
        self._requests.remove(request)
        if not self._requests:
            self.busy_changed.emit(False)
        if request.wanted:
            if exc is None:
                if request.on_done is not None:
                    request.on_done(result)
            elif request.on_error is not None:
                request.on_error(exc)
            else:
                log.error("background task failed: %s\n%s", exc, getattr(exc, "__traceback_text__", ""))
        elif exc is not None:
            log.debug("dropped the failure of a request nobody waits for: %s", exc)
        if shiboken6.isValid(request.owner):
            self.owner_settled.emit(request.owner)

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        owner: QObject,
        key: Hashable | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(self._open(owner, key, on_done, on_error), fn, args, kwargs)

    def _start(self, request: _Request, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        """Run ``fn`` on the pool; its answer closes ``request`` on the GUI thread."""
        relay = request.relay = _Relay()  # lives in the GUI thread: its signals are delivered there

        def _done(result: Any) -> None:
            relay.deleteLater()
            self.finish(request, result=result)

        def _failed(exc: BaseException) -> None:
            relay.deleteLater()
            self.finish(request, exc=exc)

        relay.done.connect(_done)
        relay.failed.connect(_failed)
        self.pool.start(_Job(fn, args, kwargs, relay))

    def wait_for_done(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)


class InlineRunner(TaskRunner):
    """Runs work synchronously on the calling thread (tests); failures without ``on_error`` raise."""

    def _start(self, request: _Request, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001
            if request.on_error is None:
                request.dropped = True  # the caller gets the exception itself
                self.finish(request, exc=exc)
                raise
            self.finish(request, exc=exc)
        else:
            self.finish(request, result=result)
