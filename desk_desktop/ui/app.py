"""GUI entry point: QApplication, start-up (database in the background), main window, shutdown."""

from __future__ import annotations

import argparse
import logging
import os
import sys

log = logging.getLogger(__name__)


def prepare_qt_environment() -> None:
    """QtWebEngine refuses to start its sandbox as root; software rendering without a GPU."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox --disable-gpu").strip()


def create_application(argv: list[str] | None = None):
    prepare_qt_environment()
    from PySide6 import QtWebEngineWidgets  # noqa: F401 - must be imported before QApplication
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from desk_desktop import APP_ID, APP_NAME, ORG_NAME
    from desk_desktop.resources import resource_path

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication([sys.argv[0], *(argv or [])])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(APP_NAME)
    app.setWindowIcon(QIcon(str(resource_path("icons", "app.svg"))))
    apply_style(app)
    return app


def apply_style(app) -> None:
    from desk_desktop.resources import resource_path

    qss = resource_path("styles", "app.qss")
    if qss.exists():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


def build_main_window(ws, runner=None):
    """Main window over a started ``Workstation`` (used by the GUI and the UI tests)."""
    from desk_desktop.ui.context import LiveUpdates, UiContext
    from desk_desktop.ui.main_window import MainWindow
    from desk_desktop.ui.workers import TaskRunner

    live = LiveUpdates()
    ctx = UiContext(uow_factory=ws.db.uow_factory, actor=ws.actor, settings=ws.settings,
                    runner=runner or TaskRunner(), live=live, scheduler=ws.scheduler)
    bridge = None
    try:
        from desk_desktop.bootstrap import start_listener
        from desk_desktop.ui.live import LiveBridge

        bridge = LiveBridge(live, scheduler=ws.scheduler, organization_id=ws.actor.organization_id)
        start_listener(ws, on_change=bridge.on_change, on_reconnect=bridge.on_reconnect)
    except ImportError:  # pragma: no cover
        log.warning("live updates are not available in this build")
    window = MainWindow(ctx, db_description=ws.db.describe, identity=ws.identity)
    window._live_bridge = bridge  # keep it alive with the window
    live.refresh_all.connect(window.refresh_all)
    return window


def _quit_on_signals(app) -> None:
    """Ctrl+C or SIGTERM close the app cleanly (scheduler, listener, private cluster)."""
    import signal

    from PySide6.QtCore import QTimer

    def request_quit(*_args) -> None:
        app.quit()  # run_gui then shuts the workstation down in order

    signal.signal(signal.SIGINT, request_quit)
    signal.signal(signal.SIGTERM, request_quit)
    timer = QTimer(app)  # let the Python interpreter run its signal handlers now and then
    timer.setInterval(250)
    timer.timeout.connect(lambda: None)
    timer.start()
    app._signal_timer = timer


def run_gui(argv: list[str]) -> int:
    from desk_desktop.config import load_settings

    parser = argparse.ArgumentParser(prog="desk-desktop")
    parser.add_argument("--database-url")
    parser.add_argument("--self-check", action="store_true", help="verify this installation and exit")
    args, qt_args = parser.parse_known_args(argv)
    settings = load_settings()
    if args.database_url:
        settings = settings.with_database_url(args.database_url)
    logging.basicConfig(level=os.environ.get("DESK_LOG_LEVEL", "WARNING"))
    if args.self_check:
        from desk_desktop.ui.selfcheck import run_self_check

        return run_self_check(settings)

    app = create_application(qt_args)

    from desk_desktop.ui.startup import StartupController

    controller = StartupController(settings, build_main_window=build_main_window)
    controller.start()
    _quit_on_signals(app)
    code = app.exec()
    controller.shutdown()
    if controller.error is not None and code == 0:
        return 1
    return code
