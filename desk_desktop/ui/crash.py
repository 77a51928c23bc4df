"""Uncaught exceptions in the GUI: logged with their traceback, then shown in a dialog to send.

``CrashReporter.install()`` replaces ``sys.excepthook``, which PySide6 calls for an
exception raised in a slot or an event handler. The dialog says what happened, where the
log file is, and offers "Copy details" (the traceback and versions, for a bug report) and
"Open log folder". While one dialog is open, further exceptions are only logged. An
exception that ends a background thread (``threading.excepthook``) is logged too; no
dialog, as widgets belong to the GUI thread.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop import APP_NAME, __version__

log = logging.getLogger(__name__)


def open_folder(path: Path) -> bool:
    """Open a folder in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class CrashDialog(QDialog):
    def __init__(self, summary: str, details: str, log_file: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} — unexpected error")
        self.setMinimumWidth(560)
        self.details = details
        self.log_file = log_file
        heading = QLabel("Something went wrong. The window you were working in may not show the latest data.")
        heading.setWordWrap(True)
        self.message = QLabel(summary)
        self.message.setWordWrap(True)
        self.message.setProperty("role", "error")
        self.log_label = QLabel(f"The details are in the log file:\n{log_file}")
        self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_label.setWordWrap(True)
        view = QPlainTextEdit(details)
        view.setReadOnly(True)
        view.setMinimumHeight(160)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        self.folder_button = QPushButton("Open log folder")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy_details)
        self.folder_button.clicked.connect(lambda: open_folder(log_file.parent))
        layout = QVBoxLayout(self)
        for widget in (heading, self.message, self.log_label, view, buttons):
            layout.addWidget(widget)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details)
        self.copy_button.setText("Copied")


def describe_versions() -> str:
    import PySide6
    from PySide6.QtCore import qVersion

    return f"{APP_NAME} {__version__}; Python {sys.version.split()[0]}; Qt {qVersion()}; PySide6 {PySide6.__version__}"


class CrashReporter(QObject):
    """Installs itself as ``sys.excepthook``; ``dialog`` is the dialog shown last (for tests)."""

    def __init__(self, log_file: Path) -> None:
        super().__init__()
        self.log_file = log_file
        self.dialog: CrashDialog | None = None
        self._previous = sys.excepthook
        self._previous_thread_hook = threading.excepthook

    def install(self) -> None:
        self._previous = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        sys.excepthook = self.handle
        threading.excepthook = self.handle_thread

    def uninstall(self) -> None:
        sys.excepthook = self._previous
        threading.excepthook = self._previous_thread_hook

    @staticmethod
    def handle_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.critical("Uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def handle(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous(exc_type, exc, tb)
            return
        log.critical("Uncaught exception", exc_info=(exc_type, exc, tb))
        if self.dialog is not None and self.dialog.isVisible():
            return
        summary = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        details = describe_versions() + "\n\n" + "".join(traceback.format_exception(exc_type, exc, tb))
        self.dialog = CrashDialog(summary, details, self.log_file)
        self.dialog.show()
        self.dialog.raise_()
