"""The technician editor's "Absences" section: the technician's upcoming time off (from, to,
reason) with Edit and Remove, and a row to add one — or to change the one being edited —
whole days or hours, in the organization's time zone. Each add, change or remove is saved at
once (its own unit of work, audited); a refused one says why under the row and keeps what
was typed, and visits already booked inside the absence are named."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QDate, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QWidget,
)

from desk_desktop.ui.card import Card
from desk_desktop.ui.styling import restyle

REASONS = ("Holiday", "Sick", "Training", "Parental leave", "Public holiday")


def load_absences(uow_factory, actor, technician_id: int):
    from desk_desktop.services import absences

    return absences.list_absences(uow=uow_factory(), actor=actor, technician_id=technician_id)


def add_absence(uow_factory, actor, technician_id: int, period, reason: str):
    from desk_desktop.services import absences

    return absences.add_absence(uow=uow_factory(), actor=actor, technician_id=technician_id, period=period,
                                reason=reason)


def update_absence(uow_factory, actor, absence_id: int, period, reason: str):
    from desk_desktop.services import absences

    return absences.update_absence(uow=uow_factory(), actor=actor, absence_id=absence_id, period=period,
                                   reason=reason)


def remove_absence(uow_factory, actor, absence_id: int):
    from desk_desktop.services import absences

    return absences.remove_absence(uow=uow_factory(), actor=actor, absence_id=absence_id)


class AbsencesSection(Card):
    """``set_technician(id)`` loads the list; ``None`` (a technician not saved yet) disables it."""

    changed = Signal()  # an absence was added or removed

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__("Absences", "Time off: no work is scheduled inside an absence, and a technician absent now "
                         "is not given work due now. Saved at once.", margins=(16, 12, 16, 12), parent=parent)
        self.ctx = ctx
        self.technician_id: int | None = None
        self.zone = "UTC"  # the organization's time zone (``set_timezone``)
        self.editing = None  # the absence the row below changes (None: it adds one)
        self.rows: list = []
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("PeopleTable")
        self.table.setHorizontalHeaderLabels(["When", "Reason", "Added by", ""])
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(3, 130)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(34)
        self.table.setMinimumHeight(120)
        self.empty_label = QLabel("No upcoming absences.", objectName="Muted")

        today = QDate.currentDate()
        self.whole_days = QCheckBox("Whole days")
        self.whole_days.setChecked(True)
        self.from_date = QDateEdit(today, calendarPopup=True, displayFormat="ddd d MMM yyyy")
        self.from_time = QTimeEdit(QTime(8, 0), displayFormat="HH:mm")
        self.to_date = QDateEdit(today, calendarPopup=True, displayFormat="ddd d MMM yyyy")
        self.to_time = QTimeEdit(QTime(12, 0), displayFormat="HH:mm")
        self.reason_combo = QComboBox(editable=True)
        self.reason_combo.addItems(REASONS)
        self.reason_combo.setMinimumWidth(150)
        self.add_button = QPushButton("Add absence")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop changing this absence; nothing is saved")
        self.cancel_button.hide()
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.whole_days)
        row.addWidget(QLabel("From"))
        row.addWidget(self.from_date)
        row.addWidget(self.from_time)
        row.addWidget(QLabel("to"))
        row.addWidget(self.to_date)
        row.addWidget(self.to_time)
        row.addWidget(self.reason_combo, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.cancel_button)
        self.error_label = QLabel(wordWrap=True)
        self.note_label = QLabel(wordWrap=True)
        for label in (self.error_label, self.note_label):
            label.hide()
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.empty_label)
        self.body.addLayout(row)
        self.body.addWidget(self.error_label)
        self.body.addWidget(self.note_label)

        self.whole_days.toggled.connect(self._on_whole_days)
        self.from_date.dateChanged.connect(lambda d: self.to_date.setDate(max(d, self.to_date.date())))
        self.add_button.clicked.connect(self.add_clicked)
        self.cancel_button.clicked.connect(lambda: self._edit(None))
        self._on_whole_days(True)
        self.set_technician(None)

    # ------------------------------------------------------------------ loading
    def set_timezone(self, zone: str) -> None:
        self.zone = zone

    def set_technician(self, technician_id: int | None) -> None:
        if technician_id != self.technician_id:
            self._edit(None)
        self.technician_id = technician_id
        for w in (self.whole_days, self.from_date, self.from_time, self.to_date, self.to_time, self.reason_combo,
                  self.add_button):
            w.setEnabled(technician_id is not None)
        if technician_id is None:
            self.empty_label.setText("Save the technician first; then absences can be added here.")
            self._show([])
            return
        self.ctx.runner.submit(load_absences, self.ctx.uow_factory, self.ctx.actor, technician_id, owner=self,
                               key="load", on_done=self._show, on_error=self._on_error)

    def _show(self, rows) -> None:
        self.rows = list(rows)
        self.table.setRowCount(0)
        for a in self.rows:
            r = self.table.rowCount()
            self.table.insertRow(r)
            when = QTableWidgetItem(a.text[0].upper() + a.text[1:])
            when.setToolTip("Whole days" if a.all_day else "Hours")
            self.table.setItem(r, 0, when)
            self.table.setItem(r, 1, QTableWidgetItem(a.reason))
            self.table.setItem(r, 2, QTableWidgetItem(a.created_by))
            buttons = QWidget()
            box = QHBoxLayout(buttons)
            box.setContentsMargins(0, 0, 0, 0)
            for text, act in (("Edit", lambda _c=False, x=a: self._edit(x)),
                              ("Remove", lambda _c=False, i=a.id: self.remove(i))):
                button = QPushButton(text, objectName="LinkButton")
                button.clicked.connect(act)
                box.addWidget(button)
            self.table.setCellWidget(r, 3, buttons)
        self.table.setVisible(bool(self.rows))
        self.empty_label.setVisible(not self.rows)

    # ------------------------------------------------------------------ adding, changing, removing
    def _edit(self, absence) -> None:
        """Change ``absence`` with the row below (its values put in it), or add again (None)."""
        self.editing = absence
        self.add_button.setText("Add absence" if absence is None else "Save changes")
        self.cancel_button.setVisible(absence is not None)
        self._say(self.error_label, None)
        if absence is None:
            return
        from desk_desktop.services.absences import Period

        p = Period.of(absence.starts_at, absence.ends_at, absence.all_day, self.zone)
        self.whole_days.setChecked(p.all_day)
        first, last = (p.first_day, p.last_day) if p.all_day else (p.start.date(), p.end.date())
        self.from_date.setDate(QDate(first.year, first.month, first.day))
        self.to_date.setDate(QDate(last.year, last.month, last.day))
        if not p.all_day:
            self.from_time.setTime(QTime(p.start.hour, p.start.minute))
            self.to_time.setTime(QTime(p.end.hour, p.end.minute))
        self.reason_combo.setCurrentText(absence.reason)

    def _on_whole_days(self, whole: bool) -> None:
        self.from_time.setVisible(not whole)
        self.to_time.setVisible(not whole)

    def period(self):
        from desk_desktop.services.absences import Period

        first, last = self.from_date.date().toPython(), self.to_date.date().toPython()
        if self.whole_days.isChecked():
            return Period(first_day=first, last_day=last)
        # Naive: the service reads them in the organization's time zone.
        return Period(start=datetime.combine(first, self.from_time.time().toPython()),
                      end=datetime.combine(last, self.to_time.time().toPython()))

    def add_clicked(self) -> None:
        if self.technician_id is None:
            return
        self._say(self.error_label, None)
        self._say(self.note_label, None)
        self.add_button.setEnabled(False)
        if self.editing is not None:
            self.ctx.runner.submit(update_absence, self.ctx.uow_factory, self.ctx.actor, self.editing.id,
                                   self.period(), self.reason_combo.currentText(), owner=self, key="add",
                                   on_done=self._on_added, on_error=self._on_error)
            return
        self.ctx.runner.submit(add_absence, self.ctx.uow_factory, self.ctx.actor, self.technician_id, self.period(),
                               self.reason_combo.currentText(), owner=self, key="add", on_done=self._on_added,
                               on_error=self._on_error)

    def _on_added(self, saved) -> None:
        """Added or changed: the list again, and the visits inside it named."""
        self.add_button.setEnabled(True)
        self._edit(None)
        warning = saved.warning()
        self._say(self.note_label, warning, "info")
        self.changed.emit()
        self.set_technician(self.technician_id)

    def remove(self, absence_id: int) -> None:
        self._say(self.error_label, None)
        if self.editing is not None and self.editing.id == absence_id:
            self._edit(None)
        self.ctx.runner.submit(remove_absence, self.ctx.uow_factory, self.ctx.actor, absence_id, owner=self,
                               key=("remove", absence_id), on_done=self._on_removed, on_error=self._on_error)

    def _on_removed(self, _old) -> None:
        self.changed.emit()
        self.set_technician(self.technician_id)

    def _on_error(self, exc: BaseException) -> None:
        from desk_desktop.services.absences import AbsenceInvalid

        self.add_button.setEnabled(self.technician_id is not None)
        text = "\n".join(exc.problems.values()) if isinstance(exc, AbsenceInvalid) else str(exc)
        self._say(self.error_label, text, "error")

    @staticmethod
    def _say(label: QLabel, text: str | None, banner: str = "") -> None:
        label.setText(text or "")
        label.setVisible(bool(text))
        if text:
            restyle(label, banner=banner)
