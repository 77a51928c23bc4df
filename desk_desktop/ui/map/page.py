"""The dispatch map page: where technicians and open jobs are, and assigning from the map.

Left: a Leaflet map (folium-built page loaded from a file into QtWebEngine). Right: the
unassigned work orders; selecting one (in the list or on the map) centres it and shows the
ranked candidates for the chosen strategy; "Assign" (or a click on a technician marker
followed by a confirmation) assigns it through the assignment service.

Data moves one way: services run on the worker pool (``ctx.runner``) and return plain
data. A full load reads the page's data arrays first — the database formats them
(``mapdata.load_map_arrays``) and the text goes to ``DeskMap.setData`` as it is, in one
``runJavaScript`` call — then, once the browser has built the markers, the rows the side
list, tooltips and candidate details need (``mapdata.load_map_data``; a few hundred ms for
20,000 rows, read after the build so the two do not fight over the CPU). Later
changes go as small upserts (``DeskMap.applyChanges``) — the page is never reloaded for
data. Clicks (and tooltip requests) come back over ``QWebChannel``.
"""

from __future__ import annotations

import html
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.enums import PRIORITY_RANK, AssignmentLogic
from desk_desktop.services import mapdata
from desk_desktop.services.mapdata import MapData, MapTechnician, MapWorkOrder
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.map import payload

log = logging.getLogger(__name__)

STRATEGY_LABELS = {
    AssignmentLogic.NEAREST: "Nearest",
    AssignmentLogic.SKILL_MATCH: "Skill match",
    AssignmentLogic.WORKLOAD: "Workload",
    AssignmentLogic.ROUND_ROBIN: "Round robin",
}
PRIORITY_COLORS = {"urgent": "#C62828", "high": "#E65100", "medium": "#1565C0", "low": "#607D8B"}

PAGE_STYLESHEET = """
QFrame#MapSide { background: #f4f6f9; }
QLabel#SideTitle { font-size: 15px; font-weight: 600; }
QLabel#Muted { color: #5b6b7d; }
QFrame#Card { background: #ffffff; border: 1px solid #d3dbe6; border-radius: 8px; }
QLabel#OrderHeading { font-size: 14px; font-weight: 600; }
QLabel#Explanation { color: #3b4a5c; background: #f7f9fc; border: 1px solid #e3e8ef; border-radius: 6px;
    padding: 6px 8px; }
QFrame#ConfirmBar { background: #e8f0fb; border: 1px solid #c5d8f2; border-radius: 8px; }
QLabel#ErrorBanner { color: #8c1d18; background: #fdecea; border: 1px solid #f4c7c3; border-radius: 6px;
    padding: 6px 10px; }
QLabel#SuccessBanner { color: #1b5e20; background: #e8f5e9; border: 1px solid #c8e6c9; border-radius: 6px;
    padding: 6px 10px; }
QTableWidget#Candidates { border: none; }
QPushButton#AssignButton { padding: 3px 10px; }
"""


def format_distance(metres: float | None) -> str:
    if metres is None:
        return "—"
    if metres < 1000:
        return f"{metres:.0f} m"
    return f"{metres / 1000:.1f} km"


