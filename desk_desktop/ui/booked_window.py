"""The customer's booked window of one order, edited from the schedule page or a ticket's
work-order card: when the visit may start (organization time). Automatic scheduling and
Optimize day start the visit inside it. A refused save keeps what was typed and says why."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.services.common import DeskError
from desk_desktop.ui.styling import restyle

FORMAT = "ddd d MMM yyyy HH:mm"


def save_window(uow_factory, actor, work_order_id: int, start, end):
    from desk_desktop.services.dayplan.keep import set_booked_window

    return set_booked_window(uow=uow_factory(), actor=actor, work_order_id=work_order_id, start=start, end=end)


class BookedWindowDialog(QDialog):
    """``accepted`` once saved; ``saved`` is then the window (or None: cleared)."""

    def __init__(self, ctx, *, work_order_id: int, number: str, window: tuple[datetime, datetime] | None,
                 tz_name: str, day: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.work_order_id = work_order_id
        self.zone = ZoneInfo(tz_name)
        self.saved: tuple[datetime, datetime] | None = None
        self.setWindowTitle(f"Booked window — {number}")
        self.setModal(True)
        self.setMinimumWidth(460)
        start, end = window or (datetime.combine(day, time(10), self.zone), datetime.combine(day, time(12), self.zone))
        self.start_edit = self._editor(start)
        self.end_edit = self._editor(end)
        hint = QLabel(f"When the customer expects the technician: the visit starts inside this window when it is "
                      f"scheduled automatically or the day is optimized. Times in {tz_name}.")
        hint.setObjectName("Muted")
        hint.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.hide()
        form = QFormLayout()
        form.addRow("From", self.start_edit)
        form.addRow("To", self.end_edit)
        self.save_button = QPushButton("Save")
        self.save_button.setProperty("primary", True)
        self.clear_button = QPushButton("No booked window")
        self.clear_button.setEnabled(window is not None)
        cancel = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        cancel.clicked.connect(self.reject)
        self.save_button.clicked.connect(lambda: self._save(self._value(self.start_edit), self._value(self.end_edit)))
        self.clear_button.clicked.connect(lambda: self._save(None, None))

    def _editor(self, value: datetime) -> QDateTimeEdit:
        local = value.astimezone(self.zone)
        edit = QDateTimeEdit(QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute)))
        edit.setDisplayFormat(FORMAT)
        edit.setCalendarPopup(True)
        return edit

    def _value(self, edit: QDateTimeEdit) -> datetime:
        return edit.dateTime().toPython().replace(tzinfo=self.zone)

    def _save(self, start, end) -> None:
        self.save_button.setEnabled(False)
        self.ctx.runner.submit(save_window, self.ctx.uow_factory, self.ctx.actor, self.work_order_id, start, end,
                               owner=self, key="save", on_done=self._saved, on_error=self._failed)

    def _saved(self, window) -> None:
        self.saved = window
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.message.setText(str(exc) if isinstance(exc, DeskError)
                             else f"The window was not saved: {exc}. The details are in the log.")
        restyle(self.message, banner="error")
        self.message.show()  # what was typed stays

    def done(self, result: int) -> None:  # QDialog API
        self.ctx.runner.drop(self)
        super().done(result)
