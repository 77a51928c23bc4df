"""The dispatch map page: where technicians and open jobs are, and assigning from the map.

Left: the map canvas (``canvas.MapCanvas``: a Leaflet page in QtWebEngine kept current by
live changes). Right: the unassigned work orders (``unassigned.UnassignedList``) over the
candidates panel (``candidates.CandidatesPanel``). Selecting an order, in the list or on the
map, centres it and ranks who can take it for the chosen strategy; "Assign" (or a click on
a technician marker, then a confirmation) assigns it through the assignment service. A
click on an assigned order offers its lifecycle steps (start, on site, hold, complete,
cancel; the same dialogs as the ticket detail). This page holds the selection and runs
those service calls; the parts do the rest.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.domain.lifecycle import LABELS, NEEDS_REASON, Action, allowed_actions, status_words
from desk_desktop.ui.catalogs import read_catalogs
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.map.candidates import CandidatesPanel
from desk_desktop.ui.map.canvas import MapCanvas
from desk_desktop.ui.map.cells import format_distance
from desk_desktop.ui.map.payload import js_call
from desk_desktop.ui.map.unassigned import UnassignedList
from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.lifecycle_dialog import StepDialog
from desk_desktop.ui.tickets.work_order_card import work_order_step

log = logging.getLogger(__name__)


def list_candidates(uow_factory, actor, **kwargs):
    from desk_desktop.services import assignment

    return assignment.list_candidates(uow=uow_factory(), actor=actor, **kwargs)


def assign_work_order(uow_factory, actor, **kwargs):
    from desk_desktop.services import assignment

    return assignment.assign_work_order(uow=uow_factory(), actor=actor, **kwargs)


class MapPage(QWidget):
    """The Map view. ``refresh()`` re-reads everything; live changes update markers in place."""

    data_loaded = Signal(object)  # MapData
    map_drawn = Signal(str)  # "data" | "changes"
    candidates_shown = Signal(object)  # CandidateList
    assigned = Signal(object)  # (work_order_id, technician_id)
    error_shown = Signal(str)
    page_ready = Signal()
    optimize_requested = Signal()  # "Optimize today…": the schedule page plans the day

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._selected_id: int | None = None

        self.canvas = MapCanvas(ctx)
        self.unassigned = UnassignedList()
        self.candidates = CandidatesPanel()
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        # The clicked assigned order's lifecycle steps.
        self.steps_bar = QWidget(objectName="MapOrderSteps")
        self.steps_box = QHBoxLayout(self.steps_bar)
        self.steps_box.setContentsMargins(0, 0, 0, 0)
        self.steps_box.setSpacing(6)
        self.steps_bar.hide()
        self.step_buttons: dict[str, QPushButton] = {}
        self.step_dialog: StepDialog | None = None

        side = QFrame(objectName="MapSide")
        side.setMinimumWidth(460)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(12, 12, 12, 12)
        side_layout.setSpacing(8)
        self.optimize_button = QPushButton("Optimize today…")
        self.optimize_button.setToolTip("Plan every technician's day at once; the proposed routes are drawn here "
                                        "and on the schedule board before anything changes")
        self.optimize_button.clicked.connect(self.optimize_requested)
        self.plan_label = QLabel("")
        self.plan_label.setObjectName("Muted")
        self.plan_label.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.plan_label, 1)
        top.addWidget(self.optimize_button, 0, Qt.AlignmentFlag.AlignTop)
        side_layout.addLayout(top)
        side_layout.addWidget(self.unassigned.heading)
        side_layout.addWidget(self.unassigned, 2)
        side_layout.addWidget(self.candidates, 3)
        side_layout.addWidget(self.message_label)
        side_layout.addWidget(self.steps_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([960, 480])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self.canvas.page_ready.connect(self.page_ready)
        self.canvas.data_loaded.connect(self.data_loaded)
        self.canvas.map_drawn.connect(self.map_drawn)
        self.canvas.unassigned_changed.connect(self._on_unassigned_changed)
        self.canvas.work_order_clicked.connect(self._on_map_work_order_clicked)
        self.canvas.technician_clicked.connect(self._on_map_technician_clicked)
        self.canvas.failed.connect(self._show_error)
        self.unassigned.order_chosen.connect(self._on_list_order_chosen)
        self.candidates.strategy_changed.connect(self._on_strategy_changed)
        self.candidates.assign_requested.connect(lambda tid, force: self.assign_to(tid, force=force))
        ctx.live.changed.connect(self._on_live_changed)
        self._load_catalogs()

    # ---------------------------------------------------------------- display names
    def _load_catalogs(self) -> None:
        self.ctx.runner.submit(read_catalogs, self.ctx.uow_factory, self.ctx.actor, owner=self, key="catalogs",
                               on_done=self._on_catalogs_loaded, on_error=lambda exc: None)

    def _on_catalogs_loaded(self, catalogs) -> None:
        """Skills and work-order types by their current names in the list, the panel and tooltips."""
        self.canvas.catalogs = self.candidates.catalogs = catalogs
        self.unassigned.model.set_catalogs(catalogs)

    def _on_live_changed(self, entity: str, _entity_id, _action: str) -> None:
        if entity == "catalog":
            self._load_catalogs()

    # ---------------------------------------------------------------- what the bench and tests drive
    @property
    def ready(self) -> bool:
        return self.canvas.ready

    @property
    def view(self):
        return self.canvas.view

    @property
    def timings(self) -> dict[str, float]:
        return self.canvas.timings

    def run_js(self, script: str, callback=None) -> None:
        self.canvas.run_js(script, callback)

    def refresh(self) -> None:
        self.canvas.refresh()

    def show_plan(self, proposal) -> None:
        """Draw a proposed day plan: each technician's route as a line (cleared by ``clear_plan``)."""
        from desk_desktop.services.dayplan.proposal import day_text

        if not proposal.changes:  # nothing would change: nothing to draw
            self.clear_plan()
            return
        routes = [{"name": name, "km": km, "points": points} for name, km, points in proposal.routes()]
        self.plan_label.setText(f"The proposed plan for {day_text(proposal.day.day)} is drawn: each line is one "
                                "technician's day. Apply or discard it on the Schedule page.")
        self.run_js(js_call("showPlan", routes))

    def clear_plan(self) -> None:
        self.plan_label.setText("")
        self.run_js(js_call("clearPlan"))

    def shutdown(self) -> None:
        """The window is closing: nothing more is sent to or drawn on the page."""
        self.canvas.shutdown()
        self.ctx.runner.drop(self)

    # ---------------------------------------------------------------- selection
    @property
    def selected_work_order_id(self) -> int | None:
        return self._selected_id

    @property
    def strategy(self) -> str:
        return self.candidates.strategy

    def set_strategy(self, strategy: str) -> None:
        self.candidates.set_strategy(strategy)

    def select_work_order(self, work_order_id: int) -> None:
        order = self.canvas.orders.get(work_order_id)
        if order is None:
            self._show_error("That work order is no longer open.")
            return
        self._selected_id = work_order_id
        self.unassigned.show_selected(work_order_id)
        self.candidates.show_order(order)
        if order.lat is not None:
            self.canvas.show_selection(order, [], focus=True)  # centre at once; the candidates follow
        self._load_candidates(focus=True)

    def _clear_selection(self) -> None:
        self._selected_id = None
        self.candidates.clear()
        self.unassigned.show_selected(None)
        self.canvas.clear_selection()

    def _on_list_order_chosen(self, work_order_id: int) -> None:
        if work_order_id != self._selected_id:
            self.select_work_order(work_order_id)

    def _on_strategy_changed(self, _strategy: str) -> None:
        if self._selected_id is not None:
            self._load_candidates(focus=False)

    def _on_unassigned_changed(self, rows) -> None:
        self.unassigned.set_orders(rows, keep=self._selected_id)
        if self._selected_id is not None:
            current = self.canvas.orders.get(self._selected_id)
            if current is None or current.technician_id is not None:
                self._clear_selection()  # assigned or closed elsewhere meanwhile

    # ---------------------------------------------------------------- candidates
    def _load_candidates(self, *, focus: bool) -> None:
        self.ctx.runner.submit(
            list_candidates, self.ctx.uow_factory, self.ctx.actor,
            work_order_id=self._selected_id, strategy=self.strategy, limit=10,
            radius_km=self.ctx.settings.assign_radius_km,
            owner=self, key="candidates",  # another order or strategy chosen meanwhile: only the newest counts
            on_done=lambda result: self._on_candidates_loaded(result, focus),
            on_error=lambda exc: self._show_error(f"Could not rank technicians: {exc}"),
        )

    def _on_candidates_loaded(self, result, focus: bool) -> None:
        self.candidates.show_candidates(result, self.canvas.technicians)
        order = self.canvas.orders.get(self._selected_id) if self._selected_id is not None else None
        if order is not None and order.lat is not None:
            self.canvas.show_selection(order, self._candidate_markers(result), focus=focus)
        self.candidates_shown.emit(result)

    def _candidate_markers(self, result) -> list[dict]:
        """The technicians who can take it, numbered, where the map draws them."""
        out = []
        for c in result.candidates:
            if not c.eligible or not c.rank:
                continue
            lat, lon = c.lat, c.lon
            tech = self.canvas.technicians.get(c.technician_id)
            if tech is not None and tech.lat is not None:
                lat, lon = tech.lat, tech.lon
            summary = f"{format_distance(c.distance_m)} · {c.open_jobs}/{c.max_open} jobs"
            out.append({"id": c.technician_id, "rank": c.rank, "lat": lat, "lon": lon, "name": c.name,
                        "eligible": bool(c.eligible), "summary": summary})
        return out

    # ---------------------------------------------------------------- map clicks
    def _on_map_work_order_clicked(self, work_order_id: int) -> None:
        order = self.canvas.orders.get(work_order_id)
        if order is None:
            return
        if order.technician_id is None:
            self._show_steps(None)
            self.select_work_order(work_order_id)
        else:
            who = order.technician_name or "a technician"
            self._show_info(f"{order.number} is {order.status.replace('_', ' ')} — {who}.")
            self._show_steps(order)

    # ---------------------------------------------------------------- lifecycle steps
    def _show_steps(self, order) -> None:
        """Buttons for the steps ``order`` allows now (none: the bar hides)."""
        for b in self.step_buttons.values():
            self.steps_box.removeWidget(b)
            b.deleteLater()
        self.step_buttons = {}
        for action in allowed_actions(order.status) if order is not None else ():
            button = QPushButton(LABELS[action])
            button.clicked.connect(lambda _=False, o=order, a=action: self.work_order_action(o, a))
            self.steps_box.addWidget(button)
            self.step_buttons[action.value] = button
        self.steps_bar.setVisible(bool(self.step_buttons))

    def work_order_action(self, order, action: Action) -> None:
        if action in NEEDS_REASON or action == Action.COMPLETE:
            dlg = StepDialog(action, order.number, parent=self)
            self.step_dialog = dlg
            dlg.accepted.connect(lambda: self._run_step(order, action, dlg.values()))
            dlg.open()
        else:
            self._run_step(order, action, {})

    def _run_step(self, order, action: Action, fields: dict) -> None:
        self._show_steps(None)

        def done(result) -> None:
            text = f"{result.number}: {status_words(result.previous_status)} → {status_words(result.status)}."
            if result.ticket_resolved:
                text += f" Ticket {result.ticket_number} is resolved."
            elif result.ticket_can_be_resolved:
                text += f" Ticket {result.ticket_number} can be resolved now (in Tickets)."
            self._show_success(text)
            self.canvas.read_again(technician_ids=(order.technician_id,), work_order_ids=(order.id,))

        def failed(exc: BaseException) -> None:
            self._show_error(f"{order.number} not changed: {exc}")
            self.canvas.read_again(technician_ids=(order.technician_id,), work_order_ids=(order.id,))

        self.ctx.runner.submit(work_order_step, self.ctx.uow_factory, self.ctx.actor, order.id, action.value, fields,
                               owner=self, on_done=done, on_error=failed)

    def _on_map_technician_clicked(self, technician_id: int) -> None:
        tech = self.canvas.technicians.get(technician_id)
        if self._selected_id is None:
            name = tech.name if tech else "This technician"
            self._show_info(f"{name}: select an unassigned work order first, then click a technician to assign it.")
            return
        order = self.canvas.orders.get(self._selected_id)
        if order is not None:
            self.candidates.ask_to_assign(order, technician_id, tech)

    # ---------------------------------------------------------------- assigning
    def assign_to(self, technician_id: int, *, force: bool = False) -> None:
        """Assign the selected order (through the assignment service: audited, notifications queued).

        ``force`` assigns a technician the strategy finds ineligible (the dispatcher confirmed it)."""
        work_order_id = self._selected_id
        if work_order_id is None:
            return
        self.candidates.hide_confirm()
        self.ctx.runner.submit(
            assign_work_order, self.ctx.uow_factory, self.ctx.actor,
            work_order_id=work_order_id, technician_id=technician_id, strategy=self.strategy, force=force,
            radius_km=self.ctx.settings.assign_radius_km, speed_kmh=self.ctx.settings.travel_speed_kmh, owner=self,
            on_done=lambda _result: self._on_assigned(work_order_id, technician_id),
            on_error=lambda exc: self._show_error(f"Not assigned: {exc}"),
        )

    def _on_assigned(self, work_order_id: int, technician_id: int) -> None:
        order = self.canvas.orders.get(work_order_id)
        tech = self.canvas.technicians.get(technician_id)
        number = order.number if order else work_order_number(work_order_id)
        name = tech.name if tech else "the technician"
        self._clear_selection()
        self._show_success(f"{number} assigned to {name}.")
        if self.ctx.scheduler is not None:
            try:
                self.ctx.scheduler.kick("notify")
            except Exception:  # noqa: BLE001 - the notify job also runs on its timer
                log.exception("could not kick the notify job")
        # Update the map now (the live signal may follow; a second read is harmless).
        self.canvas.read_again(technician_ids=(technician_id,), work_order_ids=(work_order_id,))
        self.assigned.emit((work_order_id, technician_id))

    # ---------------------------------------------------------------- messages
    def _show_message(self, text: str, banner: str) -> None:
        restyle(self.message_label, banner=banner)
        self.message_label.setText(text)
        self.message_label.show()

    def _show_error(self, text: str) -> None:
        log.warning("map: %s", text)
        self._show_message(text, "error")
        self.error_shown.emit(text)

    def _show_success(self, text: str) -> None:
        self._show_message(text, "success")

    def _show_info(self, text: str) -> None:
        self._show_message(text, "info")

    def closeEvent(self, event) -> None:  # noqa: N802
        self.canvas.remove_files()
        super().closeEvent(event)
