"""Settings → Catalogs…: the organization's categories, skills, customer types and work-order types.

Administrators add, rename (in the list or with the button), retire, restore and reorder
entries; everybody else sees the catalogs read-only and is told why. Every change goes
through ``services.catalogs`` on the worker pool; an error is shown under the list and
what was typed stays. Changes made elsewhere arrive as the "catalog" live event.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
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

from desk_desktop.domain.catalogs import CATALOGS, Catalog
from desk_desktop.services import catalogs as catalog_service
from desk_desktop.services.catalogs import Catalogs, Entry
from desk_desktop.services.common import DeskError
from desk_desktop.ui.styling import restyle

COL_NAME, COL_KEY, COL_STATE = 0, 1, 2
READ_ONLY_NOTE = "Only an administrator can change catalogs; you can look at them here."


def read_catalogs(uow_factory, actor) -> Catalogs:
    """Worker: all four catalogs of the actor's organization."""
    return catalog_service.load_catalogs(uow=uow_factory(), actor=actor)


def _entries(uow_factory, actor, catalog: Catalog) -> tuple[Entry, ...]:
    return catalog_service.list_entries(uow=uow_factory(), actor=actor, catalog=catalog)


def _call(fn, uow_factory, actor, catalog: Catalog, arguments: dict[str, Any]) -> tuple[Entry, ...]:
    """Worker: one change, then the catalog as it is now."""
    fn(uow=uow_factory(), actor=actor, catalog=catalog, **arguments)
    return _entries(uow_factory, actor, catalog)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, DeskError):
        return str(exc)
    return f"Something went wrong: {exc}. The details are in the log."


