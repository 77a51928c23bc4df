"""The customer editor (a dialog): ref, name, type, email, phone, and the customer's sites
(a table; Add site / Edit site open the site editor with the map picker and "Find from
address"). Sites are never removed here: tickets refer to them."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.catalogs import CUSTOMER_TYPES
from desk_desktop.ui.card import Card
from desk_desktop.ui.people.editor import RecordEditor
from desk_desktop.ui.people.forms import FieldErrors, field_label
from desk_desktop.ui.people.map_picker import LocationPicker

SITE_FIELD = re.compile(r"^sites\[(\d+)\]\.(\w+)$")


def load_form(uow_factory, actor, customer_id: int | None):
    """(customer or None, catalogs) — on the worker pool."""
    from desk_desktop.services import people
    from desk_desktop.services.catalogs import load_catalogs

    customer = None if customer_id is None else people.get_customer(uow=uow_factory(), actor=actor,
                                                                    customer_id=customer_id)
    return customer, load_catalogs(uow=uow_factory(), actor=actor)


def save(uow_factory, actor, customer_id: int | None, data):
    """(customer id, the customer as saved: its sites with their ids)."""
    from desk_desktop.services import people

    if customer_id is None:
        customer_id = people.add_customer(uow=uow_factory(), actor=actor, data=data)
    else:
        people.update_customer(uow=uow_factory(), actor=actor, customer_id=customer_id, data=data)
    return people.get_customer(uow=uow_factory(), actor=actor, customer_id=customer_id)


def find_address(address: str, url: str | None):
    from desk_desktop.services.geocoding import geocode

    return geocode(address, url=url)


def location_text(location) -> str:
    return "" if location is None else f"{location[0]:.5f}, {location[1]:.5f}"


class SiteEditor(QDialog):
    """One site: ref, name, address, location (coordinates, the map, or "Find from address")."""

    def __init__(self, ctx, site=None, parent: QWidget | None = None, *, problems: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.site_id = site.id if site is not None else None
        self.result_site = None
        self.setWindowTitle("New site" if site is None else "Edit site")
        self.setModal(True)
        self.resize(640, 560)
        self.errors = FieldErrors()
        self.ref_edit = QLineEdit(site.ref if site else "")
        self.ref_edit.setPlaceholderText("e.g. S-1001")
        self.name_edit = QLineEdit(site.name if site else "")
        self.name_edit.setPlaceholderText("e.g. Head office")
        self.address_edit = QLineEdit(site.address if site else "")
        self.address_edit.setPlaceholderText("Street, city, postcode, country")
        self.find_button = QPushButton("Find from address")
        self.find_button.setToolTip("Ask the geocoder for the address's location")
        self.geo_status = QLabel("")
        self.geo_status.setObjectName("Muted")
        self.geo_status.setWordWrap(True)
        self.location = LocationPicker(ctx.settings, map_height=260)
        if site is not None:
            self.location.set_value(site.location)

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        rows = (("ref", "Ref", self.ref_edit), ("name", "Name", self.name_edit))
        r = 0
        for name, label, edit in rows:
            grid.addWidget(field_label(label), r, 0)
            grid.addWidget(edit, r, 1)
            grid.addWidget(self.errors.label(name, edit), r + 1, 1)
            r += 2
        grid.addWidget(field_label("Address"), r, 0)
        address_row = QHBoxLayout()
        address_row.addWidget(self.address_edit, 1)
        address_row.addWidget(self.find_button)
        grid.addLayout(address_row, r, 1)
        grid.addWidget(self.errors.label("address", self.address_edit), r + 1, 1)
        grid.addWidget(self.geo_status, r + 2, 1)
        grid.addWidget(field_label("Location"), r + 3, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.location, r + 3, 1)
        grid.addWidget(self.errors.label("location", self.location.fields.lat_edit), r + 4, 1)
        card = Card(margins=(16, 12, 16, 12))
        card.body.addLayout(grid)
        card.body.addStretch(1)

        self.ok_button = QPushButton("OK")
        self.ok_button.setProperty("primary", True)
        self.ok_button.setDefault(True)
        cancel = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.ok_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.addWidget(card, 1)
        layout.addLayout(buttons)
        self.ok_button.clicked.connect(self._on_ok)
        cancel.clicked.connect(self.reject)
        self.find_button.clicked.connect(self.find_from_address)
        self.errors.show(problems or {})

    def find_from_address(self) -> None:
        self.find_button.setEnabled(False)
        self.geo_status.setText("Looking up the address…")
        self.ctx.runner.submit(find_address, self.address_edit.text(), self.ctx.settings.geocoder_url, owner=self,
                               key="geocode", on_done=self._on_geocoded, on_error=self._on_geocode_failed)

    def _on_geocoded(self, found) -> None:
        self.find_button.setEnabled(True)
        if found.location is None:
            self.geo_status.setText(found.reason)
            self.location.map_button.setChecked(True)  # the dispatcher places it by hand
            return
        self.location.set_value(found.location)
        self.geo_status.setText(f"Found: {found.label}" if found.label else "Found.")

    def _on_geocode_failed(self, exc: BaseException) -> None:
        self.find_button.setEnabled(True)
        self.geo_status.setText(f"The address could not be looked up ({exc}) — click the map to place the site.")

    def _on_ok(self) -> None:
        from desk_desktop.services.people import SiteData

        try:
            location = self.location.value()
        except ValueError as exc:
            self.errors.show({"location": str(exc)})
            return
        self.result_site = SiteData(ref=self.ref_edit.text().strip(), name=self.name_edit.text().strip(),
                                    address=self.address_edit.text().strip(), location=location, id=self.site_id)
        self.accept()

    def done(self, result: int) -> None:  # QDialog API: the map view goes before the dialog
        self.ctx.runner.drop(self)
        self.location.shutdown()
        super().done(result)


class CustomerEditor(RecordEditor):
    """``CustomerEditor(ctx, customer_id=None)`` adds a customer; with an id it edits one.
    ``saved(customer_id, first_site_id or 0)`` after a successful save."""

    saved = Signal(int, int)
    what = "customer"

    def __init__(self, ctx, customer_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(ctx, customer_id, parent)
        self.sites: list = []  # SiteData, in order; new ones without an id
        self.site_problems: dict[int, dict[str, str]] = {}
        self.saved_customer = None
        self.resize(900, 640)

        self.ref_edit = QLineEdit()
        self.ref_edit.setPlaceholderText("e.g. C-1001")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Company or person")
        self.type_combo = QComboBox()
        self.email_edit = QLineEdit()
        self.email_edit.setPlaceholderText("billing@example.com")
        self.phone_edit = QLineEdit()
        self.phone_edit.setPlaceholderText("+1 555 0100")

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        cells = ((0, 0, "ref", "Ref", self.ref_edit), (0, 2, "customer_type", "Type", self.type_combo),
                 (2, 0, "name", "Name", self.name_edit), (4, 0, "email", "Email", self.email_edit),
                 (4, 2, "phone", "Phone", self.phone_edit))
        for row, col, name, label, edit in cells:
            span = 3 if name == "name" else 1
            grid.addWidget(field_label(label), row, col)
            grid.addWidget(edit, row, col + 1, 1, span)
            grid.addWidget(self.errors.label(name, edit), row + 1, col + 1, 1, span)
        details = Card("Customer", margins=(16, 12, 16, 12))
        details.body.addLayout(grid)

        self.sites_table = QTableWidget(0, 4)
        self.sites_table.setObjectName("PeopleTable")
        self.sites_table.setHorizontalHeaderLabels(["Ref", "Name", "Address", "Location"])
        self.sites_table.verticalHeader().setVisible(False)
        self.sites_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sites_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sites_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sites_table.setAlternatingRowColors(True)
        header = self.sites_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.add_site_button = QPushButton("Add site…")
        self.edit_site_button = QPushButton("Edit site…")
        self.edit_site_button.setEnabled(False)
        site_buttons = QHBoxLayout()
        site_buttons.addStretch(1)
        site_buttons.addWidget(self.edit_site_button)
        site_buttons.addWidget(self.add_site_button)
        sites = Card("Sites", "Where the work is done. A site with a location can be dispatched by distance.",
                     margins=(16, 12, 16, 12))
        sites.body.addWidget(self.sites_table, 1)
        self.sites_error = self.errors.label("sites")
        sites.body.addWidget(self.sites_error)
        sites.body.addLayout(site_buttons)

        self.add_site_button.clicked.connect(lambda: self.edit_site(None))
        self.edit_site_button.clicked.connect(lambda: self.edit_site(self.sites_table.currentRow()))
        self.sites_table.doubleClicked.connect(lambda index: self.edit_site(index.row()))
        self.sites_table.itemSelectionChanged.connect(
            lambda: self.edit_site_button.setEnabled(bool(self.sites_table.selectedItems())))
        self.build([(details, 0), (sites, 1)], load_form, save)

    # ------------------------------------------------------------------ loading
    def fill(self, loaded) -> None:
        customer, self.catalogs = loaded
        current = customer.data.customer_type if customer is not None else None
        for entry in self.catalogs.choices(CUSTOMER_TYPES, keep=[current] if current else []):
            self.type_combo.addItem(entry.name if entry.active else f"{entry.name} (retired)", entry.key)
        if customer is not None:
            d = customer.data
            self.heading.setText(d.name)
            self.ref_edit.setText(d.ref)
            self.name_edit.setText(d.name)
            self.type_combo.setCurrentIndex(self.type_combo.findData(d.customer_type))
            self.email_edit.setText(d.email or "")
            self.phone_edit.setText(d.phone or "")
            for edit in (self.ref_edit, self.name_edit, self.email_edit, self.phone_edit):
                edit.setCursorPosition(0)
            self.sites = list(d.sites)
            self._show_sites()
        self.ref_edit.setFocus()

    # ------------------------------------------------------------------ sites
    def _show_sites(self) -> None:
        self.sites_table.setRowCount(len(self.sites))
        for row, site in enumerate(self.sites):
            problems = self.site_problems.get(row, {})
            for col, text in enumerate((site.ref, site.name, site.address, location_text(site.location) or "—")):
                item = QTableWidgetItem(text)
                if problems:
                    item.setForeground(Qt.GlobalColor.darkRed)
                    item.setToolTip("; ".join(problems.values()))
                self.sites_table.setItem(row, col, item)

    def edit_site(self, row: int | None) -> SiteEditor:
        site = self.sites[row] if row is not None and 0 <= row < len(self.sites) else None
        dialog = SiteEditor(self.ctx, site, self, problems=self.site_problems.get(row, {}) if site else None)

        def accepted() -> None:
            if site is None:
                self.sites.append(dialog.result_site)
            else:
                self.sites[row] = dialog.result_site
                self.site_problems.pop(row, None)
            self._show_sites()

        dialog.accepted.connect(accepted)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ saving
    def form_data(self):
        from desk_desktop.services.people import CustomerData

        return CustomerData(ref=self.ref_edit.text().strip(), name=self.name_edit.text().strip(),
                            customer_type=self.type_combo.currentData() or "",
                            email=self.email_edit.text().strip() or None, phone=self.phone_edit.text().strip() or None,
                            sites=tuple(self.sites))

    def record_saved(self, customer) -> None:
        self.record_id = customer.id
        self.saved_customer = customer
        self.sites = list(customer.data.sites)
        first_site = customer.data.sites[0].id if customer.data.sites else 0
        self.saved.emit(customer.id, first_site or 0)

    def show_problems(self, problems: dict[str, str]) -> None:
        self.site_problems = {}
        site_lines = []
        shown = {}
        for name, message in problems.items():
            m = SITE_FIELD.match(name)
            if m:
                index = int(m.group(1))
                self.site_problems.setdefault(index, {})[m.group(2)] = message
                ref = self.sites[index].ref if index < len(self.sites) else f"#{index + 1}"
                site_lines.append(f"Site {ref or '#' + str(index + 1)}: {message}")
            else:
                shown[name] = message
        if site_lines:
            shown["sites"] = "\n".join(([shown["sites"]] if "sites" in shown else []) + site_lines)
        self._show_sites()
        self.show_field_problems(shown)
