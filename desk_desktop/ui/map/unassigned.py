"""The map's list of unassigned work orders: most urgent first, then the longest waiting."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from desk_desktop.domain.enums import PRIORITY_RANK
from desk_desktop.services.mapdata import MapWorkOrder
from desk_desktop.ui.map.cells import TEXT, DetailRole, TwoLineDelegate, format_waiting, type_name

PRIORITY_COLORS = {"urgent": "#C62828", "high": "#E65100", "medium": "#1565C0", "low": "#607D8B"}


def sort_unassigned(rows: list[MapWorkOrder]) -> list[MapWorkOrder]:
    """Most urgent first, then the longest waiting."""
    rank = {str(p): r for p, r in PRIORITY_RANK.items()}
    return sorted(rows, key=lambda w: (-rank.get(w.priority, 0), w.created_at, w.id))


class UnassignedModel(QAbstractTableModel):
    COL_ORDER = 0
    COL_PRIORITY = 1
    COL_WAITING = 2
    HEADERS = ("Work order", "Priority", "Waiting")
    WorkOrderIdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[MapWorkOrder] = []
        self._now = datetime.now(UTC)
        self.catalogs = None  # services.catalogs.Catalogs: work-order types by name

    def set_catalogs(self, catalogs) -> None:
        self.catalogs = catalogs
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.HEADERS) - 1))

    def set_rows(self, rows: list[MapWorkOrder]) -> None:
        """``rows`` in the list's order (``sort_unassigned``)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._now = datetime.now(UTC)
        self.endResetModel()

    def row_of(self, work_order_id: int) -> int:
        for i, w in enumerate(self._rows):
            if w.id == work_order_id:
                return i
        return -1

    def order_at(self, row: int) -> MapWorkOrder | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        w = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_ORDER:
                return f"{w.number} · {type_name(self.catalogs, w.work_type)}"
            if col == self.COL_PRIORITY:
                return w.priority.capitalize()
            if col == self.COL_WAITING:
                return format_waiting(w.created_at, self._now)
        elif role == DetailRole and col == self.COL_ORDER:
            who = w.customer_name or "No customer"
            what = f"{who} — {w.subject}" if w.subject else who
            return what if w.lat is not None else f"{what} (no location)"
        elif role == Qt.ItemDataRole.ForegroundRole and col == self.COL_PRIORITY:
            return QColor(PRIORITY_COLORS.get(w.priority, TEXT))
        elif role == Qt.ItemDataRole.FontRole and col == self.COL_PRIORITY:
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        elif role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{w.number} · {w.priority} · {type_name(self.catalogs, w.work_type)}"]
            if w.subject:
                lines.append(w.subject)
            if w.address:
                lines.append(w.address)
            if w.lat is None:
                lines.append("No location: not on the map")
            if w.unassigned_reason:
                lines.append(f"Not assigned automatically: {w.unassigned_reason}")
            return "\n".join(lines)
        elif role == self.WorkOrderIdRole:
            return w.id
        elif role == Qt.ItemDataRole.TextAlignmentRole and col == self.COL_WAITING:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class UnassignedList(QWidget):
    """The table; ``order_chosen`` when the dispatcher picks a row. ``heading`` (title and
    count) is a separate widget: the page lays it out above, outside the table's share of
    the height."""

    order_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QWidget()
        head = QHBoxLayout(self.heading)
        head.setContentsMargins(0, 0, 0, 0)
        self.title_label = QLabel("Unassigned work orders", objectName="SideTitle")
        self.count_label = QLabel("", objectName="Muted")
        head.addWidget(self.title_label)
        head.addStretch(1)
        head.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        self.model = UnassignedModel(self)
        self.view = view = QTableView()
        view.setModel(self.model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.verticalHeader().hide()
        view.verticalHeader().setDefaultSectionSize(44)
        view.setItemDelegateForColumn(UnassignedModel.COL_ORDER, TwoLineDelegate(view))
        view.setWordWrap(False)
        view.setShowGrid(False)
        hh = view.horizontalHeader()
        hh.setSectionResizeMode(UnassignedModel.COL_ORDER, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(UnassignedModel.COL_PRIORITY, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(UnassignedModel.COL_WAITING, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(view)
        view.selectionModel().selectionChanged.connect(self._on_selection_changed)

    def set_orders(self, rows: list[MapWorkOrder], *, keep: int | None) -> None:
        """Show ``rows`` (sorted); ``keep`` stays selected if it is still among them."""
        sm = self.view.selectionModel()
        sm.blockSignals(True)
        self.model.set_rows(rows)
        if keep is not None:
            self._select_row(self.model.row_of(keep))
        sm.blockSignals(False)
        on_map = sum(1 for w in rows if w.lat is not None)
        total = len(rows)
        self.count_label.setText(f"{total} waiting" + (f" · {total - on_map} without location" if on_map < total else ""))

    def show_selected(self, work_order_id: int | None) -> None:
        """Select (and scroll to) the order chosen elsewhere (on the map), without ``order_chosen``."""
        sm = self.view.selectionModel()
        sm.blockSignals(True)
        if work_order_id is None:
            sm.clearSelection()
        else:
            row = self.model.row_of(work_order_id)
            self._select_row(row)
            if row >= 0:
                self.view.scrollTo(self.model.index(row, 0))
        sm.blockSignals(False)

    def _select_row(self, row: int) -> None:
        if row >= 0:
            self.view.selectionModel().select(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    def _on_selection_changed(self, *_args) -> None:
        rows = self.view.selectionModel().selectedRows()
        order = self.model.order_at(rows[0].row()) if rows else None
        if order is not None:
            self.order_chosen.emit(order.id)
