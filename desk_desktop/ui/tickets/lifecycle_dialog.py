"""The small dialogs of the work-order lifecycle: a reason (hold, cancel), a resolution with the
times worked (complete), and what to do with open orders when a ticket is resolved or closed.

Each validates as the dispatcher types (the button stays off, the problem is named under
the field) and is opened window-modal with ``open()``; the caller reads ``values()`` on
``accepted``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.lifecycle import Action
from desk_desktop.services.lifecycle import NOTE_MAX, REASON_MAX
from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.style import field_error_label

_TITLES = {
    Action.HOLD: ("Put {n} on hold", "Why is the work on hold? The technician and the other dispatchers will see it.",
                  "Put on hold"),
    Action.CANCEL: ("Cancel {n}", "Why is this work order cancelled? It stops counting toward the technician's jobs.",
                    "Cancel the order"),
    Action.COMPLETE: ("Complete {n}", "What was done? The times are when the work started and ended.", "Complete"),
}


def _qt_time(value: datetime) -> QDateTime:
    return QDateTime.fromSecsSinceEpoch(int(value.timestamp()))


def _py_time(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), UTC)


class StepDialog(QDialog):
    """Hold or cancel (a reason), or complete (a resolution note, the start and the end)."""

    def __init__(self, action: Action, number: str, *, started: datetime | None = None,
                 now: datetime | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.action = action
        self._now = now or datetime.now(UTC)
        heading, lead, ok_text = _TITLES[action]
        self.setWindowTitle(heading.format(n=number))
        self.setObjectName("LifecycleDialog")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        title = QLabel(heading.format(n=number), objectName="DialogHeading")
        title.setStyleSheet("font-size: 15px; font-weight: 600;")
        layout.addWidget(title)
        hint = QLabel(lead)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        form = QFormLayout()
        self.reason_edit: QLineEdit | None = None
        self.note_edit: QPlainTextEdit | None = None
        self.started_edit: QDateTimeEdit | None = None
        self.ended_edit: QDateTimeEdit | None = None
        if action == Action.COMPLETE:
            self.note_edit = QPlainTextEdit()
            self.note_edit.setPlaceholderText("e.g. Replaced the condenser fan motor; tested for 20 minutes.")
            self.note_edit.setTabChangesFocus(True)
            self.note_edit.setFixedHeight(90)
            form.addRow("Resolution", self.note_edit)
            # Default: when it went on site — at least a minute ago, so the defaults can be taken as they are.
            latest_start = self._now - timedelta(minutes=1)
            self.started_edit = QDateTimeEdit(_qt_time(min(started or latest_start, latest_start)))
            self.ended_edit = QDateTimeEdit(_qt_time(self._now))
            for edit in (self.started_edit, self.ended_edit):
                edit.setDisplayFormat("yyyy-MM-dd HH:mm")
                edit.setCalendarPopup(True)
                edit.dateTimeChanged.connect(self._validate)
            form.addRow("Started", self.started_edit)
            form.addRow("Ended", self.ended_edit)
            self.note_edit.textChanged.connect(self._validate)
        else:
            self.reason_edit = QLineEdit()
            self.reason_edit.setMaxLength(REASON_MAX)
            self.reason_edit.setPlaceholderText("e.g. Waiting for a spare part" if action == Action.HOLD
                                                else "e.g. The customer fixed it themselves")
            self.reason_edit.textChanged.connect(self._validate)
            form.addRow("Reason", self.reason_edit)
        layout.addLayout(form)
        self.error_label = field_error_label()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setProperty("primary", True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Back")
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._validate()

    def problem(self) -> tuple[str, str]:
        """What stops the step, in words, and the field it is about ("times", "note", "reason");
        ("", "") when it can go."""
        if self.reason_edit is not None:
            return ("", "") if self.reason_edit.text().strip() else ("Give a reason.", "reason")
        note = self.note_edit.toPlainText().strip()
        if not note:
            return "Describe what was done.", "note"
        if len(note) > NOTE_MAX:
            return f"The resolution is {len(note)} characters; the limit is {NOTE_MAX}.", "note"
        started, ended = _py_time(self.started_edit.dateTime()), _py_time(self.ended_edit.dateTime())
        if ended > max(self._now, datetime.now(UTC)):
            return "The end cannot be in the future.", "times"
        if ended <= started:
            return "The work must end after it started.", "times"
        return "", ""

    def _validate(self, *_args) -> None:
        problem, field = self.problem()
        typed = bool(self.reason_edit.text() if self.reason_edit is not None else self.note_edit.toPlainText())
        # An empty text is not shown as an error: the button just waits for it. Times are checked at once.
        shown = problem if typed or field == "times" else ""
        self.error_label.setText(shown)
        self.error_label.setVisible(bool(shown))
        self.ok_button.setEnabled(not problem)
        for edit in (self.started_edit, self.ended_edit):
            if edit is not None:
                restyle(edit, invalid=field == "times")

    def _accept_if_valid(self) -> None:
        if not self.problem()[0]:
            self.accept()

    def values(self) -> dict:
        """The service's keyword arguments for this step."""
        if self.reason_edit is not None:
            return {"reason": self.reason_edit.text().strip()}
        return {"note": self.note_edit.toPlainText().strip(), "started": _py_time(self.started_edit.dateTime()),
                "ended": _py_time(self.ended_edit.dateTime())}


class OpenOrdersDialog(QDialog):
    """Resolving or closing a ticket whose work order is not finished: cancel it (with a
    reason) or leave it open."""

    def __init__(self, ticket_number: str, status: str, orders_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        verb = "Resolve" if status == "resolved" else "Close"
        self.setWindowTitle(f"{verb} {ticket_number}")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        lead = QLabel(f"{ticket_number} still has open work: {orders_text}. What should happen to it?")
        lead.setWordWrap(True)
        layout.addWidget(lead)
        self.cancel_choice = QRadioButton("Cancel the work order")
        self.leave_choice = QRadioButton("Leave it open (the technician still goes)")
        self.cancel_choice.setChecked(True)
        self.reason_edit = QLineEdit()
        self.reason_edit.setMaxLength(REASON_MAX)
        self.reason_edit.setPlaceholderText("Reason for cancelling, e.g. Solved on the phone")
        layout.addWidget(self.cancel_choice)
        layout.addWidget(self.reason_edit)
        layout.addWidget(self.leave_choice)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = QPushButton(f"{verb} ticket")
        self.ok_button.setProperty("primary", True)
        self.buttons.addButton(self.ok_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Back")
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for signal in (self.cancel_choice.toggled, self.reason_edit.textChanged):
            signal.connect(self._validate)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._validate()

    def _validate(self, *_args) -> None:
        cancelling = self.cancel_choice.isChecked()
        self.reason_edit.setEnabled(cancelling)
        ok = not cancelling or bool(self.reason_edit.text().strip())
        self.ok_button.setEnabled(ok)

    def _accept_if_valid(self) -> None:
        if self.ok_button.isEnabled():
            self.accept()

    def values(self) -> dict:
        if self.cancel_choice.isChecked():
            return {"open_orders": "cancel", "reason": self.reason_edit.text().strip()}
        return {"open_orders": "leave"}
