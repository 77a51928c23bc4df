"""The weekly working hours editor: a row per day, each with its intervals (start–end time
boxes), "+ interval", and "Copy Monday to weekdays". Not ticked = the hours are not known."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTimeEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.ui.tickets.style import field_error_label

DAYS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
        ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))
WEEKDAYS = ("tue", "wed", "thu", "fri")
NEW_INTERVAL = ("08:00", "17:00")


class IntervalChip(QWidget):
    """One interval: start and end time boxes and a remove button."""

    removed = Signal(object)
    changed = Signal()

    def __init__(self, start: str, end: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("IntervalChip")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # the chip's frame from app.qss
        self.start_edit = QTimeEdit(QTime.fromString(start, "HH:mm"))
        self.end_edit = QTimeEdit(QTime.fromString(end, "HH:mm"))
        for edit in (self.start_edit, self.end_edit):
            edit.setDisplayFormat("HH:mm")
            edit.setButtonSymbols(QTimeEdit.ButtonSymbols.NoButtons)  # typed or scrolled: compact chips
            edit.timeChanged.connect(lambda _t: self.changed.emit())
        self.remove_button = QToolButton()
        self.remove_button.setText("×")
        self.remove_button.setToolTip("Remove this interval")
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 2, 2)
        row.setSpacing(3)
        row.addWidget(self.start_edit)
        row.addWidget(QLabel("–"))
        row.addWidget(self.end_edit)
        row.addWidget(self.remove_button)

    def value(self) -> tuple[str, str]:
        return self.start_edit.time().toString("HH:mm"), self.end_edit.time().toString("HH:mm")


class DayRow(QWidget):
    """A day's intervals in a row; "off" when it has none."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chips: list[IntervalChip] = []
        self.setMinimumHeight(32)  # a day off is as tall as a working day
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(6)
        self.off_label = QLabel("off")
        self.off_label.setObjectName("Muted")
        self.add_button = QPushButton("+ interval")
        self.add_button.setObjectName("LinkButton")
        self.add_button.clicked.connect(lambda: self.add_interval(*self._next_interval()))
        self._row.addWidget(self.off_label)
        self._row.addWidget(self.add_button)
        self._row.addStretch(1)

    def _next_interval(self) -> tuple[str, str]:
        if not self.chips:
            return NEW_INTERVAL
        last_end = QTime.fromString(self.chips[-1].value()[1], "HH:mm")
        start = last_end.addSecs(3600)
        end = start.addSecs(4 * 3600)
        if end <= start:  # past midnight: leave it to the dispatcher
            return last_end.toString("HH:mm"), "23:59"
        return start.toString("HH:mm"), end.toString("HH:mm")

    def add_interval(self, start: str, end: str) -> IntervalChip:
        chip = IntervalChip(start, end)
        chip.removed.connect(self._remove)
        chip.changed.connect(self.changed)
        self._row.insertWidget(len(self.chips), chip)
        self.chips.append(chip)
        self.off_label.setVisible(False)
        self.changed.emit()
        return chip

    def _remove(self, chip: IntervalChip) -> None:
        self.chips.remove(chip)
        chip.setParent(None)
        chip.deleteLater()
        self.off_label.setVisible(not self.chips)
        self.changed.emit()

    def set_intervals(self, intervals) -> None:
        for chip in list(self.chips):
            self._remove(chip)
        for start, end in intervals:
            self.add_interval(start, end)

    def value(self) -> list[tuple[str, str]]:
        return [chip.value() for chip in self.chips]


class HoursEditor(QWidget):
    """``value()``: {"mon": [("08:00", "12:00"), …], …} (days without intervals left out), or
    None when "Working hours known" is not ticked. ``error_labels[day]`` sit under each day."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.known = QCheckBox("Working hours known")
        self.known.setChecked(True)
        self.timezone_label = QLabel("")
        self.timezone_label.setObjectName("Muted")
        self.copy_button = QPushButton("Copy Monday to weekdays")
        self.copy_button.setToolTip("Tuesday to Friday get Monday's intervals")
        self.rows: dict[str, DayRow] = {}
        self.error_labels: dict[str, QLabel] = {}
        self.grid_box = QWidget()
        grid = QGridLayout(self.grid_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        for i, (key, name) in enumerate(DAYS):
            label = QLabel(name)
            label.setObjectName("FieldLabel")
            label.setMinimumWidth(80)
            grid.addWidget(label, 2 * i, 0)
            self.rows[key] = row = DayRow()
            row.changed.connect(self.changed)
            grid.addWidget(row, 2 * i, 1)
            self.error_labels[key] = err = field_error_label()
            grid.addWidget(err, 2 * i + 1, 1)
        top = QHBoxLayout()
        top.addWidget(self.known)
        top.addSpacing(12)
        top.addWidget(self.timezone_label)
        top.addStretch(1)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.grid_box)
        self.known.toggled.connect(self._on_known_toggled)
        self.known.toggled.connect(lambda _c: self.changed.emit())
        self.copy_button.clicked.connect(self.copy_monday_to_weekdays)

    def set_timezone(self, zone: str) -> None:
        self.timezone_label.setText(f"Times in the organization's time zone: {zone}")

    def _on_known_toggled(self, known: bool) -> None:
        self.grid_box.setEnabled(known)
        self.copy_button.setEnabled(known)

    def copy_monday_to_weekdays(self) -> None:
        monday = self.rows["mon"].value()
        for day in WEEKDAYS:
            self.rows[day].set_intervals(monday)

    def set_value(self, hours: dict[str, list] | None) -> None:
        self.known.setChecked(hours is not None)
        for key, row in self.rows.items():
            row.set_intervals((hours or {}).get(key, []))

    def value(self) -> dict[str, list[tuple[str, str]]] | None:
        if not self.known.isChecked():
            return None
        return {key: row.value() for key, row in self.rows.items() if row.value()}
