"""The schedule page: every technician's day (or week) on one screen — the date and zoom
controls and filters, the orders waiting for a slot, the board itself, and the selected
visit's facts with its actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.absences import period_text
from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.ui.board.canvas import BoardCanvas, visit_tooltip
from desk_desktop.ui.board.optimize import DayPlanner, OptimizeBar
from desk_desktop.ui.board.waiting import WaitingList

LIVE_DELAY_MS = 300  # one full read for a burst of changes to technicians or tickets
RELOAD_ENTITIES = ("technician", "ticket")  # a changed work order reads only its technicians' rows
WEEK_HOURS = (6, 22)  # the week view leaves the night out


def explain_visit(uow_factory, actor, work_order_id: int) -> str:
    from desk_desktop.services.board import explanation_of

    return explanation_of(uow=uow_factory(), actor=actor, work_order_id=work_order_id)


def unassign_visit(uow_factory, actor, work_order_id: int):
    from desk_desktop.services.assignment import unassign_work_order

    return unassign_work_order(uow=uow_factory(), actor=actor, work_order_id=work_order_id,
                               reason="unassigned on the schedule board")


def plan_drop(uow_factory, actor, work_order_id: int, technician_id: int, start, *, same_technician: bool,
              force: bool):
    """One drop on the board through the assignment service, in one transaction: a new time
    for the same technician, or the technician and the time together."""
    from desk_desktop.services.assignment import assign_work_order, reschedule_work_order

    if same_technician:
        return reschedule_work_order(uow=uow_factory(), actor=actor, work_order_id=work_order_id, start=start)
    return assign_work_order(uow=uow_factory(), actor=actor, work_order_id=work_order_id,
                             technician_id=technician_id, start=start, force=force)


@dataclass(frozen=True)
class Undo:
    """How to put back the last change made on the board (Ctrl+Z), until another one is made."""

    work_order_id: int
    number: str
    technician_id: int | None  # None: it had no technician (it goes back to waiting)
    start: datetime | None
    same_technician: bool


def pin_visit(uow_factory, actor, work_order_id: int, pinned: bool) -> bool:
    from desk_desktop.services.dayplan.keep import set_pinned

    return set_pinned(uow=uow_factory(), actor=actor, work_order_id=work_order_id, pinned=pinned)


def fetch_changes(uow_factory, actor, board, work_order_ids):
    from desk_desktop.services.board import load_changes

    return load_changes(uow=uow_factory(), actor=actor, board=board, work_order_ids=work_order_ids)


def fetch_board(uow_factory, actor, first_day: date, days: int, speed_kmh: float, skill: str | None, name: str,
                near: tuple[float, float] | None, radius_km: float, with_catalogs: bool):
    """The board, and the catalogs when the page has none yet (the skill filter's names)."""
    from desk_desktop.services.board import load_board
    from desk_desktop.services.catalogs import load_catalogs

    board = load_board(uow=uow_factory(), actor=actor, first_day=first_day, days=days, speed_kmh=speed_kmh,
                       skill=skill, name=name, near=near, radius_km=radius_km)
    return board, load_catalogs(uow=uow_factory(), actor=actor) if with_catalogs else None


class SchedulePage(QWidget):
    """``ticket_requested(ticket_id)``: the main window shows the ticket (its work orders)."""

    ticket_requested = Signal(int)
    changes_applied = Signal()  # a live change is on the board

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.catalogs = None
        self.board = None
        self._loaded_once = False
        self.undo: Undo | None = None
        self._select_when_loaded: int | None = None  # a work order to select once its day is shown
        self.window_dialog = None  # the booked-window dialog last opened
        self._load_failed = False

        heading = QLabel("Schedule")
        heading.setObjectName("pageTitle")
        hint = QLabel("Every technician's visits on one time line. Drag a visit to plan it, or use the keyboard: "
                      "arrows select, Shift+arrows move it (15 min, or to the technician above or below), Enter "
                      "opens, Del unassigns, + and − zoom, Ctrl+Z undoes. Optimize day plans everyone's day at "
                      "once and shows the difference before anything changes.")
        hint.setObjectName("pageHint")
        hint.setWordWrap(True)

        self.previous_button = QPushButton("◀")
        self.previous_button.setToolTip("Previous day (week)")
        self.today_button = QPushButton("Today")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next day (week)")
        self.date_edit = QDateEdit(QDate.currentDate())
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.day_button = QPushButton("Day")
        self.week_button = QPushButton("Week")
        self._span = QButtonGroup(self)
        for b in (self.day_button, self.week_button):
            b.setCheckable(True)
            self._span.addButton(b)
        self.day_button.setChecked(True)
        self.zoom_out_button = QPushButton("−")
        self.zoom_out_button.setToolTip("Zoom out (−)")
        self.zoom_in_button = QPushButton("+")
        self.zoom_in_button.setToolTip("Zoom in (+)")
        self.skill_combo = QComboBox()
        self.skill_combo.addItem("All skills", None)
        self.skill_combo.setMinimumWidth(130)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Filter technicians by name…")
        self.name_edit.setClearButtonEnabled(True)
        self.name_edit.setMinimumWidth(130)
        self.area_combo = QComboBox()
        self.area_combo.setToolTip("Only technicians whose home base is near the selected visit's site")
        self.area_combo.addItem("Any area", None)
        for km in (10, 25, 50):
            self.area_combo.addItem(f"Within {km} km", float(km))
        self.near: tuple[float, float, str] | None = None  # lat, lon and the visit it was taken from
        self.print_button = QPushButton("Day sheet…")
        self.print_button.setToolTip("Print or save as PDF the day's visits, in order, with addresses and contacts")
        menu = QMenu(self.print_button)
        self.print_selected_action = menu.addAction("Print the selected technician's day…",
                                                    lambda: self.print_day(everyone=False))
        menu.addAction("Print every technician's day…", lambda: self.print_day(everyone=True))
        menu.addSeparator()
        self.pdf_selected_action = menu.addAction("Save the selected technician's day as PDF…",
                                                  lambda: self.save_day_pdf(everyone=False))
        menu.addAction("Save every technician's day as PDF…", lambda: self.save_day_pdf(everyone=True))
        self.print_button.setMenu(menu)
        self.optimize_button = QPushButton("Optimize day…")
        self.optimize_button.setToolTip("Plan the whole day at once — who does which order when, in a sensible "
                                        "order — and see the difference before applying it (only the technicians "
                                        "shown when the board is filtered)")
        self.planner = DayPlanner(ctx, self)
        self.optimize_bar = OptimizeBar(self.planner)

        bar = QHBoxLayout()
        for w in (self.previous_button, self.today_button, self.next_button, self.date_edit):
            bar.addWidget(w)
        bar.addSpacing(12)
        bar.addWidget(self.day_button)
        bar.addWidget(self.week_button)
        bar.addSpacing(12)
        bar.addWidget(self.zoom_out_button)
        bar.addWidget(self.zoom_in_button)
        bar.addSpacing(12)
        bar.addWidget(self.print_button)
        bar.addWidget(self.optimize_button)
        bar.addStretch(1)
        bar.addWidget(self.area_combo)
        bar.addWidget(self.skill_combo)
        bar.addWidget(self.name_edit)

        self.waiting_title = QLabel("Waiting for a slot")
        self.waiting_title.setObjectName("sectionTitle")
        self.waiting_list = WaitingList()
        waiting = QWidget()
        wl = QVBoxLayout(waiting)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addWidget(self.waiting_title)
        wl.addWidget(self.waiting_list, 1)

        self.canvas = BoardCanvas()
        self.detail = QLabel("Select a visit to see its facts.")
        self.detail.setObjectName("Muted")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open ticket")
        self.why_button = QPushButton("Why this technician?")
        self.unassign_button = QPushButton("Unassign…")
        self.window_button = QPushButton("Window…")
        self.window_button.setToolTip("The customer's booked window: when the visit may start")
        self.pin_button = QPushButton("Pin")
        self.pin_button.setToolTip("A pinned visit stays with its technician at its time when the day is optimized")
        for b in (self.open_button, self.why_button, self.window_button, self.pin_button, self.unassign_button):
            b.setEnabled(False)
        detail = QFrame(objectName="BoardDetail")
        dl = QHBoxLayout(detail)
        dl.setContentsMargins(10, 6, 10, 6)
        dl.addWidget(self.detail, 1)
        for b in (self.open_button, self.why_button, self.window_button, self.pin_button, self.unassign_button):
            dl.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.canvas, 1)
        rl.addWidget(detail)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(waiting)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 1100])

        self.status = QLabel("")
        self.status.setObjectName("Muted")
        self.note = QLabel("")  # what the last change on the board did
        self.note.setObjectName("Muted")
        self.error_label = QLabel("")
        self.error_label.setObjectName("FieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 10)
        layout.addWidget(heading)
        layout.addWidget(hint)
        layout.addLayout(bar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.optimize_bar)
        layout.addWidget(self.splitter, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.status, 1)
        footer.addWidget(self.note)
        layout.addLayout(footer)

        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DELAY_MS)
        self._live_timer.timeout.connect(lambda: self.refresh(keep_view=True))
        self._changed_orders: set[int] = set()  # work orders changed elsewhere, read at the next turn
        self._orders_timer = QTimer(self)
        self._orders_timer.setSingleShot(True)
        self._orders_timer.setInterval(0)
        self._orders_timer.timeout.connect(self._read_changed_orders)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(250)
        self._filter_timer.timeout.connect(lambda: self.refresh(keep_view=True))

        self.previous_button.clicked.connect(lambda: self._move(-1))
        self.next_button.clicked.connect(lambda: self._move(1))
        self.today_button.clicked.connect(lambda: self.date_edit.setDate(QDate.currentDate()))
        self.date_edit.dateChanged.connect(lambda _d: self.refresh(keep_view=False))
        self._span.buttonToggled.connect(self._on_span_toggled)
        self.zoom_in_button.clicked.connect(lambda: self.canvas.set_zoom(self.canvas.zoom + 1))
        self.zoom_out_button.clicked.connect(lambda: self.canvas.set_zoom(self.canvas.zoom - 1))
        self.skill_combo.currentIndexChanged.connect(lambda _i: self.refresh(keep_view=True))
        self.area_combo.currentIndexChanged.connect(self._on_area_changed)
        self.name_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.canvas.selection_changed.connect(self._on_selection)
        self.canvas.visit_opened.connect(lambda v: self.ticket_requested.emit(v.ticket_id))
        self.canvas.unassign_requested.connect(self.unassign)
        self.canvas.drop_requested.connect(self.drop)
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo_last)
        self.open_button.clicked.connect(lambda: self._with_selected(lambda v: self.ticket_requested.emit(v.ticket_id)))
        self.why_button.clicked.connect(lambda: self._with_selected(self.explain))
        self.unassign_button.clicked.connect(lambda: self._with_selected(self.unassign))
        self.pin_button.clicked.connect(lambda: self._with_selected(self.toggle_pin))
        self.window_button.clicked.connect(lambda: self._with_selected(self.edit_window))
        self.waiting_list.window_requested.connect(self.edit_window)
        self.optimize_button.clicked.connect(self.optimize)
        self.planner.started.connect(lambda *_: self.optimize_button.setEnabled(False))
        self.planner.ready.connect(self._present_plan)
        self.planner.failed.connect(lambda _m: self._planning_over())
        self.planner.cleared.connect(self._present_plan)
        self.planner.applied.connect(lambda message: self._changed(message, None))
        self.planner.undone.connect(lambda message: self._changed(message, None))
        self.waiting_list.ticket_requested.connect(self.ticket_requested)
        ctx.live.changed.connect(self._on_live_changed)
        ctx.live.refresh_all.connect(lambda: self.refresh(keep_view=True))

    # ---------------------------------------------------------------- loading
    @property
    def days(self) -> int:
        return 7 if self.week_button.isChecked() else 1

    @property
    def first_day(self) -> date:
        return self.date_edit.date().toPython()

    def showEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().showEvent(event)
        if not self._loaded_once:
            self._loaded_once = True
            self.refresh(keep_view=False)

    def refresh(self, *, keep_view: bool = True) -> None:
        self.status.setText("Loading…")
        self.ctx.runner.submit(
            fetch_board, self.ctx.uow_factory, self.ctx.actor, self.first_day, self.days,
            self.ctx.settings.travel_speed_kmh, self.skill_combo.currentData(), self.name_edit.text(),
            self.near[:2] if self.near else None, self.area_combo.currentData() or 25.0, self.catalogs is None,
            owner=self, key="board", on_done=lambda result: self._show(result, keep_view), on_error=self._failed)

    def _show(self, result, keep_view: bool) -> None:
        board, catalogs = result
        self.board = board
        if catalogs is not None and self.catalogs is None:
            self._fill_skills(catalogs)
        if self._load_failed:
            self._load_failed = False
            self.error_label.hide()
        self._draw(keep_view=keep_view)
        if self._select_when_loaded is not None:
            wanted, self._select_when_loaded = self._select_when_loaded, None
            visit = next((v for v in board.visits if v.work_order_id == wanted), None)
            if visit is not None:
                self.canvas.select(visit)
                self.canvas.setFocus()

    def _draw(self, *, keep_view: bool) -> None:
        """The board as it is — or, while a proposed plan of this day is on show, as the plan
        would leave it (its visits outlined, nothing to drag)."""
        from desk_desktop.services.dayplan.proposal import board_preview

        proposal = self.planner.proposal
        showing = (proposal is not None and bool(proposal.changes) and self.board is not None and self.days == 1
                   and self.board.first_day == proposal.day.day)
        board = board_preview(self.board, proposal) if showing else self.board
        self.canvas.proposed = frozenset(c.order.id for c in proposal.changes) if showing else frozenset()
        self.canvas.read_only = showing
        self.canvas.set_board(board, keep_view=keep_view)
        self._fill_waiting(board)
        visits = len(board.visits)
        last = board.first_day + timedelta(days=board.days - 1)
        span = f"{board.first_day:%a} {board.first_day.day} {board.first_day:%b}" if board.days == 1 else \
            f"{board.first_day.day} {board.first_day:%b} – {last.day} {last:%b}"
        area = f" within {self.area_combo.currentData():g} km of {self.near[2]}" if self.near else ""
        self.status.setText(("Proposed plan — " if showing else "")
                            + f"{span}: {visits} visit{'s' if visits != 1 else ''} for "
                            f"{len(board.technicians)} technicians{area} · {len(board.waiting)} waiting · times in "
                            f"{board.timezone} · travel at {board.speed_kmh:g} km/h, straight line")

    # ---------------------------------------------------------------- optimize day
    def optimize(self) -> None:
        """Optimize the day on show (the first day of a week): the technicians shown when the
        board is filtered, else every active technician."""
        filtered = bool(self.skill_combo.currentData() or self.name_edit.text().strip() or self.near)
        ids = [t.id for t in self.board.technicians] if filtered and self.board is not None else None
        if self.days != 1:
            self.day_button.setChecked(True)  # the proposal is shown on the day's board
        self.error_label.hide()
        self.planner.optimize(self.first_day, ids)

    def optimize_today(self) -> None:
        self.date_edit.setDate(QDate.currentDate())
        self.optimize()

    def _present_plan(self, *_args) -> None:
        self._planning_over()
        proposal = self.planner.proposal
        if proposal is not None and (self.days != 1 or self.first_day != proposal.day.day):
            day = proposal.day.day
            self.day_button.setChecked(True)
            self.date_edit.setDate(QDate(day.year, day.month, day.day))  # read again, then drawn with the plan
            return
        if self.board is not None:
            self._draw(keep_view=True)

    def _planning_over(self) -> None:
        self.optimize_button.setEnabled(not self.planner.running)

    def edit_window(self, order) -> None:
        """The customer's booked window of a visit or a waiting order."""
        from desk_desktop.ui.booked_window import BookedWindowDialog

        if self.board is None:
            return
        dialog = BookedWindowDialog(self.ctx, work_order_id=order.work_order_id, number=order.number,
                                    window=order.window, tz_name=self.board.timezone, day=self.first_day, parent=self)
        self.window_dialog = dialog  # tests drive it
        dialog.accepted.connect(lambda: self._changed(
            f"{order.number}: " + (f"booked window {period_text(*dialog.saved, self.board.timezone)}."
                                   if dialog.saved else "no booked window."), None))
        dialog.open()

    def toggle_pin(self, visit) -> None:
        pinned = not visit.pinned
        self.ctx.runner.submit(
            pin_visit, self.ctx.uow_factory, self.ctx.actor, visit.work_order_id, pinned, owner=self, key="pin",
            on_done=lambda _p: self._changed(f"{visit.number} " + ("pinned: optimizing leaves it where it is."
                                                                   if pinned else "no longer pinned."), None),
            on_error=self._change_failed)

    def _failed(self, exc: BaseException) -> None:
        self._load_failed = True
        self.status.setText("")
        self.error_label.setText(f"The schedule could not be loaded: {exc}")
        self.error_label.show()

    def _fill_skills(self, catalogs) -> None:
        self.catalogs = catalogs
        self.skill_combo.blockSignals(True)
        for entry in catalogs.choices(SKILLS):
            self.skill_combo.addItem(entry.name, entry.key)
        self.skill_combo.blockSignals(False)

    def _fill_waiting(self, board) -> None:
        self.waiting_title.setText(f"Waiting for a slot ({len(board.waiting)})")
        self.waiting_list.set_orders(board.waiting, {t.id: t.name for t in board.technicians}, board.timezone)

    def _on_live_changed(self, entity: str, entity_id, _action: str) -> None:
        if not self._loaded_once:
            return
        if entity == "work_order" and entity_id is not None:
            self._changed_orders.add(int(entity_id))
            self._orders_timer.start()
        elif entity in RELOAD_ENTITIES or entity == "work_order":
            self._live_timer.start()

    def _read_changed_orders(self) -> None:
        """Read again only the rows of the technicians the changed orders had or have now. A
        newer read replaces one still running and takes its orders along, until one lands."""
        if self.board is None or not self._changed_orders:
            return
        ids = sorted(self._changed_orders)
        self.ctx.runner.submit(fetch_changes, self.ctx.uow_factory, self.ctx.actor, self.board, ids, owner=self,
                               key="changes", on_done=lambda ch: self._apply_changes(ids, ch), on_error=self._failed)

    def _apply_changes(self, ids, changes) -> None:
        self._changed_orders.difference_update(ids)
        self.board = self.board.with_changes(changes)
        self._draw(keep_view=True)
        self.changes_applied.emit()

    def _on_area_changed(self, _index: int) -> None:
        if self.area_combo.currentData() is None:
            self.near = None
        elif self.near is None:  # the point is where the selected visit is, taken now
            v = self.canvas.selected
            if v is None or v.lat is None:
                self.area_combo.blockSignals(True)
                self.area_combo.setCurrentIndex(0)
                self.area_combo.blockSignals(False)
                self._refuse("Select a visit with a known site first: the area is around its site.")
                return
            self.near = (v.lat, v.lon, v.number)
        self.area_combo.setToolTip(f"Around the site of {self.near[2]}" if self.near else
                                   "Only technicians whose home base is near the selected visit's site")
        self.refresh(keep_view=True)

    def _move(self, step: int) -> None:
        self.date_edit.setDate(self.date_edit.date().addDays(step * self.days))

    def _on_span_toggled(self, button, checked: bool) -> None:
        if not checked:
            return
        week = button is self.week_button
        self.canvas.zoom = 1 if week else 4
        self.canvas.set_hours(*(WEEK_HOURS if week else (0, 24)))
        self.refresh(keep_view=False)

    def show_work_order(self, work_order_id: int, start: datetime | None) -> None:
        """Show the day of a visit (today for an order with no time) with the visit selected."""
        tz = self.board.start.tzinfo if self.board is not None else None
        day = (start.astimezone(tz) if start is not None else datetime.now(tz)).date()
        self._select_when_loaded = work_order_id
        self._loaded_once = True
        if day == self.first_day and self.days == 1:
            self.refresh(keep_view=True)
        else:
            self.day_button.setChecked(True)
            self.date_edit.setDate(QDate(day.year, day.month, day.day))  # reads the day again

    # ---------------------------------------------------------------- the selected visit
    def _with_selected(self, act) -> None:
        if self.canvas.selected is not None:
            act(self.canvas.selected)

    def _on_selection(self, visit) -> None:
        for b in (self.open_button, self.why_button, self.unassign_button):
            b.setEnabled(visit is not None)
        editable = visit is not None and visit.status != "completed" and not self.canvas.read_only
        self.unassign_button.setEnabled(editable)
        self.pin_button.setEnabled(editable)
        self.window_button.setEnabled(editable)
        self.pin_button.setText("Unpin" if visit is not None and visit.pinned else "Pin")
        if visit is None:
            self.detail.setText("Select a visit to see its facts.")
            return
        names = {t.id: t.name for t in self.board.technicians}
        self.detail.setText(f"{names.get(visit.technician_id, '')}: " + visit_tooltip(visit, self.board)
                            .replace("\n", " · "))

    def explain(self, visit) -> None:
        self.ctx.runner.submit(
            explain_visit, self.ctx.uow_factory, self.ctx.actor, visit.work_order_id, owner=self, key="explain",
            on_done=lambda text: QMessageBox.information(self, f"Why {visit.number} went to this technician", text),
            on_error=self._change_failed)

    def unassign(self, visit) -> None:
        if visit.status == "completed":
            return
        answer = QMessageBox.question(
            self, "Unassign the visit?",
            f"Take {visit.number} ({visit.customer}) away from its technician? It goes back to the orders "
            "waiting for a slot, and the technician is told.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.ctx.runner.submit(
            unassign_visit, self.ctx.uow_factory, self.ctx.actor, visit.work_order_id, owner=self, key="unassign",
            on_done=lambda _view: self._changed(f"{visit.number} unassigned.", None), on_error=self._change_failed)

    # ---------------------------------------------------------------- planning by drag and drop
    def drop(self, drop) -> None:
        """A drop the dispatcher released: refused with the reason (hard), asked (soft), or done."""
        tz = self.board.start.tzinfo
        where = f"{drop.technician} at {drop.start.astimezone(tz):%a %H:%M}"
        if drop.check.hard:
            self._refuse(f"{drop.order.number} not moved to {where}: " + "; ".join(drop.check.hard) + ".")
            return
        if drop.check.soft:
            answer = QMessageBox.question(
                self, "Plan it anyway?",
                f"{drop.order.number} to {where}: " + "; ".join(drop.check.soft) + ".\n\nPlan it anyway?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        before = Undo(drop.work_order_id, drop.order.number, drop.order.technician_id,
                      getattr(drop.order, "start", None), drop.same_technician)
        self.note.setText(f"Moving {drop.order.number}…")
        self.ctx.runner.submit(
            plan_drop, self.ctx.uow_factory, self.ctx.actor, drop.work_order_id, drop.technician_id, drop.start,
            same_technician=drop.same_technician, force=bool(drop.check.soft), owner=self, key="plan",
            on_done=lambda _view: self._changed(f"{drop.order.number} planned for {where}. Ctrl+Z puts it back.",
                                                before),
            on_error=self._change_failed)

    def undo_last(self) -> None:
        u, self.undo = self.undo, None
        if u is None:
            return
        self.note.setText(f"Putting {u.number} back…")
        if u.technician_id is None:
            self.ctx.runner.submit(unassign_visit, self.ctx.uow_factory, self.ctx.actor, u.work_order_id,
                                   owner=self, key="plan", on_error=self._change_failed,
                                   on_done=lambda _v: self._changed(f"{u.number} is waiting for a slot again.", None))
        elif u.start is None:  # it was assigned without a time: the service has no step that takes a time away
            self._refuse(f"{u.number} had no time before; reschedule it or unassign it to undo.")
        else:
            self.ctx.runner.submit(
                plan_drop, self.ctx.uow_factory, self.ctx.actor, u.work_order_id, u.technician_id, u.start,
                same_technician=u.same_technician, force=True, owner=self, key="plan", on_error=self._change_failed,
                on_done=lambda _v: self._changed(f"{u.number} is back where it was.", None))

    def _changed(self, message: str, undo: Undo | None) -> None:
        self.undo = undo
        self.error_label.hide()
        self.refresh(keep_view=True)
        self.note.setText(message)

    def _change_failed(self, exc: BaseException) -> None:
        """The service refused (a clash booked a moment ago elsewhere, a closed order…): say
        why, and show the board as it now is."""
        self.note.setText("")
        self._refuse(str(exc))
        self.refresh(keep_view=True)

    def _refuse(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    # ---------------------------------------------------------------- the day on paper
    def _sheet_technicians(self, everyone: bool) -> list[int] | None:
        if self.board is None:
            return None
        if everyone:
            return [t.id for t in self.board.technicians]
        if self.canvas.selected is None:
            QMessageBox.information(self, "Day sheet", "Select one of the technician's visits first.")
            return None
        return [self.canvas.selected.technician_id]

    def print_day(self, *, everyone: bool) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        from desk_desktop.ui.board.daysheet import print_day_sheet

        ids = self._sheet_technicians(everyone)
        if ids is None:
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        if QPrintDialog(printer, self).exec():
            print_day_sheet(self.board, ids, printer, self.first_day)

    def save_day_pdf(self, *, everyone: bool) -> None:
        from pathlib import Path

        from PySide6.QtWidgets import QFileDialog

        from desk_desktop.ui.board.daysheet import save_day_sheet_pdf

        ids = self._sheet_technicians(everyone)
        if ids is None:
            return
        suggested = f"day-sheet-{self.first_day:%Y-%m-%d}.pdf"
        path, _ = QFileDialog.getSaveFileName(self, "Save the day sheet", suggested, "PDF (*.pdf)")
        if path:
            save_day_sheet_pdf(self.board, ids, Path(path), self.first_day)
            self.status.setText(f"Day sheet saved to {path}")
