"""The work-order card of the ticket detail: the order's fields, its lifecycle steps (hold,
cancel and complete ask first, in a dialog), the customer's booked window, the way to the
board and the calendar invitation (Save .ics…), and the assignment explained in words.

The card tells the pane what happened (``message``), that the ticket's order changed here
(``changed``: the pane reads the ticket again, keeping unsaved edits), that the dispatcher
wants the ticket resolved after completing its last order (``resolve_requested``) or the
visit shown on the board (``board_requested``)."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QGridLayout, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from desk_desktop.domain.absences import period_text
from desk_desktop.domain.catalogs import SKILLS, WORK_ORDER_TYPES
from desk_desktop.domain.lifecycle import FINISHED, LABELS, NEEDS_REASON, Action, allowed_actions, status_words
from desk_desktop.ui.booked_window import BookedWindowDialog
from desk_desktop.ui.card import Card
from desk_desktop.ui.tickets.lifecycle_dialog import StepDialog
from desk_desktop.ui.tickets.style import chip_style, muted_label, title, value_label

log = logging.getLogger(__name__)

STEPS_PER_ROW = 3


def explain_assignment(work_order) -> str:
    """The stored assignment explanation in words (H2's ``assignment.explain``)."""
    if work_order is None:
        return ""
    data = work_order.assignment_explanation
    text = ""
    if data:
        from desk_desktop.services import assignment

        try:
            text = assignment.explain(data)
        except Exception as exc:  # noqa: BLE001 - an odd stored document must not break the pane
            log.warning("could not explain assignment: %s", exc)
            text = ""
    if not text and work_order.unassigned_reason:
        text = f"Not assigned yet: {work_order.unassigned_reason}"
    if not text:
        if work_order.technician_name:
            text = f"Assigned to {work_order.technician_name}."
        elif work_order.needs_assignment:
            strategy = title(work_order.assignment_logic) if work_order.assignment_logic else "automatic"
            text = f"Waiting for automatic assignment ({strategy.lower()})."
        else:
            text = "Waiting for a dispatcher to assign a technician."
    return text


def calendar_file(uow_factory, actor, work_order_id: int):
    from desk_desktop.services import notifications

    return notifications.calendar_file(uow=uow_factory(), actor=actor, work_order_id=work_order_id)


def work_order_step(uow_factory, actor, work_order_id: int, action: str, fields: dict):
    from desk_desktop.services import lifecycle

    return lifecycle.transition(uow=uow_factory(), actor=actor, work_order_id=work_order_id, action=action, **fields)


WO_STATUS_COLORS = {
    "unassigned": ("#b42318", "#fdecea"),
    "assigned": ("#0b5cad", "#e3eefa"),
    "scheduled": ("#1b6e3a", "#e4f4ea"),
    "travelling": ("#6a3fb5", "#efe8fb"),
    "on_site": ("#8a5a00", "#fff4dc"),
    "on_hold": ("#9a3412", "#ffedd5"),
    "completed": ("#4a5a66", "#eceff1"),
    "cancelled": ("#6b7280", "#f3f4f6"),
}


def lifecycle_text(wo) -> str:
    """What the lifecycle recorded on the order, in words ("" when nothing yet)."""
    if wo.status == "on_hold" and wo.hold_reason:
        return f"On hold: {wo.hold_reason}"
    if wo.status == "completed" and wo.actual_start is not None:
        return (f"Worked {_at(wo, wo.actual_start)} – {_at(wo, wo.actual_end, '%H:%M')}"
                + (f"\nResolution: {wo.resolution_note}" if wo.resolution_note else ""))
    if wo.status == "cancelled" and wo.cancel_reason:
        return f"Cancelled: {wo.cancel_reason}"
    if wo.status == "on_site" and wo.on_site_at is not None:
        return f"On site since {_at(wo, wo.on_site_at, '%a %d %b %H:%M')}"
    return ""


def _visit_text(wo) -> str:
    """When the visit is planned, or 'Not scheduled'."""
    if wo.scheduled_start is None:
        return "Not scheduled"
    return _at(wo, wo.scheduled_start) + (f" – {_at(wo, wo.scheduled_end, '%H:%M')}" if wo.scheduled_end else "")


def _at(wo, value: datetime, fmt: str = "%a %d %b %Y %H:%M") -> str:
    """A time of the visit in the organization's time zone, as the board and the booked
    window say it ('Mon 07 Dec 2026 08:00')."""
    return value.astimezone(ZoneInfo(wo.timezone)).strftime(fmt)


class WorkOrderCard(Card):
    message = Signal(str, str)  # text, banner kind ("success" or "error")
    changed = Signal(int)  # ticket id: its order changed here
    resolve_requested = Signal(int)  # ticket id
    board_requested = Signal(int, object)  # work order id, its scheduled start (None: not scheduled)

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__("Work order", parent=parent)
        self.ctx = ctx
        self.ticket_id: int | None = None
        self.order = None  # services.tickets.WorkOrderDetail of the ticket shown (None: it has none)
        self.status_chip = QLabel("")
        head = QHBoxLayout()
        self.number = QLabel("", objectName="WorkOrderNumber")
        head.addWidget(self.number)
        head.addWidget(self.status_chip)
        head.addStretch(1)
        self.body.addLayout(head)
        self.details = QWidget()
        grid = QGridLayout(self.details)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        self.values: dict[str, QLabel] = {}
        for i, (key, label) in enumerate((("type", "Type"), ("priority", "Priority"), ("technician", "Technician"),
                                           ("schedule", "Schedule"), ("window", "Booked window"),
                                           ("rule", "Created by"))):
            grid.addWidget(muted_label(label), i, 0, Qt.AlignmentFlag.AlignTop)
            value = value_label()
            self.values[key] = value
            grid.addWidget(value, i, 1)
        self.body.addWidget(self.details)
        self.progress = QLabel("", objectName="WorkOrderProgress")
        self.progress.setWordWrap(True)
        self.progress.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(self.progress)
        self.actions_box = QGridLayout()  # the steps, STEPS_PER_ROW to a row: the card stays narrow
        self.actions_box.setSpacing(6)
        row = QHBoxLayout()
        row.addLayout(self.actions_box)
        row.addStretch(1)
        self.body.addLayout(row)
        # The visit's tools, on a row of their own below the steps.
        row = QHBoxLayout()
        row.setSpacing(6)
        self.window_button = QPushButton("Booked window…", objectName="BookedWindow")
        self.window_button.setToolTip("When the customer expects the technician: the visit starts inside this window")
        self.window_button.clicked.connect(self.edit_window)
        self.board_button = QPushButton("Show on board", objectName="ShowOnBoard")
        self.board_button.setToolTip("Open the schedule board on this visit's day, the visit selected")
        self.board_button.clicked.connect(self._on_board_clicked)
        self.save_ics_button = QPushButton("Save .ics…", objectName="SaveCalendarFile")
        self.save_ics_button.setToolTip("Save the visit's calendar invitation — the one its technician was sent — "
                                        "as an .ics file")
        self.save_ics_button.clicked.connect(self.save_calendar_file)
        for button in (self.window_button, self.board_button, self.save_ics_button):
            row.addWidget(button)
        row.addStretch(1)
        self.body.addLayout(row)
        self.action_buttons: dict[str, QPushButton] = {}
        # The dialogs last opened (tests drive them).
        self.window_dialog: BookedWindowDialog | None = None
        self.step_dialog: StepDialog | None = None
        self.resolve_prompt: QMessageBox | None = None
        self.explanation_label = QLabel("")
        self.explanation_label.setObjectName("Explanation")
        self.explanation_label.setWordWrap(True)
        self.explanation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(self.explanation_label)
        self.explanation_toggle = QPushButton("Show all candidates")
        self.explanation_toggle.setFlat(True)
        self.explanation_toggle.setObjectName("LinkButton")
        self.explanation_toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.explanation_toggle.clicked.connect(self._on_explanation_toggle_clicked)
        self._explanation_full = ""
        self._explanation_expanded = False
        self.body.addWidget(self.explanation_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.no_order_label = muted_label("")
        self.no_order_label.setWordWrap(True)
        self.body.addWidget(self.no_order_label)

    def show_order(self, ticket_id: int, wo, catalogs, explanation: str) -> None:
        """The order of ticket ``ticket_id`` (``wo``: None when the ticket has none)."""
        self.ticket_id, self.order = ticket_id, wo
        for button in (self.window_button, self.board_button, self.save_ics_button):
            button.setVisible(wo is not None)
        self.details.setVisible(wo is not None)
        self.no_order_label.setVisible(wo is None)
        if wo is None:
            self.number.setText("")
            self.status_chip.setText("")
            self.status_chip.setStyleSheet("")
            for v in self.values.values():
                v.setText("")
            self.progress.setVisible(False)
            self._fill_actions(())
            self.explanation_label.setVisible(False)
            self.explanation_toggle.setVisible(False)
            self.no_order_label.setText("No work order. No active rule matched this ticket when it was created.")
            return
        self.number.setText(wo.number)
        wfg, wbg = WO_STATUS_COLORS.get(wo.status, ("#4a5a66", "#eceff1"))
        self.status_chip.setText(status_words(wo.status).capitalize())
        self.status_chip.setStyleSheet(chip_style(wfg, wbg))
        self.values["type"].setText(f"{catalogs.name(WORK_ORDER_TYPES, wo.work_type)} · {wo.duration_minutes} min")
        self.values["priority"].setText(title(wo.priority))
        skill_names = catalogs.names(SKILLS, wo.required_skills)
        skills = f" · needs {', '.join(skill_names)}" if wo.required_skills else ""
        self.values["technician"].setText((wo.technician_name or "Not assigned") + skills)
        self.values["schedule"].setText(_visit_text(wo))
        window = period_text(wo.window_start, wo.window_end, wo.timezone) if wo.window_start else ""
        self.values["window"].setText(window[:1].upper() + window[1:] if window else "None")
        self.window_button.setEnabled(wo.status not in FINISHED)
        if wo.rule_name:
            strategy = f", auto-assign: {title(wo.assignment_logic).lower()}" if wo.assignment_logic else ""
            self.values["rule"].setText(f"Rule “{wo.rule_name}”{strategy}")
        else:
            self.values["rule"].setText(title(wo.source))
        progress = lifecycle_text(wo)
        self.progress.setText(progress)
        self.progress.setVisible(bool(progress))
        self._fill_actions(allowed_actions(wo.status))
        self._explanation_full = explanation
        self._show_explanation()

    def _show_explanation(self) -> None:
        full = self._explanation_full or ""
        lines = full.splitlines()
        cut = next((i for i, line in enumerate(lines) if line.lower().startswith("candidates considered")), None)
        short = "\n".join(lines[:cut]) if cut else full
        expandable = cut is not None and short != full
        self.explanation_label.setText(full if (self._explanation_expanded or not expandable) else short)
        self.explanation_label.setVisible(bool(full))
        self.explanation_toggle.setVisible(expandable)
        self.explanation_toggle.setText("Hide candidates" if self._explanation_expanded else
                                        f"Show all candidates ({lines[cut].split('(')[-1].rstrip('):') if cut else ''})")

    def _on_explanation_toggle_clicked(self) -> None:
        self._explanation_expanded = not self._explanation_expanded
        self._show_explanation()

    def _fill_actions(self, actions) -> None:
        """One button per step the order's status allows, nothing else."""
        for b in self.action_buttons.values():
            self.actions_box.removeWidget(b)
            b.deleteLater()
        self.action_buttons = {}
        for i, action in enumerate(actions):
            button = QPushButton(LABELS[action])
            button.setObjectName(f"WorkOrderAction_{action.value}")
            if action == Action.COMPLETE:
                button.setProperty("primary", True)
            button.clicked.connect(lambda _=False, a=action: self.work_order_action(a))
            self.actions_box.addWidget(button, *divmod(i, STEPS_PER_ROW))
            self.action_buttons[action.value] = button

    def edit_window(self) -> None:
        """The customer's booked window of the ticket's work order."""
        ticket_id, wo = self.ticket_id, self.order
        if wo is None:
            return
        zone = ZoneInfo(wo.timezone)
        day = (wo.window_start or wo.scheduled_start or datetime.now(zone)).astimezone(zone).date()
        window = (wo.window_start, wo.window_end) if wo.window_start is not None else None
        dialog = BookedWindowDialog(self.ctx, work_order_id=wo.id, number=wo.number, window=window,
                                    tz_name=wo.timezone, day=day, parent=self)
        self.window_dialog = dialog

        def saved() -> None:
            words = f"booked window {period_text(*dialog.saved, wo.timezone)}" if dialog.saved else "no booked window"
            self.message.emit(f"{wo.number}: {words}.", "success")
            self.changed.emit(ticket_id)

        dialog.accepted.connect(saved)
        dialog.open()

    def _on_board_clicked(self) -> None:
        if self.order is not None:
            self.board_requested.emit(self.order.id, self.order.scheduled_start)

    # ----------------------------------------------------------------- calendar invitation
    def ask_save_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Save the calendar invitation", suggested,
                                              "iCalendar files (*.ics)")
        return path

    def save_calendar_file(self) -> None:
        """Write the order's current invitation (REQUEST, current SEQUENCE) where the dispatcher
        chooses; an order with none (not assigned, not scheduled, cancelled) says why."""
        wo = self.order
        if wo is None:
            return
        self.save_ics_button.setEnabled(False)

        def done(found) -> None:
            self.save_ics_button.setEnabled(True)
            path = self.ask_save_path(found.filename)
            if not path:
                return
            try:
                with open(path, "wb") as f:
                    f.write(found.content)
            except OSError as exc:
                self.message.emit(f"Could not save {path}: {exc.strerror or exc}", "error")
                return
            self.message.emit(f"Saved the calendar invitation of {found.work_order_number} "
                              f"(update {found.sequence}) to {path}.", "success")

        def failed(exc: BaseException) -> None:
            self.save_ics_button.setEnabled(True)
            self.message.emit(str(exc), "error")

        self.ctx.runner.submit(calendar_file, self.ctx.uow_factory, self.ctx.actor, wo.id, owner=self,
                               on_done=done, on_error=failed)

    # ----------------------------------------------------------------- work-order lifecycle
    def work_order_action(self, action: Action) -> None:
        """A step of the order: hold, cancel and complete ask first (a dialog), the rest go at once."""
        wo = self.order
        if wo is None:
            return
        if action in NEEDS_REASON or action == Action.COMPLETE:
            started = wo.on_site_at or (wo.scheduled_start if action == Action.COMPLETE else None)
            dlg = StepDialog(action, wo.number, started=started, parent=self)
            self.step_dialog = dlg
            dlg.accepted.connect(lambda: self._run_step(action, dlg.values()))
            dlg.open()
        else:
            self._run_step(action, {})

    def _run_step(self, action: Action, fields: dict) -> None:
        ticket_id, wo = self.ticket_id, self.order
        if wo is None:
            return
        for b in self.action_buttons.values():
            b.setEnabled(False)

        def done(result) -> None:
            text = f"{result.number}: {status_words(result.previous_status)} → {status_words(result.status)}."
            if result.ticket_resolved:
                text += f" Ticket {result.ticket_number} is resolved (the organization resolves tickets automatically)."
            if result.notifications:
                text += " The customer will be told."
            self.message.emit(text, "success")
            self.changed.emit(ticket_id)
            if result.ticket_can_be_resolved:
                self._ask_to_resolve(ticket_id, result.ticket_number)

        def failed(exc: BaseException) -> None:
            # Refused (changed elsewhere meanwhile) or invalid: say why and show what is true now.
            self.message.emit(f"{wo.number} not changed: {exc}", "error")
            self.changed.emit(ticket_id)

        self.ctx.runner.submit(work_order_step, self.ctx.uow_factory, self.ctx.actor, wo.id, action.value, fields,
                               owner=self, on_done=done, on_error=failed)

    def _ask_to_resolve(self, ticket_id: int, ticket_number: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Resolve the ticket too?",
                          f"That was the last open work order of {ticket_number}. Resolve the ticket too?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.button(QMessageBox.StandardButton.Yes).setText("Resolve ticket")
        box.button(QMessageBox.StandardButton.No).setText("Not now")
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.resolve_prompt = box

        def answered(button) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.resolve_requested.emit(ticket_id)

        box.buttonClicked.connect(answered)
        box.open()

