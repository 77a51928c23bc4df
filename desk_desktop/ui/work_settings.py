"""Settings → Work orders…: the organization's switches — whether completing a ticket's last
work order resolves the ticket too, and whether the next day is optimized every evening.
Administrators change them; everybody else sees them and is told why they cannot. Read and
saved through ``services.org_switches`` on the worker pool."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desk_desktop.services import org_switches
from desk_desktop.services.common import DeskError
from desk_desktop.services.dayplan.nightly import NIGHTLY_HOUR
from desk_desktop.ui.styling import restyle

READ_ONLY_NOTE = "Only an administrator can change these; you can look at them here."


def read_settings(uow_factory, actor) -> dict[str, bool]:
    return org_switches.get_switches(uow=uow_factory(), actor=actor)


def save_settings(uow_factory, actor, changed: dict[str, bool]) -> dict[str, bool]:
    """Each changed switch in its own unit of work; then what is stored now."""
    for name, enabled in changed.items():
        org_switches.set_switch(uow=uow_factory(), actor=actor, name=name, enabled=enabled)
    return org_switches.get_switches(uow=uow_factory(), actor=actor)


class WorkSettingsDialog(QDialog):
    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.saved: dict[str, bool] | None = None
        self.setWindowTitle("Work-order settings")
        self.setModal(True)
        self.setMinimumWidth(560)

        title = QLabel("Work orders")
        title.setObjectName("TicketTitle")
        self.auto_resolve = QCheckBox("Resolve the ticket when its last work order is completed")
        resolve_hint = QLabel("Otherwise the dispatcher who completes the last order is asked whether to resolve "
                              "the ticket.")
        self.nightly = QCheckBox(f"Optimize the next day every evening (from {NIGHTLY_HOUR}:00, organization time)")
        nightly_hint = QLabel("The scheduler plans the next day's open orders at once and applies the plan; "
                              "pinned visits and visits under way stay. Each change is audited and the "
                              "technicians and customers are told.")
        self.boxes = {"auto_resolve_tickets": self.auto_resolve, "nightly_optimize": self.nightly}
        for hint in (resolve_hint, nightly_hint):
            hint.setObjectName("Muted")
            hint.setWordWrap(True)
        for box in self.boxes.values():
            box.setEnabled(False)  # until read
        scope = QLabel("These apply to the whole organization.")
        scope.setObjectName("Muted")
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
        for w in (self.auto_resolve, resolve_hint, self.nightly, nightly_hint, scope, self.note, self.message):
            layout.addWidget(w)
        layout.addStretch(1)
        layout.addLayout(buttons)

        close.clicked.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        for box in self.boxes.values():
            box.toggled.connect(self._changed)
        ctx.runner.submit(read_settings, ctx.uow_factory, ctx.actor, owner=self, key="read",
                          on_done=self._on_read, on_error=self._on_failed)

    def _on_read(self, switches: dict[str, bool]) -> None:
        self.saved = switches
        for name, box in self.boxes.items():
            box.setChecked(switches[name])
            box.setEnabled(self.ctx.actor.is_admin)
        self._changed()

    def _edits(self) -> dict[str, bool]:
        """The switches ticked differently from what is stored."""
        if self.saved is None:
            return {}
        return {name: box.isChecked() for name, box in self.boxes.items() if box.isChecked() != self.saved[name]}

    def _changed(self) -> None:
        self.save_button.setEnabled(bool(self._edits()))

    def save(self) -> None:
        self.save_button.setEnabled(False)
        self.ctx.runner.submit(save_settings, self.ctx.uow_factory, self.ctx.actor, self._edits(),
                               owner=self, key="save", on_done=self._on_saved, on_error=self._on_failed)

    def _on_saved(self, switches: dict[str, bool]) -> None:
        self.saved = switches
        self._show("Saved. " + ("Tickets are resolved when their last work order is completed."
                                if switches["auto_resolve_tickets"]
                                else "Dispatchers are asked when a ticket's last work order is completed.")
                   + (" The next day is optimized every evening." if switches["nightly_optimize"] else ""),
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
