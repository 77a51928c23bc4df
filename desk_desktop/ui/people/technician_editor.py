"""The technician editor (a dialog): name, contact, active, skills with proficiency, weekly
hours, home base, the open work order limit and the absences (saved at once, ``absences.py``). Problems show next to their field; a
failed save keeps everything typed and says why."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.ui.card import Card
from desk_desktop.ui.people.absences import AbsencesSection
from desk_desktop.ui.people.editor import FormProblem, RecordEditor
from desk_desktop.ui.people.forms import field_label
from desk_desktop.ui.people.hours import DAYS, HoursEditor
from desk_desktop.ui.people.map_picker import LocationPicker

MAX_OPEN_LIMIT = 99


def load_form(uow_factory, actor, technician_id: int | None):
    """(technician or None, catalogs, organization time zone) — on the worker pool."""
    from desk_desktop.services import people
    from desk_desktop.services.catalogs import load_catalogs
    from desk_desktop.services.org_info import organization_timezone

    technician = None if technician_id is None else people.get_technician(
        uow=uow_factory(), actor=actor, technician_id=technician_id)
    return (technician, load_catalogs(uow=uow_factory(), actor=actor),
            organization_timezone(uow=uow_factory(), actor=actor))


def save(uow_factory, actor, technician_id: int | None, data) -> int:
    from desk_desktop.services import people

    if technician_id is None:
        return people.add_technician(uow=uow_factory(), actor=actor, data=data)
    people.update_technician(uow=uow_factory(), actor=actor, technician_id=technician_id, data=data)
    return technician_id


class SkillsTable(QTableWidget):
    """Skill (display name, "retired" marked), proficiency 1–5, remove."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setObjectName("PeopleTable")
        self.setHorizontalHeaderLabels(["Skill", "Proficiency (1–5)", ""])
        self.setColumnWidth(2, 90)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        self.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().setDefaultSectionSize(34)
        self.keys: list[str] = []

    def add_skill(self, key: str, name: str, level: int, *, retired: bool) -> None:
        row = self.rowCount()
        self.insertRow(row)
        item = QTableWidgetItem(f"{name}  (retired)" if retired else name)
        item.setData(Qt.ItemDataRole.UserRole, key)
        if retired:
            item.setToolTip("This skill is retired in the catalog: the technician keeps it, it is not offered to others.")
            item.setForeground(Qt.GlobalColor.darkGray)
        self.setItem(row, 0, item)
        spin = QSpinBox()
        spin.setRange(1, 5)
        spin.setValue(level)
        self.setCellWidget(row, 1, spin)
        remove = QPushButton("Remove")
        remove.setObjectName("LinkButton")
        remove.clicked.connect(lambda: self.remove_skill(key))
        self.setCellWidget(row, 2, remove)
        self.keys.append(key)

    def remove_skill(self, key: str) -> None:
        row = self.keys.index(key)
        self.removeRow(row)
        self.keys.pop(row)

    def value(self) -> dict[str, int]:
        return {key: self.cellWidget(row, 1).value() for row, key in enumerate(self.keys)}


