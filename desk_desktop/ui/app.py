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

    from desk_desktop import APP_ID, APP_NAME, __version__
    from desk_desktop.resources import resource_path
    from desk_desktop.ui.map.profile import register_scheme

    register_scheme()  # the offline basemap's desk-offline: scheme, declared before the application exists
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication([sys.argv[0], *(argv or [])])
    # Organization and application are both "desk-desktop", so QSettings (window state only)
    # lives in the same folder as desk.toml (~/.config/desk-desktop/desk-desktop.conf).
    app.setOrganizationName(APP_ID)
    app.setApplicationName(APP_ID)
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName(APP_NAME)
    # Wayland matches windows to the desktop entry by this name (desk-desktop.desktop).
    app.setDesktopFileName(APP_ID)
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
    from desk_desktop.bootstrap import start_listener
    from desk_desktop.ui.live import LiveBridge

    bridge = LiveBridge(live, scheduler=ws.scheduler, organization_id=ws.actor.organization_id)
    start_listener(ws, on_change=bridge.on_change, on_reconnect=bridge.on_reconnect)
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
    from desk_desktop.config import SettingsError, load_settings
    from desk_desktop.logfile import configure_logging

    parser = argparse.ArgumentParser(prog="desk-desktop")
    parser.add_argument("--database-url")
    parser.add_argument("--self-check", action="store_true", help="verify this installation and exit")
    args, qt_args = parser.parse_known_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _report_bad_setting(exc, qt_args)
    if args.database_url:
        settings = settings.with_database_url(args.database_url)
    log_file = configure_logging(settings.log_level)
    if args.self_check:
        from desk_desktop.ui.selfcheck import run_self_check

        return run_self_check(settings)

    app = create_application(qt_args)
    log.info("%s starting; log file %s", app.applicationDisplayName(), log_file)

    from desk_desktop.ui.crash import CrashReporter
    from desk_desktop.ui.startup import StartupController

    crash_reporter = CrashReporter(log_file)
    crash_reporter.install()

    controller = StartupController(settings, build_main_window=build_main_window)
    controller.start()
    _quit_on_signals(app)
    code = app.exec()
    controller.shutdown()
    crash_reporter.uninstall()
    if controller.error is not None and code == 0:
        return 1
    return code


def _report_bad_setting(exc: Exception, qt_args: list[str]) -> int:
    """A bad setting stops the start: one line on stderr and in a message box (no traceback)."""
    print(f"error: {exc}", file=sys.stderr)
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        from PySide6.QtWidgets import QMessageBox

        from desk_desktop import APP_NAME

        create_application(qt_args)
        QMessageBox.critical(None, APP_NAME, f"A setting is wrong, so {APP_NAME} cannot start:\n\n{exc}")
    return 2