class CatalogsDialog(QDialog):
    """Choose a catalog; its entries in order (name, key, active) with the actions beside them."""

    changed = Signal()  # a change was saved

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.read_only = not ctx.actor.is_admin
        self._entries: tuple[Entry, ...] = ()
        self._filling = False
        self.setWindowTitle("Catalogs")
        self.setObjectName("CatalogsDialog")
        self.resize(720, 560)

        heading = QLabel("Catalogs")
        heading.setObjectName("TicketTitle")
        intro = QLabel("The words your organization uses. Tickets, rules and work orders keep the key, so a "
                       "new name shows everywhere at once. An entry in use is retired, never deleted: it stays "
                       "on old records and is no longer offered.")
        intro.setObjectName("Muted")
        intro.setWordWrap(True)
        self.catalog_combo = QComboBox()
        self.catalog_combo.setObjectName("catalogCombo")
        for c in CATALOGS.values():
            self.catalog_combo.addItem(c.plural.capitalize(), c.word)
        self.read_only_note = QLabel(READ_ONLY_NOTE)
        self.read_only_note.setObjectName("readOnlyNote")
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setVisible(self.read_only)

        self.table = QTableWidget(0, 3)
        self.table.setObjectName("catalogTable")
        self.table.setHorizontalHeaderLabels(["Name", "Key", "State"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers if self.read_only else
                                   QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_KEY, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.ResizeToContents)

        self.rename_button = QPushButton("Rename")
        self.rename_button.setObjectName("renameButton")
        self.retire_button = QPushButton("Retire")
        self.retire_button.setObjectName("retireButton")
        self.up_button = QPushButton("Move up")
        self.up_button.setObjectName("upButton")
        self.down_button = QPushButton("Move down")
        self.down_button.setObjectName("downButton")
        side = QVBoxLayout()
        for b in (self.rename_button, self.retire_button, self.up_button, self.down_button):
            side.addWidget(b)
        side.addStretch(1)

        self.new_name_edit = QLineEdit()
        self.new_name_edit.setObjectName("newNameEdit")
        self.new_name_edit.setPlaceholderText("New entry, e.g. Technical Support")
        self.new_key_edit = QLineEdit()
        self.new_key_edit.setObjectName("newKeyEdit")
        self.new_key_edit.setPlaceholderText("key (optional)")
        self.new_key_edit.setFixedWidth(160)
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("addButton")
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_name_edit, 1)
        add_row.addWidget(self.new_key_edit)
        add_row.addWidget(self.add_button)

        self.error_label = QLabel()
        self.error_label.setObjectName("fieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.accept)

        top = QHBoxLayout()
        top.addWidget(QLabel("Catalog"))
        top.addWidget(self.catalog_combo)
        top.addStretch(1)
        middle = QHBoxLayout()
        middle.addWidget(self.table, 1)
        middle.addLayout(side)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(heading)
        lay.addWidget(intro)
        lay.addWidget(self.read_only_note)
        lay.addLayout(top)
        lay.addLayout(middle, 1)
        lay.addLayout(add_row)
        lay.addWidget(self.error_label)
        lay.addLayout(bottom)

        self.catalog_combo.currentIndexChanged.connect(lambda _i: self.reload())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemChanged.connect(self._on_item_changed)
        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.retire_button.clicked.connect(self._on_retire_clicked)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(1))
        self.add_button.clicked.connect(self._on_add_clicked)
        self.new_name_edit.returnPressed.connect(self._on_add_clicked)
        ctx.live.changed.connect(self._on_live_changed)
        self.reload()

    # ------------------------------------------------------------------ state
    @property
    def catalog(self) -> Catalog:
        return CATALOGS[self.catalog_combo.currentData()]

    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    def selected_entry(self) -> Entry | None:
        row = self.table.currentRow()
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def select_key(self, key: str) -> None:
        for row, e in enumerate(self._entries):
            if e.key == key:
                self.table.selectRow(row)
                return

    def show_error(self, text: str | None) -> None:
        self.error_label.setText(text or "")
        self.error_label.setVisible(bool(text))
        restyle(self.error_label)

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        catalog = self.catalog
        self.ctx.runner.submit(_entries, self.ctx.uow_factory, self.ctx.actor, catalog, owner=self, key="entries",
                               on_done=lambda entries: self._fill(catalog, entries),
                               on_error=lambda exc: self.show_error(_error_text(exc)))

    def _fill(self, catalog: Catalog, entries: tuple[Entry, ...]) -> None:
        if catalog is not self.catalog:
            return  # another catalog was chosen meanwhile
        keep = self.selected_entry().key if self.selected_entry() else None
        self._entries = tuple(entries)
        self._filling = True
        try:
            self.table.setRowCount(len(entries))
            for row, e in enumerate(entries):
                name = QTableWidgetItem(e.name)
                name.setData(Qt.ItemDataRole.UserRole, e.key)
                key = QTableWidgetItem(e.key)
                state = QTableWidgetItem("Active" if e.active else "Retired")
                for item in (key, state):
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if not e.active:
                    for item in (name, key, state):
                        item.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(row, COL_NAME, name)
                self.table.setItem(row, COL_KEY, key)
                self.table.setItem(row, COL_STATE, state)
        finally:
            self._filling = False
        if keep is not None:
            self.select_key(keep)
        self._update_buttons()

    def _on_live_changed(self, entity: str, _entity_id: object, _action: str) -> None:
        if entity == "catalog" and self.table.state() != QAbstractItemView.State.EditingState:
            self.reload()

    def _update_buttons(self) -> None:
        entry = self.selected_entry()
        editable = not self.read_only
        row = self.table.currentRow()
        self.rename_button.setEnabled(editable and entry is not None)
        self.retire_button.setEnabled(editable and entry is not None)
        self.retire_button.setText("Restore" if entry is not None and not entry.active else "Retire")
        self.up_button.setEnabled(editable and entry is not None and row > 0)
        self.down_button.setEnabled(editable and entry is not None and row < len(self._entries) - 1)
        for w in (self.add_button, self.new_name_edit, self.new_key_edit):
            w.setEnabled(editable)
        tip = READ_ONLY_NOTE if self.read_only else ""
        for w in (self.rename_button, self.retire_button, self.up_button, self.down_button, self.add_button):
            w.setToolTip(tip)

    # ------------------------------------------------------------------ changes
    def _change(self, fn, *, on_done=None, **kwargs: Any) -> None:
        catalog = self.catalog

        def done(entries: tuple[Entry, ...]) -> None:
            self.show_error(None)
            self._fill(catalog, entries)
            if on_done is not None:
                on_done()
            self.changed.emit()

        self.ctx.runner.submit(_call, fn, self.ctx.uow_factory, self.ctx.actor, catalog, kwargs, owner=self,
                               key="change", on_done=done, on_error=lambda exc: self.show_error(_error_text(exc)))

    def _on_add_clicked(self) -> None:
        if self.read_only:
            self.show_error(READ_ONLY_NOTE)
            return
        name, key = self.new_name_edit.text(), self.new_key_edit.text().strip() or None

        def added() -> None:  # only a saved entry clears what was typed
            self.new_name_edit.clear()
            self.new_key_edit.clear()
            self.table.selectRow(len(self._entries) - 1)

        self._change(catalog_service.add_entry, on_done=added, name=name, key=key)

    def _on_rename_clicked(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.setFocus()
            self.table.editItem(self.table.item(row, COL_NAME))

    def rename(self, key: str, name: str) -> None:
        """Save a new name (the list's inline edit and the button end here)."""
        self._change(catalog_service.rename_entry, key=key, name=name)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != COL_NAME:
            return
        key = item.data(Qt.ItemDataRole.UserRole)
        old = next((e.name for e in self._entries if e.key == key), None)
        if item.text() != old:
            self.rename(key, item.text())  # on failure the typed name stays in the list, with the error

    def _on_retire_clicked(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self._change(catalog_service.set_active, key=entry.key, active=not entry.active)

    def _move(self, step: int) -> None:
        row = self.table.currentRow()
        keys = [e.key for e in self._entries]
        if not 0 <= row + step < len(keys) or row < 0:
            return
        keys[row], keys[row + step] = keys[row + step], keys[row]
        moved = keys[row + step]
        self._change(catalog_service.reorder, on_done=lambda: self.select_key(moved), keys=keys)
