"""The technicians page: the searchable list (name, skills, active, open jobs, today's hours)
with New and Edit (double-click) opening the technician editor, and Import."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QPushButton, QWidget

from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.ui.people.listing import ListPage

LEFT, CENTER, RIGHT = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignHCenter, Qt.AlignmentFlag.AlignRight


def fetch_technicians(uow_factory, actor, text: str, include_inactive: bool):
    from desk_desktop.services import people
    from desk_desktop.services.catalogs import load_catalogs

    rows = people.search_technicians(uow=uow_factory(), actor=actor, text=text, include_inactive=include_inactive)
    return rows, load_catalogs(uow=uow_factory(), actor=actor)


class TechniciansPage(ListPage):
    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        self.catalogs = None
        columns = [
            ("Name", lambda r: r.name, LEFT),
            ("Skills", lambda r: ", ".join(self.catalogs.names(SKILLS, r.skills)) if self.catalogs else ", ".join(r.skills), LEFT),
            ("Active", lambda r: "Yes" if r.active else "No", CENTER),
            ("Open jobs", lambda r: str(r.open_jobs), RIGHT),
            ("Today's hours", lambda r: f"{r.today_hours} · away ({r.away_today})" if r.away_today else r.today_hours,
             LEFT),
            ("Email", lambda r: r.email or "", LEFT),
        ]
        super().__init__(ctx, title="Technicians", placeholder="Search by name or email…",
                         hint="Who can be sent, with which skills and hours. Double-click a technician to edit.",
                         new_label="New technician…", columns=columns, entity="technician", parent=parent)
        self.inactive_check = QCheckBox("Include inactive")
        self.inactive_check.setChecked(True)
        self.inactive_check.toggled.connect(lambda _c: self.refresh())
        self.import_button = QPushButton("Import CSV…")
        self.import_button.clicked.connect(lambda: self.open_import("technicians"))
        self.toolbar.insertWidget(1, self.inactive_check)
        self.import_absences_button = QPushButton("Import absences…")
        self.import_absences_button.clicked.connect(lambda: self.open_import("absences"))
        self.toolbar.insertWidget(3, self.import_button)
        self.toolbar.insertWidget(4, self.import_absences_button)

    def request(self, text: str):
        return fetch_technicians, (self.ctx.uow_factory, self.ctx.actor, text, self.inactive_check.isChecked())

    def accept_result(self, result) -> list:
        rows, self.catalogs = result
        return list(rows)

    def open_editor(self, row_id: int | None):
        from desk_desktop.ui.people.technician_editor import TechnicianEditor

        editor = TechnicianEditor(self.ctx, row_id, self)
        editor.saved.connect(lambda tid: self.refresh(select_id=tid))
        editor.open()
        return editor

    def open_import(self, kind: str):
        from desk_desktop.ui.people.import_dialog import ImportDialog

        dialog = ImportDialog(self.ctx, kind, self)
        dialog.imported.connect(lambda _n: self.refresh())
        dialog.open()
        return dialog
