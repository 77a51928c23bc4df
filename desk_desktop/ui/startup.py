"""Start-up: a small window while the database opens in the background, then the main window.

Opening the private cluster (or a slow shared server) never freezes the screen; failures
are shown with what to do and a Retry button.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop import APP_NAME, __version__
from desk_desktop.config import Settings
from desk_desktop.ui.workers import TaskRunner

log = logging.getLogger(__name__)


class StartupWindow(QWidget):
    retry_requested = Signal()
    quit_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setFixedWidth(460)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        title = QLabel(f"{APP_NAME} {__version__}")
        title.setProperty("role", "heading")
        self.message = QLabel("Starting…")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        buttons = QHBoxLayout()
        self.retry = QPushButton("Retry")
        self.quit = QPushButton("Quit")
        self.retry.hide()
        buttons.addStretch(1)
        buttons.addWidget(self.retry)
        buttons.addWidget(self.quit)
        layout.addWidget(title)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.retry.clicked.connect(self.retry_requested)
        self.quit.clicked.connect(self.quit_requested)

    def show_error(self, text: str) -> None:
        self.progress.hide()
        self.message.setText(text)
        self.message.setProperty("role", "error")
        self.message.style().polish(self.message)
        self.retry.show()

    def show_working(self, text: str) -> None:
        self.progress.show()
        self.retry.hide()
        self.message.setProperty("role", "")
        self.message.style().polish(self.message)
        self.message.setText(text)


def needs_login(exc: BaseException) -> bool:
    """Whether a failed start is fixed by logging in as someone (else: show the error)."""
    from desk_desktop.services.session_info import NotADispatcher

    if isinstance(exc, NotADispatcher):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("password authentication failed", "no password supplied",
                                   "fe_sendauth", "role \"", "peer authentication failed"))


class StartupController(QObject):
    ready = Signal(object)  # the main window
    failed = Signal(str)

    def __init__(self, settings: Settings, *, build_main_window: Callable, runner: TaskRunner | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._build = build_main_window
        self.runner = runner or TaskRunner()
        self.window = StartupWindow()
        self.window.retry_requested.connect(self.start)
        self.window.quit_requested.connect(QApplication.quit)
        self.main_window = None
        self.workstation = None
        self.login_dialog = None
        self._login_tries = 0
        self.error: str | None = None

    def start(self) -> None:
        from desk_desktop.bootstrap import start_workstation

        self.error = None
        self._t0 = time.monotonic()
        where = ("Starting the private database…" if self.settings.uses_private_cluster
                 else "Connecting to the shared server…")
        self.window.show_working(where + "\nThe first start creates the database and loads demo data; "
                                 "this takes a few seconds.")
        self.window.show()
        self.runner.submit(start_workstation, self.settings, owner=self, on_done=self._on_started, on_error=self._on_failed)
        QTimer.singleShot(0, self._preload_views)

    def _preload_views(self) -> None:
        """Import the views' code while the database opens in the background."""
        import importlib

        from desk_desktop.ui.main_window import PAGES

        for _key, _label, module, _cls in PAGES:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - reported when the window is built
                log.exception("preloading %s failed", module)

    def _on_started(self, ws) -> None:
        self.workstation = ws
        try:
            self.main_window = self._build(ws)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            log.exception("building the main window failed")
            self._on_failed(exc)
            return
        self.main_window.show()
        self.window.hide()
        if os.environ.get("DESK_REPORT_READY"):
            self._watch_first_data()
        if ws.demo_loaded:
            self.main_window.statusBar().showMessage("Demo data loaded into the new private database.", 10_000)
        self.ready.emit(self.main_window)

    def _watch_first_data(self) -> None:
        """Print one line on stderr when the tickets list first shows rows (startup bench, smoke tests)."""
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QTableView

        page = self.main_window.pages.get("tickets")
        timer = QTimer(self)
        timer.setInterval(10)

        def check() -> None:
            for view in page.findChildren(QTableView):
                model = view.model()
                if model is not None and model.rowCount() > 0 and view.isVisible():
                    timer.stop()
                    elapsed = time.monotonic() - self._t0
                    print(f"desk-ready rows={model.rowCount()} seconds={elapsed:.3f}", file=sys.stderr, flush=True)
                    return

        timer.timeout.connect(check)
        timer.start()

    # ------------------------------------------------------------ shared-server login
    def _ask_login(self, message: str) -> None:
        """Try the password kept in the keyring first; otherwise ask in the login dialog."""
        from desk_desktop.services.session_info import ConnectionDetails, load_login_details
        from desk_desktop.ui.login import remembered_login

        details = load_login_details(self.settings.config_dir)
        if details is None and self.settings.database_url:
            details = ConnectionDetails.from_url(self.settings.database_url)
        if details is not None and not details.user and self.settings.db_user:  # DESK_DB_USER
            details = details.with_changes(user=self.settings.db_user)
        self._login_tries += 1
        if self._login_tries == 1:
            self.window.show_working("Logging in with the password kept on this computer…")
            self.runner.submit(remembered_login, details, owner=self,
                               on_done=lambda result: self._on_remembered(result, details, message),
                               on_error=lambda _exc: self._show_login_dialog(details, message))
        else:
            self._show_login_dialog(details, message)

    def _on_remembered(self, result, details, message: str) -> None:
        if result is not None:
            self._on_logged_in(result)
        else:
            self._show_login_dialog(details, message)

    def _show_login_dialog(self, details, message: str) -> None:
        from desk_desktop.ui.login import LoginDialog

        self.window.hide()
        dialog = LoginDialog(details, message=message)
        dialog.logged_in.connect(self._on_logged_in)
        dialog.rejected.connect(QApplication.quit)
        self.login_dialog = dialog
        dialog.show()

    def _on_logged_in(self, result) -> None:
        from desk_desktop.services.session_info import save_login_details

        try:
            save_login_details(self.settings.config_dir, result.details)
        except OSError as exc:
            log.warning("could not save the login details: %s", exc)
        self.settings = self.settings.with_database_url(result.url)
        self.start()

    def _on_failed(self, exc: BaseException) -> None:
        text = str(exc).strip() or type(exc).__name__
        if not self.settings.uses_private_cluster and needs_login(exc) and self._login_tries < 5:
            self._ask_login(text.splitlines()[0])
            return
        self.error = text
        self.window.show_error(f"Could not start: {text}")
        self.window.show()
        self.failed.emit(text)

    def shutdown(self) -> None:
        self.runner.wait_for_done(30_000)
        if self.workstation is not None:
            self.workstation.shutdown()
            self.workstation = None


