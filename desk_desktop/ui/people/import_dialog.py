"""Import technicians, their absences or customers from a CSV file: choose the file, see its first rows, and
either the problems by line number (nothing is imported) or a progress bar while the whole
file goes in, in one transaction, and the result."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.ui.card import Card
from desk_desktop.ui.styling import restyle

PREVIEW_ROWS = 8
NOUNS = {"technicians": ("technician", "technicians"), "absences": ("absence", "absences"),
         "customers": ("customer", "customers")}


def check_file(uow_factory, actor, kind: str, path: str):
    """The engine's check of the whole file (nothing written): ``importing.Checked``."""
    from desk_desktop.services import importing

    return importing.CHECK[kind](uow=uow_factory(), actor=actor, path=Path(path))


def run_import(uow_factory, actor, checked, progress) -> int:
    """Import what ``check_file`` accepted, in one transaction; ``progress(done, total)``; how many were added."""
    from desk_desktop.services import importing

    return importing.RUN[checked.kind](uow=uow_factory(), actor=actor, checked=checked, progress=progress)


class _Progress(QObject):
    """Carries the worker's ``progress(done, total)`` calls to the GUI thread (a queued signal)."""

    moved = Signal(int, int)

    def __call__(self, done: int, total: int) -> None:
        self.moved.emit(int(done), int(total))


class ImportDialog(QDialog):
    imported = Signal(int)  # how many records were created or updated

    def __init__(self, ctx, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.kind = kind
        self.checked = None
        self.running = False
        many = NOUNS[kind][1]
        self.setWindowTitle(f"Import {many}")
        self.setModal(True)
        self.resize(860, 600)

        heading = QLabel(f"Import {many} from a CSV file")
        heading.setObjectName("TicketTitle")
        hint = QLabel("Every row is checked first: if one is wrong, nothing is imported and each problem is "
                      "listed with its line number. Comma or semicolon separated; UTF-8 or Windows-1252.")
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("No file chosen")
        self.choose_button = QPushButton("Choose file…")
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.choose_button)

        self.preview = QTableWidget(0, 0)
        self.preview.verticalHeader().setVisible(False)
        self.preview.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.preview.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.preview.horizontalHeader().setStretchLastSection(True)
        preview_card = Card("First rows", margins=(14, 10, 14, 10))
        preview_card.body.addWidget(self.preview)

        self.problems = QListWidget()
        self.problems.setObjectName("ImportProblems")
        self.problems_card = Card("Problems — nothing was imported", margins=(14, 10, 14, 10))
        self.problems_card.body.addWidget(self.problems)
        self.problems_card.setVisible(False)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.close_button = QPushButton("Cancel")
        self.import_button = QPushButton(f"Import {many}")
        self.import_button.setProperty("primary", True)
        self.import_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.import_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(hint)
        layout.addLayout(file_row)
        layout.addWidget(preview_card, 1)
        layout.addWidget(self.problems_card, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self._progress = _Progress(self)
        self._progress.moved.connect(self._on_progress)
        self.choose_button.clicked.connect(self.choose_file)
        self.import_button.clicked.connect(self.start_import)
        self.close_button.clicked.connect(self.reject)

    # ------------------------------------------------------------------ checking
    def choose_file(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Choose a CSV file", "", "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> None:
        """Check ``path`` with the import engine (nothing is written) and show what it found."""
        self.path_edit.setText(path)
        self.checked = None
        self.import_button.setEnabled(False)
        self.problems_card.setVisible(False)
        self._set_status("Checking every row…", "info")
        self.ctx.runner.submit(check_file, self.ctx.uow_factory, self.ctx.actor, self.kind, path, owner=self,
                               key="check", on_done=self._on_checked, on_error=self._on_check_failed)

    def _on_checked(self, checked) -> None:
        self._show_preview(checked.columns, checked.preview)
        if checked.problems:
            self.problems.clear()
            for problem in checked.problems:
                self.problems.addItem(str(problem))
            self.problems_card.setVisible(True)
            self._set_status(f"{len(checked.problems)} problem(s) found. Fix the file and choose it again; "
                             "nothing was imported.", "error")
            return
        self.checked = checked
        self.import_button.setEnabled(True)
        self._set_status(f"{checked.rows} row(s) checked, no problems. Ready to import.", "info")

    def _on_check_failed(self, exc: BaseException) -> None:
        self._set_status(f"The file could not be read: {exc}", "error")

    def _show_preview(self, columns, preview) -> None:
        rows = preview[:PREVIEW_ROWS]
        self.preview.clear()
        self.preview.setColumnCount(len(columns))
        self.preview.setHorizontalHeaderLabels(list(columns))
        self.preview.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, column in enumerate(columns):
                self.preview.setItem(r, c, QTableWidgetItem(row.get(column, "")))

    # ------------------------------------------------------------------ importing
    def start_import(self) -> None:
        if self.checked is None or self.running:
            return
        self.running = True
        self.import_button.setEnabled(False)
        self.choose_button.setEnabled(False)
        self.close_button.setEnabled(False)
        self.progress.setRange(0, max(1, self.checked.rows))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._set_status("Importing… (one transaction: all of it or nothing)", "info")
        self.ctx.runner.submit(run_import, self.ctx.uow_factory, self.ctx.actor, self.checked, self._progress,
                               owner=self, key="run", on_done=self._on_imported, on_error=self._on_import_failed)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _finish(self) -> None:
        self.running = False
        self.progress.setVisible(False)
        self.choose_button.setEnabled(True)
        self.close_button.setEnabled(True)
        self.close_button.setText("Close")

    def _on_imported(self, added: int) -> None:
        self._finish()
        one, many = NOUNS[self.kind]
        self._set_status(f"Imported {added} {one if added == 1 else many} from {Path(self.checked.path).name}.",
                         "success")
        self.checked = None  # imported: choose another file to import again
        self.imported.emit(added)

    def _on_import_failed(self, exc: BaseException) -> None:
        self._finish()
        self.import_button.setEnabled(True)
        self._set_status(f"Nothing was imported: {exc}", "error")

    def _set_status(self, text: str, kind: str) -> None:
        self.status.setText(text)
        restyle(self.status, banner=kind)
        self.status.setVisible(True)

    def reject(self) -> None:  # no closing half-way: the import is one transaction that finishes or not
        if not self.running:
            self.ctx.runner.drop(self)
            super().reject()
