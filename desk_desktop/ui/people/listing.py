"""What the technicians and customers pages share: a read-only table model of frozen rows,
and the page frame (title, search box debounced through the service, buttons, table, status)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

SEARCH_DELAY_MS = 250
COLUMN_PADDING = 28  # px beyond the widest text, so columns do not run into each other
ROLE_ID = Qt.ItemDataRole.UserRole


class RowsModel(QAbstractTableModel):
    """Rows with an ``id``; ``columns``: (header, row → text, alignment)."""

    def __init__(self, columns: list[tuple[str, Callable, Qt.AlignmentFlag]], parent=None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.rows: list = []

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 (Qt API)
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section][0]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        _header, text, align = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(align | Qt.AlignmentFlag.AlignVCenter)
        if role == ROLE_ID:
            return row.id
        return None

    def row_of(self, row_id: int) -> int:
        return next((i for i, r in enumerate(self.rows) if r.id == row_id), -1)


class ListPage(QWidget):
    """Title, hint, a search box (the search runs in the service, debounced), extra filter
    widgets, New/Edit, the table, and a status line. Subclasses give ``request(text)`` and ``open_editor(id)``."""

    def __init__(self, ctx, *, title: str, hint: str, placeholder: str, new_label: str,
                 columns, entity: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.is_loading = False
        self.model = RowsModel(columns, self)
        heading = QLabel(title)
        heading.setObjectName("pageTitle")
        hint_label = QLabel(hint)
        hint_label.setObjectName("pageHint")
        hint_label.setWordWrap(True)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(placeholder)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(320)
        self.new_button = QPushButton(new_label)
        self.new_button.setProperty("primary", True)
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setEnabled(False)
        self.toolbar = QHBoxLayout()
        self.toolbar.setSpacing(10)
        self.toolbar.addWidget(self.search_edit, 2)
        self.toolbar.addStretch(1)
        self.toolbar.addWidget(self.edit_button)
        self.toolbar.addWidget(self.new_button)
        self.table = QTableView(objectName="PeopleTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("")
        self.status.setObjectName("Muted")
        self.error_label = QLabel("")
        self.error_label.setObjectName("FieldError")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 12)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(hint_label)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.entity = entity  # changes to it committed elsewhere (LISTEN/NOTIFY) read the list again
        ctx.live.changed.connect(self._on_live_changed)
        ctx.live.refresh_all.connect(self.refresh)
        self.search_edit.textChanged.connect(lambda _t: self._search_timer.start())
        self.new_button.clicked.connect(lambda: self.open_editor(None))
        self.edit_button.clicked.connect(self._edit_selected)
        self.table.doubleClicked.connect(lambda index: self.open_editor(index.data(ROLE_ID)))
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self.edit_button.setEnabled(self.selected_id() is not None))
        self._started = False

    # subclasses
    def request(self, text: str) -> tuple[Callable, tuple]:
        """(function for the worker pool, its arguments) reading the rows for ``text`` (on the GUI thread)."""
        raise NotImplementedError

    def open_editor(self, row_id: int | None) -> None:
        raise NotImplementedError

    def accept_result(self, result) -> list:
        """Keep what the columns need from the fetch result; return the rows."""
        return list(result)

    # loading
    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.refresh()

    def refresh(self, select_id: int | None = None) -> None:
        self._search_timer.stop()
        self.is_loading = True
        text = self.search_edit.text().strip()
        wanted = select_id if select_id is not None else self.selected_id()
        fn, args = self.request(text)
        self.ctx.runner.submit(fn, *args, owner=self, key="rows",
                               on_done=lambda result: self._on_rows(result, wanted), on_error=self._on_failed)

    def _on_live_changed(self, entity: str, _entity_id, _action: str) -> None:
        if entity == self.entity and self._started:
            self._search_timer.start()  # one read for a burst of changes

    def _on_rows(self, result, select_id: int | None) -> None:
        rows = self.accept_result(result)
        self.model.set_rows(rows)
        self.table.resizeColumnsToContents()
        for column in range(self.model.columnCount() - 1):
            self.table.setColumnWidth(column, self.table.columnWidth(column) + COLUMN_PADDING)
        self.is_loading = False
        self.error_label.setVisible(False)
        text = self.search_edit.text().strip()
        self.status.setText(f"{len(rows)} shown" + (f" matching “{text}”" if text else ""))
        if select_id is not None and (row := self.model.row_of(select_id)) >= 0:
            self.table.selectRow(row)
        self.edit_button.setEnabled(self.selected_id() is not None)

    def _on_failed(self, exc: BaseException) -> None:
        self.is_loading = False
        self.error_label.setText(f"The list could not be loaded: {exc}")
        self.error_label.setVisible(True)

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(ROLE_ID) if rows else None

    def _edit_selected(self) -> None:
        row_id = self.selected_id()
        if row_id is not None:
            self.open_editor(row_id)

    def shutdown(self) -> None:
        self._search_timer.stop()
        self.ctx.runner.drop(self)
