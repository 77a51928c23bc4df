"""What the GUI benchmarks share: Qt set up for a machine without a display, and waiting for a
signal or a condition in a nested event loop (no busy polling)."""

from __future__ import annotations

import os
import time


def ensure_qt_env() -> None:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")


class Waiter:
    """Wait for a Qt signal (with a predicate) in a nested event loop — no busy polling."""

    def __init__(self, app) -> None:
        self.app = app

    def wait(self, signal, predicate=lambda *a: True, timeout_ms: int = 60000):
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        got: list = []

        def _slot(*args):
            if predicate(*args):
                got.append(args)
                loop.quit()

        signal.connect(_slot)
        QTimer.singleShot(timeout_ms, loop.quit)
        try:
            loop.exec()
        finally:
            signal.disconnect(_slot)
        if not got:
            raise TimeoutError(f"no signal within {timeout_ms} ms")
        return got[0]

    def until(self, predicate, timeout_ms: int = 60000) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.monotonic() + timeout_ms / 1000
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            loop = QEventLoop()
            QTimer.singleShot(10, loop.quit)
            loop.exec()
