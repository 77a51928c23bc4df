"""Settings → Work orders…: the organization's choice whether completing a ticket's last work
order resolves the ticket too. Administrators change it; everybody else sees it and is told
why they cannot. Read and saved through ``services.lifecycle`` on the worker pool."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desk_desktop.services import lifecycle
from desk_desktop.services.common import DeskError
from desk_desktop.ui.styling import restyle

READ_ONLY_NOTE = "Only an administrator can change this; you can look at it here."


def read_setting(uow_factory, actor) -> bool:
    return lifecycle.get_auto_resolve(uow=uow_factory(), actor=actor)


def save_setting(uow_factory, actor, enabled: bool) -> bool:
    return lifecycle.set_auto_resolve(uow=uow_factory(), actor=actor, enabled=enabled)


class WorkSettingsDialog(QDialog):
    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.saved_value: bool | None = None
        self.setWindowTitle("Work-order settings")
        self.setModal(True)
        self.setMinimumWidth(520)

        title = QLabel("Work orders")
        title.setObjectName("TicketTitle")
        self.auto_resolve = QCheckBox("Resolve the ticket when its last work order is completed")
        self.auto_resolve.setEnabled(False)  # until read
        hint = QLabel("Otherwise the dispatcher who completes the last order is asked whether to resolve "
                      "the ticket. Applies to the whole organization.")
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        self.note = QLabel("" if ctx.actor.is_admin else READ_ONLY_NOTE)
        self.note.setWordWrap(True)
        self.note.setVisible(not ctx.actor.is_admin)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.save_button = QPushButton("Save")
        self.save_button.setProperty("primary", True)
        self.save_button.setEnabled(False)
        self.save_button.setVisible(ctx.actor.is_admin)
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(self.auto_resolve)
        layout.addWidget(hint)
        layout.addWidget(self.note)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addLayout(buttons)

        close.clicked.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        self.auto_resolve.toggled.connect(self._changed)
        ctx.runner.submit(read_setting, ctx.uow_factory, ctx.actor, owner=self, key="read",
                          on_done=self._on_read, on_error=self._on_failed)

    def _on_read(self, enabled: bool) -> None:
        self.saved_value = enabled
        self.auto_resolve.setChecked(enabled)
        self.auto_resolve.setEnabled(self.ctx.actor.is_admin)
        self._changed()

    def _changed(self) -> None:
        self.save_button.setEnabled(self.saved_value is not None
                                    and self.auto_resolve.isChecked() != self.saved_value)

    def save(self) -> None:
        self.save_button.setEnabled(False)
        self.ctx.runner.submit(save_setting, self.ctx.uow_factory, self.ctx.actor, self.auto_resolve.isChecked(),
                               owner=self, key="save", on_done=self._on_saved, on_error=self._on_failed)

    def _on_saved(self, enabled: bool) -> None:
        self.saved_value = enabled
        self._show("Saved. " + ("Tickets are resolved when their last work order is completed." if enabled
                                else "Dispatchers are asked when a ticket's last work order is completed."),
                   "success")
        self._changed()

    def _on_failed(self, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, DeskError) else f"Something went wrong: {exc}. The details are in the log."
        self._show(text, "error")  # the box keeps what was ticked
        self._changed()

    def _show(self, text: str, kind: str) -> None:
        self.message.setText(text)
        restyle(self.message, banner=kind)
        self.message.setVisible(True)

    def done(self, result: int) -> None:  # QDialog API
        self.ctx.runner.drop(self)
        super().done(result)
