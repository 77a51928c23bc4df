"""The customers page: the searchable list (ref, name, type, email, phone, sites) with New and
Edit (double-click) opening the customer editor, and Import."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget

from desk_desktop.domain.catalogs import CUSTOMER_TYPES
from desk_desktop.ui.people.listing import ListPage

LEFT, RIGHT = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight


def fetch_customers(uow_factory, actor, text: str):
    from desk_desktop.services import people
    from desk_desktop.services.catalogs import load_catalogs

    rows = people.search_customers(uow=uow_factory(), actor=actor, text=text)
    return rows, load_catalogs(uow=uow_factory(), actor=actor)


class CustomersPage(ListPage):
    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        self.catalogs = None
        columns = [
            ("Ref", lambda r: r.ref, LEFT),
            ("Name", lambda r: r.name, LEFT),
            ("Type", lambda r: self.catalogs.name(CUSTOMER_TYPES, r.customer_type) if self.catalogs else r.customer_type,
             LEFT),
            ("Email", lambda r: r.email or "", LEFT),
            ("Phone", lambda r: r.phone or "", LEFT),
            ("Sites", lambda r: str(r.sites), RIGHT),
        ]
        super().__init__(ctx, title="Customers", placeholder="Search by ref, name, email, phone or a site's address…",
                         hint="Customers and their sites, where the work is done. Double-click a customer to edit.",
                         new_label="New customer…", columns=columns, entity="customer", parent=parent)
        self.import_button = QPushButton("Import CSV…")
        self.import_button.clicked.connect(self.open_import)
        self.toolbar.insertWidget(2, self.import_button)

    def request(self, text: str):
        return fetch_customers, (self.ctx.uow_factory, self.ctx.actor, text)

    def accept_result(self, result) -> list:
        rows, self.catalogs = result
        return list(rows)

    def open_editor(self, row_id: int | None):
        from desk_desktop.ui.people.customer_editor import CustomerEditor

        editor = CustomerEditor(self.ctx, row_id, self)
        editor.saved.connect(lambda cid, _site: self.refresh(select_id=cid))
        editor.open()
        return editor

    def open_import(self):
        from desk_desktop.ui.people.import_dialog import ImportDialog

        dialog = ImportDialog(self.ctx, "customers", self)
        dialog.imported.connect(lambda _n: self.refresh())
        dialog.open()
        return dialog
