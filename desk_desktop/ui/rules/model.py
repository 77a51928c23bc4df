"""The rule list as a table model (priority order, first row wins).

Rows are ``RuleView``s from ``services.rules.list_rules``. The model never talks to the
database: the page turns its signals (``active_toggled``, ``reorder_requested``) into
service calls on the worker pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont

from desk_desktop.domain.catalogs import SKILLS, WORK_ORDER_TYPES
from desk_desktop.domain.enums import ASSIGNMENT_LOGIC_HELP, AssignmentLogic
from desk_desktop.services.catalogs import Catalogs
from desk_desktop.ui.rules.widgets import humanize

COL_POSITION = 0
COL_ACTIVE = 1
COL_NAME = 2
COL_TRIGGERS = 3
COL_TEMPLATE = 4
COL_ASSIGNMENT = 5
COL_ORDERS = 6
COLUMN_COUNT = 7

HEADERS = {
    COL_POSITION: "#",
    COL_ACTIVE: "Active",
    COL_NAME: "Rule",
    COL_TRIGGERS: "When",
    COL_TEMPLATE: "Creates work order",
    COL_ASSIGNMENT: "Assignment",
    COL_ORDERS: "30 days",
}

RuleIdRole = Qt.ItemDataRole.UserRole + 1
RuleRole = Qt.ItemDataRole.UserRole + 2

MIME_TYPE = "application/x-desk-rule-ids"


def duration_text(minutes: int) -> str:
    if int(minutes) < 120 and int(minutes) % 60:
        return f"{int(minutes)} min"
    h, m = divmod(int(minutes), 60)
    if h and m:
        return f"{h} h {m} min"
    return f"{h} h" if h else f"{m} min"


def template_text(rule: Any, catalogs: Catalogs | None = None) -> str:
    """Short form of the work-order template: "Repair · high · 3 h" (the type's display name)."""
    kind = catalogs.name(WORK_ORDER_TYPES, rule.wo_type) if catalogs is not None else str(rule.wo_type)
    return f"{kind} · {rule.wo_priority} · {duration_text(rule.wo_duration_minutes)}"


def assignment_text(rule: Any, catalogs: Catalogs | None = None) -> str:
    """"Skill match (HVAC) · scheduled +1 h", or "Assigned by a dispatcher"."""
    if not rule.auto_assign:
        text = "Assigned by a dispatcher"
    else:
        text = "Auto: " + humanize(str(rule.assignment_logic)).lower()
        if rule.required_skills:
            names = catalogs.names(SKILLS, rule.required_skills) if catalogs is not None else rule.required_skills
            text += " (" + ", ".join(names) + ")"
    if rule.auto_schedule:
        text += " · " + schedule_text(rule.schedule_offset_minutes)
    return text


def schedule_text(minutes: int) -> str:
    if minutes <= 0:
        return "scheduled at once"
    return f"scheduled +{duration_text(minutes)}"


class RuleListModel(QAbstractTableModel):
    active_toggled = Signal(int, bool)  # rule id, wanted state
    reorder_requested = Signal(list)  # rule ids in the new priority order

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rules: list[Any] = []
        self._catalogs: Catalogs | None = None
        self._editable = True
        self._bold = QFont()
        self._bold.setBold(True)

    # --- data in -------------------------------------------------------------------
    def set_rules(self, rules: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rules = list(rules)
        self.endResetModel()

    def set_catalogs(self, catalogs: Catalogs) -> None:
        """Display names of work-order types and skills (set before ``set_rules``)."""
        self._catalogs = catalogs

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        if self._rules:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rules) - 1, COLUMN_COUNT - 1))

    def rules(self) -> list[Any]:
        return list(self._rules)

    def rule_at(self, row: int) -> Any | None:
        return self._rules[row] if 0 <= row < len(self._rules) else None

    def row_of(self, rule_id: int | None) -> int:
        for i, r in enumerate(self._rules):
            if r.id == rule_id:
                return i
        return -1

    def rule_ids(self) -> list[int]:
        return [r.id for r in self._rules]

    def replace_rule(self, rule: Any) -> None:
        row = self.row_of(rule.id)
        if row < 0:
            return
        self._rules[row] = rule
        self.dataChanged.emit(self.index(row, 0), self.index(row, COLUMN_COUNT - 1))

    def apply_order(self, rule_ids: Sequence[int]) -> None:
        by_id = {r.id: r for r in self._rules}
        if set(by_id) != set(rule_ids):
            return
        self.beginResetModel()
        self._rules = [by_id[i] for i in rule_ids]
        self.endResetModel()

    # --- Qt model API --------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rules)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS.get(section)
            if role == Qt.ItemDataRole.ToolTipRole:
                if section == COL_POSITION:
                    return "Rules are tried top to bottom; the first active rule that matches creates the work order."
                if section == COL_ORDERS:
                    return "Work orders this rule created in the last 30 days."
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled if self._editable else Qt.ItemFlag.NoItemFlags
        if self._editable:
            base |= Qt.ItemFlag.ItemIsDragEnabled | Qt.ItemFlag.ItemIsDropEnabled
            if index.column() == COL_ACTIVE:
                base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        rule = self._rules[index.row()]
        col = index.column()
        if role == RuleIdRole:
            return rule.id
        if role == RuleRole:
            return rule
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_POSITION:
                return str(index.row() + 1)
            if col == COL_NAME:
                return rule.name
            if col == COL_TRIGGERS:
                return rule.trigger_summary
            if col == COL_TEMPLATE:
                return template_text(rule, self._catalogs)
            if col == COL_ASSIGNMENT:
                return assignment_text(rule, self._catalogs)
            if col == COL_ORDERS:
                return str(rule.orders_last_30_days)
            return None
        if role == Qt.ItemDataRole.CheckStateRole and col == COL_ACTIVE:
            return Qt.CheckState.Checked if rule.active else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_ACTIVE:
                return "Active: new tickets are checked against this rule" if rule.active else (
                    "Inactive: this rule is skipped"
                )
            if col == COL_ASSIGNMENT and rule.auto_assign:
                try:
                    return ASSIGNMENT_LOGIC_HELP[AssignmentLogic(rule.assignment_logic)]
                except ValueError:
                    return None
            if col in (COL_NAME, COL_TRIGGERS, COL_TEMPLATE):
                tip = f"{rule.name}\nWhen a new ticket has: {rule.trigger_summary}\nCreates: {rule.template_summary}"
                if rule.description:
                    tip += f"\n\n{rule.description}"
                return tip
            return None
        if role == Qt.ItemDataRole.FontRole and col == COL_NAME:
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole:
            if not rule.active and col != COL_ACTIVE:
                return QBrush(QColor("#94a3b8"))
            if col in (COL_POSITION, COL_TRIGGERS, COL_ASSIGNMENT):
                return QBrush(QColor("#475569"))
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (COL_POSITION, COL_ORDERS):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole and col == COL_ACTIVE:
            return "active" if rule.active else "inactive"
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or index.column() != COL_ACTIVE or role != Qt.ItemDataRole.CheckStateRole:
            return False
        if not self._editable:
            return False
        wanted = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
        rule = self._rules[index.row()]
        if bool(rule.active) == wanted:
            return False
        # The page applies it (optimistically) and calls the service.
        self.active_toggled.emit(rule.id, wanted)
        return True

    # --- drag and drop (reorder) ---------------------------------------------------
    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME_TYPE]

    def mimeData(self, indexes) -> QMimeData:  # noqa: N802
        rows = sorted({i.row() for i in indexes if i.isValid()})
        ids = [str(self._rules[r].id) for r in rows]
        mime = QMimeData()
        mime.setData(MIME_TYPE, QByteArray(",".join(ids).encode()))
        return mime

    def canDropMimeData(self, data, action, row, column, parent) -> bool:  # noqa: N802
        return self._editable and data.hasFormat(MIME_TYPE) and action == Qt.DropAction.MoveAction

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent) -> bool:  # noqa: N802
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        try:
            moving = [int(x) for x in bytes(data.data(MIME_TYPE).data()).decode().split(",") if x]
        except ValueError:
            return False
        if row < 0:
            row = parent.row() if parent.isValid() else len(self._rules)
        target = self.order_after_drop(self.rule_ids(), moving, row)
        if target == self.rule_ids():
            return False
        self.reorder_requested.emit(target)
        # Returning False keeps the view from deleting the "source" rows: the page
        # applies the new order itself (then saves it in one transaction).
        return False

    @staticmethod
    def order_after_drop(ids: Sequence[int], moving: Sequence[int], row: int) -> list[int]:
        """Ids in their new order when ``moving`` is dropped before position ``row``."""
        moving_set = set(moving)
        before = sum(1 for i in ids[:row] if i in moving_set)
        rest = [i for i in ids if i not in moving_set]
        insert_at = max(0, min(len(rest), row - before))
        moved = [i for i in ids if i in moving_set]
        return rest[:insert_at] + moved + rest[insert_at:]
