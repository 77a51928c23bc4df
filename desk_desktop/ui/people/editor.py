"""The frame of a people editor (a dialog): heading, form, banner, Cancel and Save; loading and
saving on the worker pool; a failed save keeps what was typed; Cancel asks before unsaved
changes are dropped. The technician and customer editors fill it in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desk_desktop.ui.people.forms import FieldErrors, problems_of
from desk_desktop.ui.styling import restyle


class FormProblem(Exception):
    """What the form cannot even send (coordinates that are not numbers): shown next to ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def keep_editing(parent: QWidget, what: str) -> bool:
    """Asked when an editor with unsaved changes is closed: True when the person chooses to
    go on editing (the default button), False to discard the changes."""
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                      f"Discard your changes to this {what}?", parent=parent)
    box.setInformativeText("What you typed has not been saved.")
    discard = box.addButton("Discard changes", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep editing", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setObjectName("DiscardChangesBox")
    box.exec()
    return box.clickedButton() is not discard


class RecordEditor(QDialog):
    """One record of kind ``what`` ("technician"), new when ``record_id`` is None.

    A subclass builds its form, then calls ``build(widgets, load, save)``: ``load(uow_factory,
    actor, record_id)`` and ``save(uow_factory, actor, record_id, data)`` run on the worker
    pool. It implements ``fill(loaded)`` (the form from what ``load`` returned),
    ``form_data()`` (the data to save, or ``FormProblem``), ``show_problems(problems)`` and
    ``record_saved(result)`` (what ``save`` returned: emit ``saved``)."""

    what = "record"

    def __init__(self, ctx, record_id: int | None, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.record_id = record_id
        self.catalogs = None
        self.loaded = False
        self.saved_state: str | None = None
        self._saving = False
        self._save: Callable[..., Any] | None = None
        self.setWindowTitle(f"New {self.what}" if record_id is None else f"Edit {self.what}")
        self.setModal(True)
        self.errors = FieldErrors()
        self.heading = QLabel(f"New {self.what}" if record_id is None else self.what.capitalize())
        self.heading.setObjectName("TicketTitle")
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(80)
        self.busy.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.save_button = QPushButton("Save")
        self.save_button.setProperty("primary", True)
        self.save_button.setDefault(True)
        self.save_button.setEnabled(False)  # until the form is loaded

    def build(self, widgets: list[tuple[QWidget, int]], load: Callable[..., Any], save: Callable[..., Any]) -> None:
        """Lays out the heading, ``widgets`` (each with its stretch), the banner and the
        buttons, and starts loading."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(10)
        layout.addWidget(self.heading)
        for widget, stretch in widgets:
            layout.addWidget(widget, stretch)
        layout.addWidget(self.banner)
        layout.addLayout(buttons)
        self.save_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.reject)
        self._save = save
        self.ctx.runner.submit(load, self.ctx.uow_factory, self.ctx.actor, self.record_id, owner=self, key="load",
                               on_done=self._on_loaded, on_error=self._on_load_failed)

    # ------------------------------------------------------------------ loading
    def _on_loaded(self, result) -> None:
        self.fill(result)
        self.loaded = True
        self.saved_state = self.form_state()
        self.save_button.setEnabled(True)

    def _on_load_failed(self, exc: BaseException) -> None:
        self.show_banner(f"The {self.what} could not be loaded: {exc}", "error")

    # ------------------------------------------------------------------ saving
    def form_state(self) -> str:
        """What the form holds, comparable with what it held when loaded."""
        try:
            return repr(self.form_data())
        except FormProblem as exc:  # text that cannot even be read is a change too
            return f"unreadable: {exc}"

    def submit(self) -> None:
        if self._saving or not self.loaded:
            return
        try:
            data = self.form_data()
        except FormProblem as exc:
            self.show_problems({exc.field: exc.message})
            return
        self._saving = True
        self.save_button.setEnabled(False)
        self.save_button.setText("Saving…")
        self.busy.setVisible(True)
        self.ctx.runner.submit(self._save, self.ctx.uow_factory, self.ctx.actor, self.record_id, data, owner=self,
                               key="save", on_done=self._on_saved, on_error=self._on_save_failed)

    def _saving_done(self) -> None:
        self._saving = False
        self.busy.setVisible(False)
        self.save_button.setEnabled(True)
        self.save_button.setText("Save")

    def _on_saved(self, result) -> None:
        self._saving_done()
        self.show_problems({})
        self.record_saved(result)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._saving_done()
        problems = problems_of(exc)
        if problems:
            self.show_problems(problems)
        else:
            self.show_banner(f"The {self.what} was not saved: {exc}", "error")

    def show_field_problems(self, shown: dict[str, str]) -> None:
        """``shown`` next to their fields, and the banner: what no field shows, or where to look."""
        rest = self.errors.show(shown)
        if not shown:
            self.banner.setVisible(False)
        elif rest:
            self.show_banner(f"The {self.what} was not saved: " + "; ".join(rest.values()), "error")
        else:
            self.show_banner(f"The {self.what} was not saved — see the messages next to the fields.", "error")

    def show_banner(self, text: str, kind: str) -> None:
        self.banner.setText(text)
        restyle(self.banner, banner=kind)
        self.banner.setVisible(True)

    # ------------------------------------------------------------------ closing
    def reject(self) -> None:
        """Cancel, Esc or the window's close button: unsaved changes are dropped only when the
        dispatcher says so."""
        if self.loaded and not self._saving and self.form_state() != self.saved_state \
                and keep_editing(self, self.what):
            return
        super().reject()

    def done(self, result: int) -> None:  # QDialog API
        self.ctx.runner.drop(self)
        super().done(result)

    # ------------------------------------------------------------------ filled in by the editors
    def fill(self, loaded) -> None:
        raise NotImplementedError

    def form_data(self):
        raise NotImplementedError

    def show_problems(self, problems: dict[str, str]) -> None:
        raise NotImplementedError

    def record_saved(self, result) -> None:
        raise NotImplementedError
