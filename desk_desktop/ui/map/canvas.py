"""The map canvas: the Leaflet page in QtWebEngine, its load protocol, and keeping its markers current.

The web view is created when the canvas is first shown (QtWebEngine's process start is not
paid at application start-up by dispatchers who never open the map). A full load reads the
page's data arrays first — the database formats them (``mapdata.load_map_arrays``) and the
text goes to ``DeskMap.setData`` as it is, in one ``runJavaScript`` call — then, once the
browser has built the markers, the rows the side list, tooltips and candidate details need
(``mapdata.load_map_data``; read after the build so the two do not fight over the CPU).
Later changes go as small upserts (``DeskMap.applyChanges``): the page is never reloaded
for data. One read runs at a time, so an older snapshot never overwrites a newer one.
Clicks and tooltip requests come back over ``QWebChannel`` (``bridge.MapBridge``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import shiboken6
from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desk_desktop.services import mapdata
from desk_desktop.services.mapdata import MapData, MapTechnician, MapWorkOrder
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.map import payload
from desk_desktop.ui.map.bridge import MapBridge, WebPage
from desk_desktop.ui.map.profile import OFFLINE_URL, map_profile
from desk_desktop.ui.map.unassigned import sort_unassigned


# Work done on the worker pool: the query AND the JavaScript text (20,000 rows of JSON are
# not encoded on the GUI thread).
def fetch_details(uow_factory, actor) -> tuple[MapData, list[MapWorkOrder]]:
    """The rows behind the markers (side list, tooltips, candidate details) and the unassigned, sorted."""
    data = mapdata.load_map_data(uow=uow_factory(), actor=actor)
    return data, sort_unassigned([w for w in data.work_orders if w.technician_id is None])


def fetch_changes(uow_factory, actor, *, technician_ids, work_order_ids) -> tuple[MapData, str]:
    data = mapdata.load_map_changes(uow=uow_factory(), actor=actor, technician_ids=technician_ids,
                                    work_order_ids=work_order_ids)
    return data, payload.js_call("applyChanges", payload.changes_payload(data))


def build_page(*args, **kwargs):
    """folium is imported here, on the worker, when the map is first shown — not at start-up."""
    from desk_desktop.ui.map.builder import build_map_page

    return build_map_page(*args, **kwargs)


class MapCanvas(QWidget):
    """``technicians``/``orders`` hold the rows of the last load with every change merged in."""

    page_ready = Signal()
    data_loaded = Signal(object)  # MapData of a full load
    unassigned_changed = Signal(object)  # the unassigned orders, sorted, after a load or a change
    map_drawn = Signal(str)  # "data" | "changes"
    technician_clicked = Signal(int)
    work_order_clicked = Signal(int)
    failed = Signal(str)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.technicians: dict[int, MapTechnician] = {}
        self.orders: dict[int, MapWorkOrder] = {}
        self._order_by_ticket: dict[int, int] = {}
        # perf_counter() marks of the last full load (requested, arrays_ready, sent, drawn, details_ready).
        self.timings: dict[str, float] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="desk-map-")
        self.view: QWebEngineView | None = None
        self.web_page: QWebEnginePage | None = None
        self._closing = False
        # The page: ready once it has loaded AND announced itself over the bridge (either order).
        self._page_loaded = False
        self._bridge_ready = False
        self._drawn_once = False  # some page got data: a new page must get everything again
        self._needs_resend = False
        self._selection: dict | None = None  # what showSelection last drew, drawn again on a new page
        # The reads: one at a time; what is wanted next waits here.
        self._reading = False
        self._want_full = True  # the first show loads everything
        self._want_techs: set[int] = set()
        self._want_orders: set[int] = set()
        self._arrays: mapdata.MapArrays | None = None  # read, not yet sent (page not ready)
        self._queued_changes: list[str] = []  # changes read while those arrays wait: sent after them
        self._details_asked = False

        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.catalogs = None  # services.catalogs.Catalogs for tooltips (MapPage sets it)
        self.bridge = MapBridge(self._describe, self)
        self.bridge.page_ready.connect(self._on_bridge_page_ready)
        self.bridge.technician_clicked.connect(self.technician_clicked)
        self.bridge.work_order_clicked.connect(self.work_order_clicked)
        self.bridge.map_drawn.connect(self._on_map_drawn)
        self._read_timer = QTimer(self)
        self._read_timer.setSingleShot(True)
        self._read_timer.setInterval(0)  # coalesce signals of one event-loop turn
        self._read_timer.timeout.connect(self._read_next)
        ctx.live.changed.connect(self._on_live_changed)
        ctx.live.refresh_all.connect(self.refresh)

    @property
    def html_path(self) -> Path:
        return Path(self._tmp.name) / "map.html"

    @property
    def ready(self) -> bool:
        return self._page_loaded and self._bridge_ready

    # ---------------------------------------------------------------- the page
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.view is None:
            self._start()

    def _start(self) -> None:
        self.view = QWebEngineView(self)
        self.web_page = WebPage(map_profile(self.ctx.settings), self.view)
        self.view.setPage(self.web_page)
        s = self.web_page.settings()
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessFileUrls, True)
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)  # tiles
        self.channel = QWebChannel(self.web_page)
        self.channel.registerObject("bridge", self.bridge)
        self.web_page.setWebChannel(self.channel)
        self.view.loadStarted.connect(self._on_view_load_started)
        self.view.loadFinished.connect(self._on_view_load_finished)
        self._layout.addWidget(self.view)
        self.ctx.runner.submit(build_page, Path(self._tmp.name), tile_url=self.ctx.settings.tile_url,
                               tile_attribution=self.ctx.settings.tile_attribution,
                               offline_map_url=OFFLINE_URL if self.ctx.settings.offline_map else None, owner=self,
                               on_done=lambda built: self.view.load(QUrl.fromLocalFile(str(built.html_path))),
                               on_error=lambda exc: self.failed.emit(f"The map page could not be prepared: {exc}"))
        self.refresh()

    def _on_view_load_started(self) -> None:
        # A new page (the first, or again, e.g. after the browser process restarted).
        self._page_loaded = False
        self._bridge_ready = False
        self._needs_resend = self._drawn_once

    def _on_view_load_finished(self, ok: bool) -> None:
        if not ok:
            self.failed.emit("The map page did not load.")
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
            self._arrays = None
            self._load_details()  # a load in flight whose setData died with the old page: finish it
            self.refresh()
        elif self._arrays is not None:
            self._send_arrays()
        else:
            self._draw_selection()

    def run_js(self, script: str, callback=None) -> None:
        """Run ``script`` in the page; ``callback`` gets its value unless the canvas is gone by then."""
        if self.web_page is None or self._closing:
            return
        if callback is None:
            self.web_page.runJavaScript(script, 0)
        else:
            self.web_page.runJavaScript(script, 0, lambda value: shiboken6.isValid(self) and callback(value))

    def show_selection(self, order: MapWorkOrder, candidates: list[dict], *, focus: bool) -> None:
        """Centre ``order`` (``focus``) and number its candidates; drawn again on a new page."""
        self._selection = {"order": order.id, "lat": order.lat, "lon": order.lon, "candidates": candidates}
        if self.ready:
            self.run_js(payload.js_call("showSelection", {**self._selection, "focus": focus}))

    def clear_selection(self) -> None:
        self._selection = None
        if self.ready:
            self.run_js("DeskMap.clearSelection()")

    def _draw_selection(self) -> None:
        if self._selection is not None:
            self.run_js(payload.js_call("showSelection", {**self._selection, "focus": False}))

    def shutdown(self) -> None:
        """The window is closing: nothing more is read, sent to or drawn on the page."""
        self._closing = True
        self.ctx.runner.drop(self)

    def remove_files(self) -> None:
        """Delete the page's files (the map page is closing)."""
        try:
            self._tmp.cleanup()
        except OSError:
            pass

    # ---------------------------------------------------------------- reading
    def refresh(self) -> None:
        """Re-read everything (first show, after a reconnect, or on demand)."""
        self._want_full = True
        if self.view is not None:
            self._read_timer.start()

    def read_again(self, *, technician_ids=(), work_order_ids=()) -> None:
        """These rows changed (e.g. an assignment made here): read them and update the markers."""
        self._want_techs.update(technician_ids)
        self._want_orders.update(work_order_ids)
        self._read_timer.start()

    def _read_next(self) -> None:
        if self._reading or self._closing:
            return
        if self._want_full:
            self._want_full = False
            self._want_techs.clear()
            self._want_orders.clear()
            self._reading = True
            self._arrays = None
            self._queued_changes = []
            self._details_asked = False
            self.timings = {"requested": time.perf_counter()}
            self.ctx.runner.submit(mapdata.load_map_arrays, uow=self.ctx.uow_factory(), actor=self.ctx.actor,
                                   owner=self, on_done=self._on_arrays_read, on_error=self._on_read_failed)
        elif self._want_techs or self._want_orders:
            techs, orders = set(self._want_techs), set(self._want_orders)
            self._want_techs.clear()
            self._want_orders.clear()
            # The technicians who had these orders: their load and next job change too.
            for wo_id in orders:
                previous = self.orders.get(wo_id)
                if previous is not None and previous.technician_id is not None:
                    techs.add(previous.technician_id)
            self._reading = True
            self.ctx.runner.submit(fetch_changes, self.ctx.uow_factory, self.ctx.actor, technician_ids=techs,
                                   work_order_ids=orders, owner=self, on_done=self._on_changes_read,
                                   on_error=self._on_read_failed)

    def _read_done(self) -> None:
        self._reading = False
        if self._want_full or self._want_techs or self._want_orders:
            self._read_timer.start()

    def _on_read_failed(self, exc: BaseException) -> None:
        self._read_done()
        self.failed.emit(f"The map could not be updated: {exc}")

    def _on_arrays_read(self, arrays: mapdata.MapArrays) -> None:
        self.timings["arrays_ready"] = time.perf_counter()
        self._arrays = arrays
        if self.ready:
            self._send_arrays()
        else:
            self._load_details()  # the page is still loading: no reason to wait for it

    def _load_details(self, *_result) -> None:
        """Read the rows of the load in flight (once): after the browser built the markers."""
        if self._details_asked or not self._reading:
            return
        self._details_asked = True
        self.ctx.runner.submit(fetch_details, self.ctx.uow_factory, self.ctx.actor, owner=self,
                               on_done=self._on_details_read, on_error=self._on_read_failed)

    def _send_arrays(self) -> None:
        """Draw the arrays of the load in flight: their text goes into the script as it is."""
        arrays, self._arrays = self._arrays, None
        if arrays is None:
            return
        fit = "false" if self._drawn_once else "true"
        self._drawn_once = True
        self.timings["sent"] = time.perf_counter()
        # The callback comes when setData has returned (markers built), even if it failed.
        self.run_js("".join(("DeskMap.setData({t:[", arrays.technicians, "],o:[", arrays.work_orders,
                             "],r:[", arrays.routes, "],fit:", fit, "})")), self._load_details)
        queued, self._queued_changes = self._queued_changes, []
        for script in queued:
            self.run_js(script)
        self._draw_selection()

    def _on_details_read(self, result: tuple[MapData, list[MapWorkOrder]]) -> None:
        data, unassigned = result
        self.timings["details_ready"] = time.perf_counter()
        self.technicians = {t.id: t for t in data.technicians}
        self.orders = {w.id: w for w in data.work_orders}
        self._order_by_ticket = {w.ticket_id: w.id for w in data.work_orders if w.ticket_id is not None}
        self.unassigned_changed.emit(unassigned)
        self.data_loaded.emit(data)
        self._read_done()

    def _on_changes_read(self, result: tuple[MapData, str]) -> None:
        data, script = result
        for tech_id in data.requested_technician_ids:
            self.technicians.pop(tech_id, None)
        for t in data.technicians:
            self.technicians[t.id] = t
        for wo_id in data.requested_work_order_ids:
            self.orders.pop(wo_id, None)
        for w in data.work_orders:
            self.orders[w.id] = w
            if w.ticket_id is not None:
                self._order_by_ticket[w.ticket_id] = w.id
        if data.requested_work_order_ids:
            self.unassigned_changed.emit(sort_unassigned([w for w in self.orders.values() if w.technician_id is None]))
        if self.ready and self._drawn_once:
            self.run_js(script)
        elif self._arrays is not None:
            self._queued_changes.append(script)
        self._read_done()

    def _on_live_changed(self, entity: str, entity_id, action: str) -> None:
        if self.view is None:
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
        elif entity == "work_order":
            self.read_again(work_order_ids=(int(entity_id),))
        elif entity == "technician":
            self.read_again(technician_ids=(int(entity_id),))

    def _on_map_drawn(self, what: str, millis: float) -> None:
        if what == "data":
            self.timings["drawn"] = time.perf_counter()
            self.timings["js_build_ms"] = millis
        self.map_drawn.emit(what)

    def _describe(self, kind: str, item_id: int) -> str:
        if kind == "t":
            tech = self.technicians.get(item_id)
            return payload.technician_tooltip(tech, self.catalogs) if tech is not None else ""
        order = self.orders.get(item_id)
        return payload.order_tooltip(order, self.catalogs) if order is not None else ""