def format_waiting(created_at: datetime | None, now: datetime | None = None) -> str:
    if created_at is None:
        return ""
    now = now or datetime.now(UTC)
    minutes = max(0, int((now - created_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def _skills_text(skills: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(skills.items())) or "—"


# --------------------------------------------------------------------------------------
# Work done on the worker pool: the query AND the JavaScript text (20,000 rows of JSON
# are not encoded on the GUI thread).
# --------------------------------------------------------------------------------------


def fetch_details(uow_factory, actor) -> tuple[MapData, dict]:
    """The rows behind the markers (side list, tooltips, candidate details), on a worker."""
    data = mapdata.load_map_data(uow=uow_factory(), actor=actor)
    extra = {
        "technicians": {t.id: t for t in data.technicians},
        "orders": {w.id: w for w in data.work_orders},
        "by_ticket": {w.ticket_id: w.id for w in data.work_orders if w.ticket_id is not None},
        "unassigned": sort_unassigned([w for w in data.work_orders if w.technician_id is None]),
    }
    return data, extra


def sort_unassigned(rows: list[MapWorkOrder]) -> list[MapWorkOrder]:
    """Most urgent first, then the longest waiting."""
    rank = {str(p): r for p, r in PRIORITY_RANK.items()}
    return sorted(rows, key=lambda w: (-rank.get(w.priority, 0), w.created_at, w.id))


def fetch_changes(uow_factory, actor, *, technician_ids, work_order_ids) -> tuple[MapData, str]:
    data = mapdata.load_map_changes(uow=uow_factory(), actor=actor, technician_ids=technician_ids,
                                    work_order_ids=work_order_ids)
    return data, payload.js_call("applyChanges", payload.changes_payload(data))


# --------------------------------------------------------------------------------------
# QWebChannel bridge: the page calls these slots
# --------------------------------------------------------------------------------------


class MapBridge(QObject):
    """The object the page sees as ``channel.objects.bridge``; its slots are called from JavaScript."""

    page_ready = Signal()
    technician_clicked = Signal(int)
    work_order_clicked = Signal(int)
    map_drawn = Signal(str, float)

    @Slot()
    def pageReady(self) -> None:  # noqa: N802 - called from JavaScript
        self.page_ready.emit()

    @Slot(int)
    def technicianClicked(self, technician_id: int) -> None:  # noqa: N802
        self.technician_clicked.emit(int(technician_id))

    @Slot(int)
    def workOrderClicked(self, work_order_id: int) -> None:  # noqa: N802
        self.work_order_clicked.emit(int(work_order_id))

    @Slot(str, float)
    def drawn(self, what: str, millis: float) -> None:
        self.map_drawn.emit(what, float(millis))

    @Slot(str, int, result=str)
    def describe(self, kind: str, item_id: int) -> str:
        """Tooltip HTML for a marker ("t" technician, "o" work order), from data already in memory."""
        return self.describer(kind, int(item_id)) if self.describer is not None else ""

    describer = None  # set by the page: (kind, id) -> html


# --------------------------------------------------------------------------------------
# Two-line cells: a bold first line (DisplayRole) and a muted second line (DetailRole)
# --------------------------------------------------------------------------------------

DetailRole = Qt.ItemDataRole.UserRole + 2
CAND_COL_RANK, CAND_COL_NAME, CAND_COL_DISTANCE, CAND_COL_ASSIGN = range(4)


class TwoLineDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        first, second = opt.text, index.data(DetailRole) or ""
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(6, 4, -6, -4)
        painter.save()
        bold = QFont(opt.font)
        bold.setWeight(QFont.Weight.DemiBold)
        fg = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setFont(bold)
        painter.setPen(fg.color() if hasattr(fg, "color") else (fg if isinstance(fg, QColor) else QColor("#1d2733")))
        line_h = QFontMetrics(bold).height()
        top = rect.adjusted(0, 0, 0, -(rect.height() - line_h))
        painter.drawText(top, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         QFontMetrics(bold).elidedText(first, Qt.TextElideMode.ElideRight, rect.width()))
        small = QFont(opt.font)
        small.setPointSizeF(max(7.0, opt.font.pointSizeF() - 1)) if opt.font.pointSizeF() > 0 else None
        painter.setFont(small)
        painter.setPen(QColor("#5b6b7d"))
        bottom = rect.adjusted(0, line_h + 1, 0, 0)
        painter.drawText(bottom, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                         QFontMetrics(small).elidedText(second, Qt.TextElideMode.ElideRight, rect.width()))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        fm = QFontMetrics(option.font)
        return QSize(160, fm.height() * 2 + 12)


# --------------------------------------------------------------------------------------
# Unassigned work orders (side list)
# --------------------------------------------------------------------------------------


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

    def set_rows(self, rows: list[MapWorkOrder], *, presorted: bool = False) -> None:
        self.beginResetModel()
        self._rows = list(rows) if presorted else sort_unassigned(rows)
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
                return f"{w.number} · {w.work_type.capitalize()}"
            if col == self.COL_PRIORITY:
                return w.priority.capitalize()
            if col == self.COL_WAITING:
                return format_waiting(w.created_at, self._now)
        elif role == DetailRole and col == self.COL_ORDER:
            who = w.customer_name or "No customer"
            what = f"{who} — {w.subject}" if w.subject else who
            return what if w.lat is not None else f"{what} (no location)"
        elif role == Qt.ItemDataRole.ForegroundRole and col == self.COL_PRIORITY:
            return QColor(PRIORITY_COLORS.get(w.priority, "#1d2733"))
        elif role == Qt.ItemDataRole.FontRole and col == self.COL_PRIORITY:
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        elif role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{w.number} · {w.priority} · {w.work_type}"]
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


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------


class _Page(QWebEnginePage):
    def javaScriptConsoleMessage(self, level, message, line, source):  # noqa: N802
        log.debug("map page: %s (%s:%s)", message, source, line)


class MapPage(QWidget):
    """The Map view. ``refresh()`` re-reads everything; live changes update markers in place."""

    data_loaded = Signal(object)  # MapData
    map_drawn = Signal(str)  # "data" | "changes"
    candidates_shown = Signal(object)  # CandidateList
    assigned = Signal(object)  # (work_order_id, technician_id)
    error_shown = Signal(str)
    page_ready = Signal()

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._closed = False
        self.ctx = ctx
        self.setStyleSheet(PAGE_STYLESHEET)
        self._tmp = tempfile.TemporaryDirectory(prefix="desk-map-")
        self._page_loaded = False
        self._bridge_ready = False
        self._data: MapData | None = None
        self._pending_arrays: mapdata.MapArrays | None = None  # read, not yet sent (page not ready)
        self._queued_changes: list[str] = []  # changes read while those arrays wait: sent after them
        self._details_started = False  # the rows of the load in flight were asked for
        self._needs_resend = False
        self._technicians: dict[int, MapTechnician] = {}
        self._orders: dict[int, MapWorkOrder] = {}
        self._order_by_ticket: dict[int, int] = {}
        self._pushed_once = False
        self._fetching = False
        self._want_full = False
        self._pending_techs: set[int] = set()
        self._pending_orders: set[int] = set()
        self._selected_id: int | None = None
        self._candidates = None
        self._confirm_technician: int | None = None
        self._confirm_force = False
        self._last_change_started: float | None = None
        self.last_change_latency_ms: float | None = None
        # perf_counter() marks of the last full load (requested, data_ready, sent, drawn) for the bench.
        self.timings: dict[str, float] = {}

        # --- map: the web view is created when the page is first shown (QtWebEngine's
        # process start is not paid at application start-up by dispatchers who never open it)
        self.view: QWebEngineView | None = None
        self.web_page: QWebEnginePage | None = None
        self._started = False
        self.map_holder = QWidget()
        self._map_layout = QVBoxLayout(self.map_holder)
        self._map_layout.setContentsMargins(0, 0, 0, 0)
        self.bridge = MapBridge(self)
        self.bridge.describer = self._describe
        self.bridge.page_ready.connect(self._on_bridge_page_ready)
        self.bridge.technician_clicked.connect(self._on_map_technician_clicked)
        self.bridge.work_order_clicked.connect(self._on_map_work_order_clicked)
        self.bridge.map_drawn.connect(self._on_map_drawn)

        # --- side panel ---
        side = QFrame(objectName="MapSide")
        side.setMinimumWidth(460)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(12, 12, 12, 12)
        side_layout.setSpacing(8)
        head = QHBoxLayout()
        self.title_label = QLabel("Unassigned work orders", objectName="SideTitle")
        self.count_label = QLabel("", objectName="Muted")
        head.addWidget(self.title_label)
        head.addStretch(1)
        head.addWidget(self.count_label)
        side_layout.addLayout(head)

        self.unassigned_model = UnassignedModel(self)
        self.unassigned_view = QTableView()
        self.unassigned_view.setModel(self.unassigned_model)
        self.unassigned_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.unassigned_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.unassigned_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.unassigned_view.setAlternatingRowColors(True)
        self.unassigned_view.verticalHeader().hide()
        self.unassigned_view.verticalHeader().setDefaultSectionSize(44)
        self.unassigned_view.setItemDelegateForColumn(UnassignedModel.COL_ORDER, TwoLineDelegate(self.unassigned_view))
        self.unassigned_view.setWordWrap(False)
        self.unassigned_view.setShowGrid(False)
        hh = self.unassigned_view.horizontalHeader()
        hh.setSectionResizeMode(UnassignedModel.COL_ORDER, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(UnassignedModel.COL_PRIORITY, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(UnassignedModel.COL_WAITING, QHeaderView.ResizeMode.ResizeToContents)
        side_layout.addWidget(self.unassigned_view, 2)

        card = QFrame(objectName="Card")
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(12, 10, 12, 12)
        card_layout.setSpacing(6)
        self.order_heading = QLabel("Select a work order", objectName="OrderHeading")
        self.order_heading.setWordWrap(True)
        self.order_detail = QLabel("Pick one in the list above or on the map to see who can take it.",
                                   objectName="Muted")
        self.order_detail.setWordWrap(True)
        card_layout.addWidget(self.order_heading)
        card_layout.addWidget(self.order_detail)
        strat = QHBoxLayout()
        strat.addWidget(QLabel("Rank by"))
        self.strategy_combo = QComboBox()
        for logic, label in STRATEGY_LABELS.items():
            self.strategy_combo.addItem(label, logic.value)
        strat.addWidget(self.strategy_combo, 1)
        card_layout.addLayout(strat)

        self.candidates_table = QTableWidget(0, 4, objectName="Candidates")
        self.candidates_table.setHorizontalHeaderLabels(["#", "Technician", "Distance", ""])
        self.candidates_table.verticalHeader().hide()
        self.candidates_table.verticalHeader().setDefaultSectionSize(46)
        self.candidates_table.setItemDelegateForColumn(CAND_COL_NAME, TwoLineDelegate(self.candidates_table))
        self.candidates_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.candidates_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.candidates_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.candidates_table.setShowGrid(False)
        self.candidates_table.setWordWrap(False)
        ch = self.candidates_table.horizontalHeader()
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents)):
            ch.setSectionResizeMode(col, mode)
        card_layout.addWidget(self.candidates_table, 1)
        self.explanation_label = QLabel("", objectName="Explanation")
        self.explanation_label.setWordWrap(True)
        self.explanation_label.hide()
        card_layout.addWidget(self.explanation_label)
        side_layout.addWidget(card, 3)

        self.confirm_bar = QFrame(objectName="ConfirmBar")
        cb = QHBoxLayout(self.confirm_bar)
        cb.setContentsMargins(10, 8, 10, 8)
        self.confirm_label = QLabel("")
        self.confirm_label.setWordWrap(True)
        self.confirm_button = QPushButton("Assign")
        self.confirm_button.setProperty("primary", True)
        self.cancel_button = QPushButton("Cancel")
        cb.addWidget(self.confirm_label, 1)
        cb.addWidget(self.cancel_button)
        cb.addWidget(self.confirm_button)
        self.confirm_bar.hide()
        side_layout.addWidget(self.confirm_bar)

        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        side_layout.addWidget(self.message_label)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.map_holder)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([960, 480])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        # --- connections ---
        self.unassigned_view.selectionModel().selectionChanged.connect(self._on_list_selection_changed)
        self.strategy_combo.currentIndexChanged.connect(self._on_strategy_changed)
        self.confirm_button.clicked.connect(self._on_confirm_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        ctx.live.changed.connect(self._on_live_changed)
        ctx.live.refresh_all.connect(self.refresh)
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(0)  # coalesce signals of one event-loop turn
        self._change_timer.timeout.connect(self._fetch_next)
        self._want_full = True  # the first show loads everything

    # ---------------------------------------------------------------- page lifecycle
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._started:
            self._start()

    def _start(self) -> None:
        self._started = True
        self.view = QWebEngineView(self.map_holder)
        self.web_page = _Page(self.view)
        self.view.setPage(self.web_page)
        s = self.web_page.settings()
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessFileUrls, True)
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)  # tiles
        self.channel = QWebChannel(self.web_page)
        self.channel.registerObject("bridge", self.bridge)
        self.web_page.setWebChannel(self.channel)
        self.view.loadStarted.connect(self._on_view_load_started)
        self.view.loadFinished.connect(self._on_view_load_finished)
        self._map_layout.addWidget(self.view)
        self._build_page()
        self.refresh()

    @property
    def ready(self) -> bool:
        return self._page_loaded and self._bridge_ready

    def _build_page(self) -> None:
        out = Path(self._tmp.name)
        self._submit(
            _build_map_page,
            out,
            tile_url=self.ctx.settings.tile_url,
            tile_attribution=self.ctx.settings.tile_attribution,
            on_done=self._on_page_built,
            on_error=lambda exc: self._show_error(f"The map page could not be prepared: {exc}"),
        )

    def _on_page_built(self, built) -> None:
        self.view.load(QUrl.fromLocalFile(str(built.html_path)))

    def _on_view_load_started(self) -> None:
        # A new page (the first, or again, e.g. after the browser process restarted): it is
        # ready once it has loaded AND announced itself over the bridge (in either order);
        # after an earlier load it then gets all the data again.
        self._page_loaded = False
        self._bridge_ready = False
        self._needs_resend = self._pushed_once

    def _on_view_load_finished(self, ok: bool) -> None:
        if not ok:
            self._show_error("The map page did not load.")
            return
        self._page_loaded = True
        self._maybe_ready()

    def _on_bridge_page_ready(self) -> None:
        self._bridge_ready = True
        self._maybe_ready()

    def _maybe_ready(self) -> None:
        if not self.ready:
            return
        self.page_ready.emit()
        if self._needs_resend:
            # A new page after an earlier load: read everything again (live changes since
            # the last full load only reached the old page).
            self._needs_resend = False
            self._pending_arrays = None
            self._load_details()  # a load in flight whose setData died with the old page: finish it
            self.refresh()
        elif self._pending_arrays is not None:
            self._send_arrays()
        elif self._selected_id is not None and self._candidates is not None:
            self._show_selection_on_map(focus=False)

    def run_js(self, script: str, callback=None) -> None:
        if self.web_page is None or not self._alive():
            return
        if callback is None:
            self.web_page.runJavaScript(script, 0)
        else:
            self.web_page.runJavaScript(script, 0, self._if_alive(callback))

    # ---------------------------------------------------------------- lifetime
    def _alive(self) -> bool:
        return not self._closed and shiboken6.isValid(self)

    def _if_alive(self, callback):
        """Late answers (background work, page callbacks) are dropped once the page is gone."""
        if callback is None:
            return None

        def call(value):
            if self._alive():
                callback(value)

        return call

    def _submit(self, fn, *args, on_done=None, on_error=None, **kwargs) -> None:
        self.ctx.runner.submit(fn, *args, on_done=self._if_alive(on_done), on_error=self._if_alive(on_error),
                               **kwargs)

    def shutdown(self) -> None:
        """The window is closing: nothing more is sent to or drawn on the page."""
        self._closed = True

    # ---------------------------------------------------------------- data
    def refresh(self) -> None:
        """Re-read everything (first show, after a reconnect, or on demand)."""
        self._want_full = True
        if self._started:
            self._change_timer.start()

    def _fetch_next(self) -> None:
        if self._fetching:
            return
        if self._want_full:
            self._want_full = False
            self._pending_techs.clear()
            self._pending_orders.clear()
            self._fetching = True
            self._pending_arrays = None
            self._queued_changes = []
            self._details_started = False
            self.timings = {"requested": time.perf_counter()}
            self._submit(
                mapdata.load_map_arrays,
                uow=self.ctx.uow_factory(),
                actor=self.ctx.actor,
                on_done=self._on_arrays_read,
                on_error=self._on_fetch_failed,
            )
            return
        if self._pending_techs or self._pending_orders:
            techs, orders = set(self._pending_techs), set(self._pending_orders)
            self._pending_techs.clear()
            self._pending_orders.clear()
            # The technicians who had these orders: their load and next job change too.
            for wo_id in orders:
                previous = self._orders.get(wo_id)
                if previous is not None and previous.technician_id is not None:
                    techs.add(previous.technician_id)
            self._fetching = True
            self._submit(
                fetch_changes,
                self.ctx.uow_factory,
                self.ctx.actor,
                technician_ids=techs,
                work_order_ids=orders,
                on_done=self._on_changes_loaded,
                on_error=self._on_fetch_failed,
            )

    def _fetch_done(self) -> None:
        self._fetching = False
        if self._want_full or self._pending_techs or self._pending_orders:
            self._change_timer.start()

    def _on_fetch_failed(self, exc: BaseException) -> None:
        self._fetch_done()
        self._show_error(f"The map could not be updated: {exc}")

    def _on_arrays_read(self, arrays: mapdata.MapArrays) -> None:
        self.timings["arrays_ready"] = time.perf_counter()
        self._pending_arrays = arrays
        if self.ready:
            self._send_arrays()
        else:
            self._load_details()  # the page is still loading: no reason to wait for it

    def _load_details(self, *_result) -> None:
        """Read the rows of the load in flight (once): after the browser built the markers."""
        if self._details_started or not self._fetching:
            return
        self._details_started = True
        self._submit(
            fetch_details,
            self.ctx.uow_factory,
            self.ctx.actor,
            on_done=self._on_full_loaded,
            on_error=self._on_fetch_failed,
        )

    def _send_arrays(self) -> None:
        """Draw the arrays of the load in flight: their text goes into the script as it is."""
        arrays, self._pending_arrays = self._pending_arrays, None
        if arrays is None:
            return
        fit = "true" if not self._pushed_once else "false"
        self._pushed_once = True
        self.timings["sent"] = time.perf_counter()
        # The callback comes when setData has returned (markers built), even if it failed.
        self.run_js("".join(("DeskMap.setData({t:[", arrays.technicians, "],o:[", arrays.work_orders,
                             "],r:[", arrays.routes, "],fit:", fit, "})")), self._load_details)
        queued, self._queued_changes = self._queued_changes, []
        for script in queued:
            self.run_js(script)
        if self._selected_id is not None and self._candidates is not None:
            self._show_selection_on_map(focus=False)

    def _on_full_loaded(self, result: tuple[MapData, dict]) -> None:
        data, extra = result
        self.timings["details_ready"] = time.perf_counter()
        self._data = data
        self._technicians = extra["technicians"]
        self._orders = extra["orders"]
        self._order_by_ticket = extra["by_ticket"]
        self._update_unassigned_list(extra["unassigned"])
        if self._selected_id is not None:
            current = self._orders.get(self._selected_id)
            if current is None or current.technician_id is not None:
                self._clear_selection()  # assigned or closed elsewhere meanwhile
        self.data_loaded.emit(data)
        self._fetch_done()

    def _on_changes_loaded(self, result: tuple[MapData, str]) -> None:
        data, script = result
        orders_changed = bool(data.requested_work_order_ids)
        for tech_id in data.requested_technician_ids:
            self._technicians.pop(tech_id, None)
        for t in data.technicians:
            self._technicians[t.id] = t
        for wo_id in data.requested_work_order_ids:
            self._orders.pop(wo_id, None)
        for w in data.work_orders:
            self._orders[w.id] = w
            if w.ticket_id is not None:
                self._order_by_ticket[w.ticket_id] = w.id
        if orders_changed:
            self._update_unassigned_list()
            if self._selected_id is not None:
                current = self._orders.get(self._selected_id)
                if current is None or current.technician_id is not None:
                    self._clear_selection()
        if self.ready and self._pushed_once:
            self.run_js(script)
        elif self._pending_arrays is not None:
            self._queued_changes.append(script)
        self._fetch_done()

    def _on_live_changed(self, entity: str, entity_id, action: str) -> None:
        if not self._started:
            return  # the first show reads everything anyway
        if entity == "ticket" and entity_id is not None:
            # A ticket's location or subject moves/renames its work order's marker.
            wo_id = self._order_by_ticket.get(int(entity_id))
            if wo_id is None:
                return
            entity, entity_id = "work_order", wo_id
        if entity_id is None:
            if entity in ("work_order", "technician"):
                self.refresh()
            return
        if entity == "work_order":
            self._pending_orders.add(int(entity_id))
        elif entity == "technician":
            self._pending_techs.add(int(entity_id))
        else:
            return
        self._last_change_started = time.perf_counter()
        self._change_timer.start()

    def _on_map_drawn(self, what: str, millis: float) -> None:
        if what == "data":
            self.timings["drawn"] = time.perf_counter()
            self.timings["js_build_ms"] = millis
        if what == "changes" and self._last_change_started is not None:
            self.last_change_latency_ms = (time.perf_counter() - self._last_change_started) * 1000
            self._last_change_started = None
        self.map_drawn.emit(what)

    def _describe(self, kind: str, item_id: int) -> str:
        if kind == "t":
            tech = self._technicians.get(item_id)
            return payload.technician_tooltip(tech) if tech is not None else ""
        order = self._orders.get(item_id)
        return payload.order_tooltip(order) if order is not None else ""

    # ---------------------------------------------------------------- side list
    def _update_unassigned_list(self, presorted: list[MapWorkOrder] | None = None) -> None:
        rows = presorted if presorted is not None else [w for w in self._orders.values() if w.technician_id is None]
        keep = self._selected_id
        sm = self.unassigned_view.selectionModel()
        sm.blockSignals(True)
        self.unassigned_model.set_rows(rows, presorted=presorted is not None)
        if keep is not None:
            row = self.unassigned_model.row_of(keep)
            if row >= 0:
                sm.select(self.unassigned_model.index(row, 0),
                          QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        sm.blockSignals(False)
        on_map = sum(1 for w in rows if w.lat is not None)
        total = len(rows)
        self.count_label.setText(f"{total} waiting" + (f" · {total - on_map} without location" if on_map < total else ""))

    def _on_list_selection_changed(self, *_args) -> None:
        rows = self.unassigned_view.selectionModel().selectedRows()
        if not rows:
            return
        order = self.unassigned_model.order_at(rows[0].row())
        if order is not None and order.id != self._selected_id:
            self.select_work_order(order.id)

    def _on_strategy_changed(self, _index: int) -> None:
        if self._selected_id is not None:
            self._load_candidates(focus=False)

    # ---------------------------------------------------------------- selection + candidates
    @property
    def selected_work_order_id(self) -> int | None:
        return self._selected_id

    @property
    def strategy(self) -> str:
        return self.strategy_combo.currentData()

    def set_strategy(self, strategy: str) -> None:
        index = self.strategy_combo.findData(str(strategy))
        if index >= 0:
            self.strategy_combo.setCurrentIndex(index)

    def select_work_order(self, work_order_id: int) -> None:
        order = self._orders.get(work_order_id)
        if order is None:
            self._show_error("That work order is no longer open.")
            return
        self._selected_id = work_order_id
        self._hide_confirm()
        row = self.unassigned_model.row_of(work_order_id)
        if row >= 0:
            sm = self.unassigned_view.selectionModel()
            sm.blockSignals(True)
            sm.select(self.unassigned_model.index(row, 0),
                      QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            sm.blockSignals(False)
            self.unassigned_view.scrollTo(self.unassigned_model.index(row, 0))
        self.order_heading.setText(f"{order.number} · {order.priority.capitalize()} · {order.work_type.capitalize()}")
        detail = [x for x in (order.customer_name, order.subject, order.address) if x]
        if order.required_skills:
            detail.append("Needs: " + ", ".join(s.replace("_", " ") for s in order.required_skills))
        if order.lat is None:
            detail.append("No location on file: distances cannot be computed.")
        self.order_detail.setText("\n".join(detail) or "No details.")
        if order.assignment_logic:
            self.strategy_combo.blockSignals(True)
            self.set_strategy(order.assignment_logic)
            self.strategy_combo.blockSignals(False)
        self.candidates_table.setRowCount(0)
        self.explanation_label.setText("Ranking technicians…")
        self.explanation_label.show()
        if self.ready and order.lat is not None:
            # Centre at once; the candidates follow when they arrive.
            self.run_js(payload.js_call("showSelection", {"order": order.id, "lat": order.lat, "lon": order.lon,
                                                          "candidates": [], "focus": True}))
        self._load_candidates(focus=True)

    def _load_candidates(self, *, focus: bool) -> None:
        from desk_desktop.services import assignment

        work_order_id = self._selected_id
        strategy = self.strategy
        self._submit(
            assignment.list_candidates,
            uow=self.ctx.uow_factory(),
            actor=self.ctx.actor,
            work_order_id=work_order_id,
            strategy=strategy,
            limit=10,
            radius_km=self.ctx.settings.assign_radius_km,
            on_done=lambda result: self._on_candidates_loaded(result, work_order_id, strategy, focus),
            on_error=lambda exc: self._show_error(f"Could not rank technicians: {exc}"),
        )

    def _on_candidates_loaded(self, result, work_order_id: int, strategy: str, focus: bool) -> None:
        if work_order_id != self._selected_id or strategy != self.strategy:
            return  # a newer request is on its way
        self._candidates = result
        table = self.candidates_table
        table.setRowCount(0)
        table.setRowCount(len(result.candidates))
        for row, c in enumerate(result.candidates):
            rank = QTableWidgetItem(str(c.rank) if c.rank else "—")
            rank.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            name = QTableWidgetItem(c.name)
            tech = self._technicians.get(c.technician_id)
            detail = [_skills_text(dict(c.matched_skills)) if c.matched_skills else "no matching skills",
                      f"{c.open_jobs}/{c.max_open} jobs"]
            if tech is not None and tech.state != mapdata.STATE_AVAILABLE:
                detail.append(tech.state.replace("_", " "))  # busy / off shift: worth a look
            if not c.eligible:
                detail = [f"not eligible: {c.reason}" if c.reason else "not eligible"]
            name.setData(DetailRole, " · ".join(detail))
            tip = [c.name, " · ".join(detail), c.reason or ""]
            if tech is not None:
                tip.append("At their current location" if tech.position_source == "current" else "At their home base")
            name.setToolTip("\n".join(x for x in tip if x))
            dist = QTableWidgetItem(format_distance(c.distance_m))
            dist.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items = (rank, name, dist)
            for col, item in enumerate(items):
                item.setData(Qt.ItemDataRole.UserRole, c.technician_id)
                if not c.eligible:
                    item.setForeground(QColor("#8d949c"))
                    item.setToolTip(c.reason or "Not eligible")
                table.setItem(row, col, item)
            button = QPushButton("Assign", objectName="AssignButton")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            if row == 0 and c.eligible:
                button.setProperty("primary", True)
            button.setEnabled(bool(c.eligible))
            button.setToolTip(f"Assign to {c.name}" if c.eligible else (c.reason or "Not eligible"))
            button.clicked.connect(lambda _=False, tid=c.technician_id: self.assign_to(tid))
            holder = QWidget()
            hl = QHBoxLayout(holder)
            hl.setContentsMargins(6, 6, 6, 6)
            hl.addWidget(button)
            table.setCellWidget(row, CAND_COL_ASSIGN, holder)
        explanation = result.explanation or ""
        if not result.candidates:
            explanation = explanation or "No technician can take this job right now."
        self.explanation_label.setText(explanation)
        self.explanation_label.setVisible(bool(explanation))
        self._show_selection_on_map(focus=focus)
        self.candidates_shown.emit(result)

    def _show_selection_on_map(self, *, focus: bool) -> None:
        order = self._orders.get(self._selected_id) if self._selected_id is not None else None
        if order is None or order.lat is None or not self.ready:
            return
        cands = []
        for c in (self._candidates.candidates if self._candidates is not None else ()):
            if not c.eligible or not c.rank:
                continue  # the map numbers the technicians who can take it
            lat, lon = c.lat, c.lon
            tech = self._technicians.get(c.technician_id)
            if tech is not None and tech.lat is not None:
                lat, lon = tech.lat, tech.lon  # where the map draws them
            summary = f"{format_distance(c.distance_m)} · {c.open_jobs}/{c.max_open} jobs"
            cands.append({"id": c.technician_id, "rank": c.rank, "lat": lat, "lon": lon, "name": c.name,
                          "eligible": bool(c.eligible), "summary": summary})
        self.run_js(payload.js_call("showSelection", {"order": order.id, "lat": order.lat, "lon": order.lon,
                                                      "candidates": cands, "focus": focus}))

    def _clear_selection(self) -> None:
        self._selected_id = None
        self._candidates = None
        self._hide_confirm()
        self.unassigned_view.selectionModel().clearSelection()
        self.candidates_table.setRowCount(0)
        self.order_heading.setText("Select a work order")
        self.order_detail.setText("Pick one in the list above or on the map to see who can take it.")
        self.explanation_label.hide()
        if self.ready:
            self.run_js("DeskMap.clearSelection()")

    # ---------------------------------------------------------------- map clicks
    def _on_map_work_order_clicked(self, work_order_id: int) -> None:
        order = self._orders.get(work_order_id)
        if order is None:
            return
        if order.technician_id is None:
            self.select_work_order(work_order_id)
        else:
            who = order.technician_name or "a technician"
            self._show_info(f"{order.number} is {order.status.replace('_', ' ')} — {who}.")

    def _on_map_technician_clicked(self, technician_id: int) -> None:
        if self._selected_id is None:
            tech = self._technicians.get(technician_id)
            name = tech.name if tech else "This technician"
            self._show_info(f"{name}: select an unassigned work order first, then click a technician to assign it.")
            return
        self.ask_to_assign(technician_id)

    def ask_to_assign(self, technician_id: int) -> None:
        order = self._orders.get(self._selected_id) if self._selected_id is not None else None
        if order is None:
            return
        name, extra, eligible = self._technician_label(technician_id)
        self._confirm_technician = technician_id
        self._confirm_force = not eligible
        self.confirm_label.setText(f"Assign <b>{order.number}</b> to <b>{html.escape(name)}</b>?{extra}")
        self.confirm_button.setText("Assign" if eligible else "Assign anyway")
        self.confirm_bar.show()
        self.confirm_button.setFocus()

    def _technician_label(self, technician_id: int) -> tuple[str, str, bool]:
        """Name, a detail line for the confirmation, and whether the strategy finds them eligible."""
        cand = None
        if self._candidates is not None:
            cand = next((c for c in self._candidates.candidates if c.technician_id == technician_id), None)
        tech = self._technicians.get(technician_id)
        name = cand.name if cand else (tech.name if tech else f"technician #{technician_id}")
        if cand is not None:
            rank = f"Rank {cand.rank}" if cand.rank else "Not ranked"
            extra = f"<br>{rank} · {format_distance(cand.distance_m)} · {cand.open_jobs}/{cand.max_open} open jobs"
            if not cand.eligible:
                extra += f"<br><span style='color:#b42318'>Not eligible: {html.escape(cand.reason or 'see the rules')}</span>"
            return name, extra, bool(cand.eligible)
        if tech is not None:
            extra = (f"<br>Not among the ranked candidates · {tech.open_jobs}/{tech.max_open} open jobs"
                     "<br><span style='color:#b42318'>The assignment rules may refuse this technician.</span>")
            return name, extra, False
        return name, "", False

    def _hide_confirm(self) -> None:
        self._confirm_technician = None
        self._confirm_force = False
        self.confirm_bar.hide()

    def _on_confirm_clicked(self) -> None:
        if self._confirm_technician is not None:
            self.assign_to(self._confirm_technician, force=self._confirm_force)

    def _on_cancel_clicked(self) -> None:
        self._hide_confirm()

    # ---------------------------------------------------------------- assigning
    def assign_to(self, technician_id: int, *, force: bool = False) -> None:
        """Assign the selected order (through the assignment service: audited, notifications queued).

        ``force`` assigns a technician the strategy finds ineligible (the dispatcher confirmed it)."""
        from desk_desktop.services import assignment

        work_order_id = self._selected_id
        if work_order_id is None:
            return
        self._hide_confirm()
        strategy = self.strategy
        self._submit(
            assignment.assign_work_order,
            uow=self.ctx.uow_factory(),
            actor=self.ctx.actor,
            work_order_id=work_order_id,
            technician_id=technician_id,
            strategy=strategy,
            force=force,
            radius_km=self.ctx.settings.assign_radius_km,
            on_done=lambda result: self._on_assigned(work_order_id, technician_id),
            on_error=lambda exc: self._show_error(f"Not assigned: {exc}"),
        )

    def _on_assigned(self, work_order_id: int, technician_id: int) -> None:
        order = self._orders.get(work_order_id)
        tech = self._technicians.get(technician_id)
        number = order.number if order else f"WO-{work_order_id:06d}"
        name = tech.name if tech else "the technician"
        self._clear_selection()
        self._show_success(f"{number} assigned to {name}.")
        if self.ctx.scheduler is not None:
            try:
                self.ctx.scheduler.kick("notify")
            except Exception:  # noqa: BLE001 - the notify job also runs on its timer
                log.exception("could not kick the notify job")
        # Update the map now (the live signal may follow; a second fetch is harmless).
        self._pending_orders.add(work_order_id)
        self._pending_techs.add(technician_id)
        self._change_timer.start()
        self.assigned.emit((work_order_id, technician_id))

    # ---------------------------------------------------------------- messages
    def _show_message(self, text: str, name: str) -> None:
        self.message_label.setObjectName(name)
        style = self.message_label.style()
        style.unpolish(self.message_label)  # the stylesheet selects on the object name
        style.polish(self.message_label)
        self.message_label.setText(text)
        self.message_label.show()

    def _show_error(self, text: str) -> None:
        log.warning("map: %s", text)
        self._show_message(text, "ErrorBanner")
        self.error_shown.emit(text)

    def _show_success(self, text: str) -> None:
        self._show_message(text, "SuccessBanner")

    def _show_info(self, text: str) -> None:
        self._show_message(text, "Explanation")

    # ---------------------------------------------------------------- shutdown
    def closeEvent(self, event) -> None:  # noqa: N802
        self._cleanup()
        super().closeEvent(event)

    def _cleanup(self) -> None:
        try:
            self._tmp.cleanup()
        except OSError:
            pass


def _build_map_page(*args, **kwargs):
    """folium is imported here, on the worker, when the map is first shown — not at start-up."""
    from desk_desktop.ui.map.builder import build_map_page

    return build_map_page(*args, **kwargs)