class TechnicianEditor(RecordEditor):
    """``TechnicianEditor(ctx, technician_id=None)`` adds a technician; with an id it edits one."""

    saved = Signal(int)
    what = "technician"

    def __init__(self, ctx, technician_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(ctx, technician_id, parent)
        self.resize(980, 820)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("First and last name")
        self.email_edit = QLineEdit()
        self.email_edit.setPlaceholderText("name@example.com")
        self.phone_edit = QLineEdit()
        self.phone_edit.setPlaceholderText("+1 555 0100")
        self.active_check = QCheckBox("Active (offered for new work)")
        self.active_check.setChecked(True)
        self.max_open_spin = QSpinBox()
        self.max_open_spin.setRange(0, MAX_OPEN_LIMIT)
        self.max_open_spin.setValue(8)
        self.max_open_spin.setSuffix(" open work orders at most")
        self.home = LocationPicker(ctx.settings, map_height=170)

        # Person
        person = Card("Person", margins=(16, 12, 16, 12))
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(3, 2)
        grid.addWidget(field_label("Name"), 0, 0)
        grid.addWidget(self.name_edit, 0, 1, 1, 3)
        grid.addWidget(self.errors.label("name", self.name_edit), 1, 1, 1, 3)
        grid.addWidget(field_label("Email"), 2, 0)
        grid.addWidget(self.email_edit, 2, 1, 1, 3)
        grid.addWidget(self.errors.label("email", self.email_edit), 3, 1, 1, 3)
        grid.addWidget(field_label("Phone"), 4, 0)
        grid.addWidget(self.phone_edit, 4, 1)
        grid.addWidget(self.active_check, 4, 3)
        grid.addWidget(self.errors.label("phone", self.phone_edit), 5, 1)
        grid.addWidget(self.errors.label("active"), 5, 3)
        grid.addWidget(field_label("Workload"), 6, 0)
        grid.addWidget(self.max_open_spin, 6, 1)
        grid.addWidget(self.errors.label("max_open_work_orders"), 7, 1)
        grid.addWidget(field_label("Home base"), 8, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.home, 8, 1, 1, 3)
        grid.addWidget(self.errors.label("home_base", self.home.fields.lat_edit), 9, 1, 1, 3)
        person.body.addLayout(grid)
        person.body.addStretch(1)

        # Skills
        skills = Card("Skills", "Proficiency 1 (basic) to 5 (expert). Only active skills of the catalog can be added.",
                      margins=(16, 12, 16, 12))
        self.skills_table = SkillsTable()
        self.skills_table.setMinimumHeight(150)
        self.skill_combo = QComboBox()
        self.skill_combo.setMinimumWidth(220)
        self.add_skill_button = QPushButton("Add skill")
        add_row = QHBoxLayout()
        add_row.addWidget(self.skill_combo, 1)
        add_row.addWidget(self.add_skill_button)
        skills.body.addWidget(self.skills_table, 1)
        skills.body.addLayout(add_row)
        self.skills_error = self.errors.label("skills")
        skills.body.addWidget(self.skills_error)

        # Hours
        hours = Card("Working hours", margins=(16, 12, 16, 12))
        self.hours = HoursEditor()
        hours.body.addWidget(self.hours)
        for day, _name in DAYS:
            self.errors.labels[f"hours.{day}"] = self.hours.error_labels[day]
        hours.body.addWidget(self.errors.label("working_hours"))

        self.absences = AbsencesSection(ctx)

        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(person, 3)
        top.addWidget(skills, 2)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(12)
        body_layout.addLayout(top)
        body_layout.addWidget(hours)
        body_layout.addWidget(self.absences)
        body_layout.addStretch(1)
        scroll = QScrollArea(objectName="PeopleFormScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)

        self.add_skill_button.clicked.connect(self._on_add_skill_clicked)
        self.build([(scroll, 1)], load_form, save)

    # ------------------------------------------------------------------ loading
    def fill(self, loaded) -> None:
        technician, self.catalogs, zone = loaded
        self.hours.set_timezone(zone)
        self.absences.set_timezone(zone)
        if technician is not None:
            d = technician.data
            self.heading.setText(d.name)
            self.name_edit.setText(d.name)
            self.email_edit.setText(d.email or "")
            self.phone_edit.setText(d.phone or "")
            self.active_check.setChecked(d.active)
            self.max_open_spin.setValue(d.max_open_work_orders)
            for edit in (self.name_edit, self.email_edit, self.phone_edit):
                edit.setCursorPosition(0)  # the start of a long address shows, not its end
            self.home.set_value(d.home_base)
            self.hours.set_value(d.working_hours)
            self.absences.set_technician(technician.id)
            active = {e.key for e in self.catalogs.choices(SKILLS)}
            for key, level in sorted(d.skills.items(), key=lambda kv: (-kv[1], kv[0])):
                self.skills_table.add_skill(key, self.catalogs.name(SKILLS, key), level, retired=key not in active)
        else:
            self.hours.set_value({day: [("08:00", "12:00"), ("13:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")})
        self._fill_skill_combo()
        self.name_edit.setFocus()

    def _fill_skill_combo(self) -> None:
        self.skill_combo.clear()
        taken = set(self.skills_table.keys)
        for entry in self.catalogs.choices(SKILLS):
            if entry.key not in taken:
                self.skill_combo.addItem(entry.name, entry.key)
        self.add_skill_button.setEnabled(self.skill_combo.count() > 0)

    def add_skill(self, key: str, level: int = 3) -> None:
        self.skills_table.add_skill(key, self.catalogs.name(SKILLS, key), level, retired=False)
        self._fill_skill_combo()

    def _on_add_skill_clicked(self) -> None:
        key = self.skill_combo.currentData()
        if key is not None:
            self.add_skill(key)

    # ------------------------------------------------------------------ saving
    def form_data(self):
        """The form as ``TechnicianData``; ``FormProblem`` for what cannot even be sent (coordinates)."""
        from desk_desktop.services.people import TechnicianData

        try:
            home = self.home.value()
        except ValueError as exc:
            raise FormProblem("home_base", str(exc)) from None
        return TechnicianData(
            name=self.name_edit.text().strip(),
            email=self.email_edit.text().strip() or None,
            phone=self.phone_edit.text().strip() or None,
            active=self.active_check.isChecked(),
            skills=self.skills_table.value(),
            working_hours=self.hours.value(),
            home_base=home,
            max_open_work_orders=self.max_open_spin.value(),
        )

    def record_saved(self, technician_id: int) -> None:
        self.record_id = technician_id
        self.saved.emit(technician_id)

    def show_problems(self, problems: dict[str, str]) -> None:
        """Messages next to their fields; skills problems ("skills.<key>") under the skills table."""
        skill_lines = [f"{self.catalogs.name(SKILLS, k.split('.', 1)[1]) if self.catalogs else k}: {m}"
                       for k, m in problems.items() if k.startswith("skills.")]
        shown = {k: v for k, v in problems.items() if not k.startswith("skills.")}
        if skill_lines:
            shown["skills"] = "\n".join(([shown["skills"]] if "skills" in shown else []) + skill_lines)
        self.show_field_problems(shown)

    def done(self, result: int) -> None:  # QDialog API: the map view goes before the dialog
        self.home.shutdown()
        super().done(result)
