"""The ticket queue as a Qt table model.

A million tickets must open instantly, so the model never loads "everything". It holds a
*window*: a contiguous run of rows of the full ordered result, anchored either at the
start or at the end of the order, and grows it page by page with keyset pagination:

* anchored at the start (the normal case) it grows downwards through Qt's own
  ``canFetchMore``/``fetchMore`` as the view scrolls to the bottom;
* ``jump_to_end()`` (Ctrl+End) asks for the *reversed* order (``created_asc`` instead of
  ``created_desc``) — the last rows are then the first page of that query, so the last
  row is as cheap as the first one (no OFFSET, no walking a million rows). That window
  grows upwards with ``fetch_previous()`` when the view reaches its top.

The total count is fetched separately (for the "x–y of N" label) and never delays rows.
Every database call runs through ``ctx.runner`` with this model as owner; the rows of a
superseded request (the filter changed meanwhile) are dropped by the runner (key ``window``).

Live updates (``reload_in_place``) re-read the loaded window and swap the rows with a
``layoutChanged`` that maps persistent indexes by ticket id, so the selection, the
current row and the scroll position survive.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont

from desk_desktop.domain.catalogs import CATEGORIES
from desk_desktop.ui.tickets.style import PRIORITY_COLORS, STATUS_COLORS, dot_icon, format_when, title

log = logging.getLogger(__name__)

COL_NUMBER = 0
COL_SUBJECT = 1
COL_CUSTOMER = 2
COL_CATEGORY = 3
COL_PRIORITY = 4
COL_STATUS = 5
COL_TECHNICIAN = 6
COL_SCHEDULED = 7
COL_CREATED = 8
COLUMN_COUNT = 9

HEADERS = {
    COL_NUMBER: "Number",
    COL_SUBJECT: "Subject",
    COL_CUSTOMER: "Customer",
    COL_CATEGORY: "Category",
    COL_PRIORITY: "Priority",
    COL_STATUS: "Status",
    COL_TECHNICIAN: "Technician",
    COL_SCHEDULED: "Scheduled",
    COL_CREATED: "Created",
}

ROLE_TICKET_ID = Qt.ItemDataRole.UserRole + 1
ROLE_SUMMARY = Qt.ItemDataRole.UserRole + 2
ROLE_PRIORITY = Qt.ItemDataRole.UserRole + 3
ROLE_STATUS = Qt.ItemDataRole.UserRole + 4
ROLE_NUMBER = Qt.ItemDataRole.UserRole + 5

# Column -> the sort key of the ticket service ("<key>_asc" / "<key>_desc"); only the
# orders the service can page with a keyset are offered (others would need OFFSET).
_WANTED_SORT_KEYS = {
    COL_NUMBER: "number",
    COL_CREATED: "created",
    COL_PRIORITY: "priority",
    COL_SCHEDULED: "scheduled",
    COL_CUSTOMER: "customer",
    COL_STATUS: "status",
}


def _supported_sort_keys() -> dict[int, str]:
    from desk_desktop.services.tickets import SORTS

    return {col: key for col, key in _WANTED_SORT_KEYS.items()
            if f"{key}_asc" in SORTS and f"{key}_desc" in SORTS}


SORT_KEYS = _supported_sort_keys()
DEFAULT_SORT = "created_desc"

MAX_RELOAD_ROWS = 5000  # a live reload re-reads at most this many loaded rows
RELOAD_PAGE_ROWS = 1000  # the ticket service's largest page


def reverse_sort(sort: str) -> str:
    key, _, direction = sort.rpartition("_")
    return f"{key}_{'asc' if direction == 'desc' else 'desc'}"


@dataclass(frozen=True)
class FilterState:
    """What the dispatcher filtered on; saved in QSettings between runs."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tag: str = ""
    # None = anyone, "unassigned" = no technician, or a technician id
    assignee: int | str | None = None
    text: str = ""

    def to_filter(self):
        from desk_desktop.services.tickets import TicketFilter

        return TicketFilter(
            status=tuple(self.statuses) or None,
            priority=tuple(self.priorities) or None,
            category=tuple(self.categories) or None,
            tag=self.tag.strip() or None,
            technician_id=self.assignee if isinstance(self.assignee, int) else None,
            unassigned_only=self.assignee == "unassigned",
            text=self.text.strip() or None,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | None) -> FilterState:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            assignee = data.get("assignee")
            if assignee not in (None, "unassigned") and not isinstance(assignee, int):
                assignee = None
            return cls(
                statuses=tuple(str(s) for s in data.get("statuses", ())),
                priorities=tuple(str(s) for s in data.get("priorities", ())),
                categories=tuple(str(s) for s in data.get("categories", ())),
                tag=str(data.get("tag", "")),
                assignee=assignee,
                text=str(data.get("text", "")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


def _list_page(uow_factory, actor, filters, sort, after, limit):
    from desk_desktop.services import tickets

    return tickets.list_tickets(uow=uow_factory(), actor=actor, filters=filters, sort=sort, after=after, limit=limit)


def _reload_window(uow_factory, actor, filters, sort, limit, page_limit):
    """Re-read the first ``limit`` rows of an order, in service-sized pages, in one worker call."""
    from desk_desktop.services import tickets

    rows: list = []
    after = None
    while True:
        page = tickets.list_tickets(uow=uow_factory(), actor=actor, filters=filters, sort=sort, after=after,
                                    limit=min(page_limit, limit - len(rows)))
        rows.extend(page.rows)
        after = page.next_cursor
        if after is None or len(rows) >= limit:
            return tickets.TicketPage(rows=tuple(rows), next_cursor=after)


def _count(uow_factory, actor, filters):
    from desk_desktop.services import tickets

    return tickets.count_tickets(uow=uow_factory(), actor=actor, filters=filters)


@dataclass
class _Window:
    anchor: str = "start"  # "start" or "end"
    cursor: Any = None  # keyset cursor to grow the window (None: nothing more)
    fetching: bool = False
    rows: list = field(default_factory=list)


class TicketTableModel(QAbstractTableModel):
    loading_changed = Signal(bool)
    rows_loaded = Signal()  # a page (or a reload) arrived
    total_changed = Signal(int)
    load_failed = Signal(str)

    def __init__(self, ctx, *, page_size: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._page_size = page_size
        self._filters = FilterState()
        self._sort = DEFAULT_SORT
        self._win = _Window()
        self._total: int | None = None
        self._loading = False
        self._catalogs = None  # services.catalogs.Catalogs: the categories' display names
        ctx.runner.owner_settled.connect(self._on_request_settled)
        self._priority_icons = {p: dot_icon(c) for p, c in PRIORITY_COLORS.items()}
        self._bold = QFont()
        self._bold.setBold(True)

    # ----------------------------------------------------------------- state
    @property
    def filters(self) -> FilterState:
        return self._filters

    @property
    def sort_key(self) -> str:
        return self._sort

    @property
    def anchor(self) -> str:
        return self._win.anchor

    @property
    def total(self) -> int | None:
        return self._total

    @property
    def is_loading(self) -> bool:
        return self._loading

    def window_range(self) -> tuple[int, int] | None:
        """Absolute (first, last) positions, 1-based, of the loaded rows in the full result."""
        n = len(self._win.rows)
        if n == 0:
            return None
        if self._win.anchor == "start":
            return 1, n
        if self._total is None:
            return None
        return self._total - n + 1, self._total

    def set_catalogs(self, catalogs) -> None:
        """Show categories by their current names (rows keep the key)."""
        self._catalogs = catalogs
        if self.rowCount():
            self.dataChanged.emit(self.index(0, COL_CATEGORY), self.index(self.rowCount() - 1, COL_CATEGORY))

    def set_filters(self, filters: FilterState, *, load: bool = True) -> None:
        if filters == self._filters:
            return
        self._filters = filters
        if load:
            self.refresh()

    def set_sort_key(self, sort: str, *, load: bool = True) -> None:
        if sort == self._sort:
            return
        self._sort = sort
        if load:
            self.refresh()

    # ------------------------------------------------------------ Qt basics
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._win.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS.get(section)
            if role == Qt.ItemDataRole.ToolTipRole:
                return "Click to sort" if section in SORT_KEYS else None
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            rng = self.window_range()
            if rng is not None:
                return f"{rng[0] + section:,}"
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def row_of(self, ticket_id: int) -> int:
        for i, t in enumerate(self._win.rows):
            if t.id == ticket_id:
                return i
        return -1

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if row >= len(self._win.rows):
            return None
        t = self._win.rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(t, col, self._catalogs)
        if role == ROLE_TICKET_ID:
            return t.id
        if role == ROLE_SUMMARY:
            return t
        if role == ROLE_PRIORITY:
            return t.priority
        if role == ROLE_STATUS:
            return t.status
        if role == ROLE_NUMBER:
            return t.number
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_PRIORITY:
                return QColor(PRIORITY_COLORS.get(t.priority, "#333333"))
            if col == COL_STATUS:
                return QColor(STATUS_COLORS.get(t.status, ("#333333", ""))[0])
            if col == COL_TECHNICIAN and not t.technician_name and t.work_order_id:
                return QColor("#B3261E")
            if col in (COL_NUMBER, COL_CREATED, COL_SCHEDULED):
                return QColor("#4A5562")
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == COL_PRIORITY:
            return self._priority_icons.get(t.priority)
        if role == Qt.ItemDataRole.FontRole:
            if col == COL_PRIORITY and t.priority in ("urgent", "high"):
                return self._bold
            if col == COL_STATUS and t.status == "new":
                return self._bold
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_SUBJECT:
                return t.subject
            if col == COL_TECHNICIAN and t.work_order_id and not t.technician_name:
                return "The work order is waiting for a technician"
            return None
        return None

    @staticmethod
    def _display(t, col: int, catalogs=None):
        if col == COL_NUMBER:
            return t.number
        if col == COL_SUBJECT:
            return t.subject
        if col == COL_CUSTOMER:
            return t.customer_name
        if col == COL_CATEGORY:
            return catalogs.name(CATEGORIES, t.category) if catalogs is not None else t.category
        if col == COL_PRIORITY:
            return title(t.priority)
        if col == COL_STATUS:
            return title(t.status)
        if col == COL_TECHNICIAN:
            if t.technician_name:
                return t.technician_name
            return "Unassigned" if t.work_order_id else "—"
        if col == COL_SCHEDULED:
            return format_when(t.scheduled_start) if t.scheduled_start else ""
        if col == COL_CREATED:
            return format_when(t.created_at)
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        key = SORT_KEYS.get(column)
        if key is None:
            return
        direction = "asc" if order == Qt.SortOrder.AscendingOrder else "desc"
        self.set_sort_key(f"{key}_{direction}")

    # -------------------------------------------------------------- loading
    def _on_request_settled(self, owner) -> None:
        if owner is self and self._loading and not self._ctx.runner.in_flight(self):
            self._loading = False
            self.loading_changed.emit(False)

    def _submit(self, fn, *args, key: str, on_done, **kwargs) -> None:
        """Rows (``key="window"``: a new load, growth or reload supersedes the one in flight) or the count."""
        if not self._loading:
            self._loading = True
            self.loading_changed.emit(True)

        def failed(exc):
            self._win.fetching = False
            log.warning("ticket list request failed: %s", exc)
            self.load_failed.emit(str(exc) or exc.__class__.__name__)

        self._ctx.runner.submit(fn, *args, owner=self, key=key, on_done=on_done, on_error=failed, **kwargs)

    def refresh(self) -> None:
        """Reload from the start of the order (new filter or sort, or a full refresh)."""
        self._load_anchor("start")

    def jump_to_start(self) -> None:
        if self._win.anchor == "start" and self._win.rows:
            return
        self._load_anchor("start")

    def jump_to_end(self) -> None:
        """Show the last rows of the order without reading the ones in between."""
        if self._win.anchor == "start" and self._win.cursor is None and self._win.rows:
            return  # everything is loaded already
        self._load_anchor("end")

    def _load_anchor(self, anchor: str) -> None:
        self._win.fetching = True
        filters = self._filters.to_filter()
        sort = self._sort if anchor == "start" else reverse_sort(self._sort)
        uowf, actor = self._ctx.uow_factory, self._ctx.actor

        def arrived(page) -> None:
            rows = list(page.rows)
            if anchor == "end":
                rows.reverse()
            self.beginResetModel()
            self._win = _Window(anchor=anchor, cursor=page.next_cursor, rows=rows)
            self.endResetModel()
            self.rows_loaded.emit()

        self._submit(_list_page, uowf, actor, filters, sort, None, self._page_size, key="window", on_done=arrived)
        self._submit(_count, uowf, actor, filters, key="count", on_done=self._count_arrived)

    def _count_arrived(self, total: int) -> None:
        self._total = int(total)
        self.total_changed.emit(self._total)
        if self._win.anchor == "end":
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, max(0, len(self._win.rows) - 1))

    def canFetchMore(self, parent: QModelIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid():
            return False
        w = self._win
        return w.anchor == "start" and w.cursor is not None and not w.fetching

    def fetchMore(self, parent: QModelIndex = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        self._grow()

    def can_fetch_previous(self) -> bool:
        w = self._win
        return w.anchor == "end" and w.cursor is not None and not w.fetching

    def fetch_previous(self) -> None:
        """Extend an end-anchored window upwards (the view reached its top)."""
        if self.can_fetch_previous():
            self._grow()

    def _grow(self) -> None:
        w = self._win
        w.fetching = True
        anchor = w.anchor
        sort = self._sort if anchor == "start" else reverse_sort(self._sort)

        def arrived(page) -> None:
            rows = list(page.rows)
            win = self._win
            win.fetching = False
            win.cursor = page.next_cursor
            known = {t.id for t in win.rows}
            rows = [t for t in rows if t.id not in known]
            if rows:
                if anchor == "start":
                    first = len(win.rows)
                    self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
                    win.rows.extend(rows)
                    self.endInsertRows()
                else:
                    rows.reverse()
                    self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
                    win.rows[0:0] = rows
                    self.endInsertRows()
            self.rows_loaded.emit()

        self._submit(_list_page, self._ctx.uow_factory, self._ctx.actor, self._filters.to_filter(), sort,
                     w.cursor, self._page_size, key="window", on_done=arrived)

    def reload_in_place(self) -> None:
        """Re-read the loaded window (a change elsewhere) keeping selection and scroll."""
        if self._win.fetching:
            # A load is in flight; it will bring fresh rows anyway.
            return
        anchor = self._win.anchor
        limit = min(max(len(self._win.rows), self._page_size), MAX_RELOAD_ROWS)
        sort = self._sort if anchor == "start" else reverse_sort(self._sort)
        filters = self._filters.to_filter()
        uowf, actor = self._ctx.uow_factory, self._ctx.actor

        def arrived(page) -> None:
            rows = list(page.rows)
            if anchor == "end":
                rows.reverse()
            self._swap_rows(rows, page.next_cursor)
            self.rows_loaded.emit()

        self._submit(_reload_window, uowf, actor, filters, sort, limit, RELOAD_PAGE_ROWS, key="window",
                     on_done=arrived)
        self._submit(_count, uowf, actor, filters, key="count", on_done=self._count_arrived)

    def _swap_rows(self, rows: list, cursor) -> None:
        old = self._win.rows
        if [t.id for t in old] == [t.id for t in rows]:
            changed = [i for i, (a, b) in enumerate(zip(old, rows, strict=True)) if a != b]
            self._win.rows = rows
            self._win.cursor = cursor
            if changed:
                self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), COLUMN_COUNT - 1))
            return
        self.layoutAboutToBeChanged.emit()
        new_pos = {t.id: i for i, t in enumerate(rows)}
        old_persistent = self.persistentIndexList()
        old_ids = [old[idx.row()].id if 0 <= idx.row() < len(old) else None for idx in old_persistent]
        self._win.rows = rows
        self._win.cursor = cursor
        new_persistent = []
        for idx, tid in zip(old_persistent, old_ids, strict=True):
            nr = new_pos.get(tid, -1) if tid is not None else -1
            new_persistent.append(self.createIndex(nr, idx.column()) if nr >= 0 else QModelIndex())
        self.changePersistentIndexList(old_persistent, new_persistent)
        self.layoutChanged.emit()
