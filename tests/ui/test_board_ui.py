"""The schedule page driven as a dispatcher would, against the demo organization in a real
database with real worker threads: the day on the board, the keyboard, a change committed
elsewhere, unassigning. Saves schedule_day.png and schedule_week.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import text

from desk_desktop.services.board import load_board
from desk_desktop.ui.board.canvas import NAME_W
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.workers import TaskRunner
from tests.conftest import demo_database, hermetic_settings
from tests.ui.test_tickets_view import _demo_namespace, isolated_settings, pool  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
WAIT = 20_000


@pytest.fixture(scope="module")
def demo(test_server):
    with demo_database(test_server, "desk_board_ui", tickets=150, planned=150) as (url, summary):
        yield from _demo_namespace(url, summary)


@pytest.fixture
def ctx(demo, pool):  # noqa: F811 - the pool fixture
    return UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=hermetic_settings(),
                     runner=TaskRunner(pool=pool))


def busiest_day(demo):
    """The local day of the demo with the most open visits (the demo books them around its 'now')."""
    with demo.uow_factory() as uow:
        return uow.session.execute(text(
            "SELECT CAST(timezone(o.timezone, w.scheduled_start) AS date) AS d FROM work_orders w "
            "JOIN organizations o ON o.id = w.organization_id WHERE w.scheduled_start IS NOT NULL "
            "AND w.status NOT IN ('unassigned', 'cancelled') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")).scalar_one()


def open_board(qtbot, ctx, day, *, size=(1252, 860)):
    from desk_desktop.ui.board.page import SchedulePage

    page = SchedulePage(ctx)
    qtbot.addWidget(page)
    page.resize(*size)
    page.date_edit.setDate(QDate(day.year, day.month, day.day))
    page.show()
    wait_loaded(qtbot, page, day)
    return page


def wait_loaded(qtbot, page, day=None):
    qtbot.waitUntil(lambda: page.board is not None and page.ctx.runner.active == 0
                    and (day is None or page.board.first_day == day), timeout=WAIT)
    QApplication.processEvents()


def test_the_board_shows_the_demo_day_and_the_keyboard_walks_it(qtbot, demo, ctx):
    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    expected = load_board(uow=demo.uow_factory(), actor=demo.actor, first_day=day)
    assert [t.id for t in page.board.technicians] == [t.id for t in expected.technicians]
    assert {v.work_order_id for v in page.board.visits} == {v.work_order_id for v in expected.visits}
    assert len(page.board.visits) >= 5
    assert page.status.text().startswith(f"{day:%a} {day.day} {day:%b}: {len(expected.visits)} visits")
    assert page.waiting_title.text() == f"Waiting for a slot ({len(expected.waiting)})"

    canvas = page.canvas
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right)  # the first visit of the first row that has one
    first = canvas.selected
    assert first is not None and first.number in page.detail.text() and page.open_button.isEnabled()
    rect = canvas.bar_rect(first)
    assert rect.left() >= NAME_W and rect.right() <= canvas.viewport().width()  # scrolled into view
    assert canvas.visit_at(rect.center().toPoint()) is first  # what is drawn there is what is selected
    qtbot.keyClick(canvas, Qt.Key.Key_Down)
    below = canvas.selected
    assert below is not None and below.technician_id != first.technician_id
    with qtbot.waitSignal(page.ticket_requested, timeout=2000) as opened:
        qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert opened.args == [below.ticket_id]
    zoom = canvas.pixels_per_hour
    qtbot.keyClick(canvas, Qt.Key.Key_Plus)
    assert canvas.pixels_per_hour > zoom
    assert canvas.bar_rect(below).width() == pytest.approx(
        (below.end - below.start).total_seconds() / 3600 * canvas.pixels_per_hour)  # drawn at the new scale


def test_a_change_committed_elsewhere_moves_the_bar_and_keeps_the_selection(qtbot, demo, ctx):
    from desk_desktop.services.assignment import reschedule_work_order

    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    canvas = page.canvas
    visit = next(v for v in page.board.visits if v.status == "scheduled")
    canvas.select(visit)
    scroll = canvas.horizontalScrollBar().value()
    before = canvas.bar_rect(visit)
    # Another workstation moves it an hour later (or earlier, if that is free).
    moved = None
    for hours in (1, -1, 2, -2, 3):
        try:
            reschedule_work_order(uow=demo.uow_factory(), actor=demo.actor, work_order_id=visit.work_order_id,
                                  start=visit.start + timedelta(hours=hours))
        except Exception:  # noqa: BLE001 - that hour is taken: try the next
            continue
        moved = hours
        break
    assert moved is not None
    ctx.live.changed.emit("work_order", visit.work_order_id, "updated")
    qtbot.waitUntil(lambda: canvas.selected is not None and canvas.selected.start != visit.start, timeout=WAIT)
    assert canvas.selected.work_order_id == visit.work_order_id  # still selected
    assert canvas.horizontalScrollBar().value() == scroll  # the view did not jump
    after = canvas.bar_rect(canvas.selected)
    assert after.left() - before.left() == pytest.approx(moved * canvas.pixels_per_hour, abs=1)


def test_unassigning_from_the_board_asks_and_sends_the_order_back_to_the_waiting_list(qtbot, demo, ctx,
                                                                                     monkeypatch):
    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    visit = next(v for v in page.board.visits if v.status == "scheduled")
    waiting = len(page.board.waiting)
    page.canvas.select(visit)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    page.canvas.setFocus()
    qtbot.keyClick(page.canvas, Qt.Key.Key_Delete)
    assert asked and visit.number in asked[0]
    assert ctx.runner.active == 0 and visit.work_order_id in {v.work_order_id for v in page.board.visits}
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: visit.work_order_id not in {v.work_order_id for v in page.board.visits}, timeout=WAIT)
    assert len(page.board.waiting) == waiting + 1
    assert page.waiting_list.item(0) is not None
    with demo.uow_factory() as uow:
        status = uow.session.execute(text("SELECT status FROM work_orders WHERE id = :w"),
                                     {"w": visit.work_order_id}).scalar_one()
    assert status == "unassigned"


def schedule_window(qtbot, demo, pool, settings, day):  # noqa: F811 - a pool, not the fixture
    """The main window at 1440×900 with the application's style sheet (on this window only:
    other tests' widgets keep theirs), on the schedule page showing ``day``."""
    from desk_desktop.bootstrap import Database
    from desk_desktop.resources import resource_path
    from desk_desktop.ui.main_window import MainWindow

    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=settings, runner=TaskRunner(pool=pool))
    db = Database(url=demo.url, engine=ctx.uow_factory.engine, uow_factory=ctx.uow_factory)
    win = MainWindow(ctx, db_description=db.describe)
    win.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8"))
    qtbot.addWidget(win)
    win.resize(1440, 900)
    win.show()
    page = win.pages["schedule"]
    page.date_edit.setDate(QDate(day.year, day.month, day.day))
    win.show_page("schedule")
    wait_loaded(qtbot, page, day)
    return win


def test_screenshots(qtbot, demo, pool, isolated_settings):  # noqa: F811

    win = schedule_window(qtbot, demo, pool, hermetic_settings(), busiest_day(demo))
    page = win.pages["schedule"]
    qtbot.waitUntil(lambda: win.conn_label.text().endswith("Connected"), timeout=WAIT)
    # Where the day is busiest in a screenful of rows (the rows are in name order).
    from desk_desktop.ui.board.canvas import ROW_H

    rows = page.board.rows()
    counts = [len(rows.get(t.id, [])) for t in page.board.technicians]
    first = max(range(len(counts)), key=lambda i: sum(counts[i:i + 12]))
    page.canvas.verticalScrollBar().setValue(first * ROW_H)
    page.canvas.select(next(v for t in page.board.technicians[first:] for v in rows.get(t.id, [])))
    page.canvas.setFocus()
    qtbot.wait(200)
    shot = win.grab()
    assert (shot.width(), shot.height()) == (1440, 900)  # the page fits the window it is shown in
    shot.save(str(SHOTS / "schedule_day.png"))
    canvas = page.canvas
    visit = next(v for v in page.board.visits if v.status == "scheduled" and v.required_skills)
    ids = [t.id for t in page.board.technicians]
    near = sorted(page.board.technicians, key=lambda t: abs(ids.index(t.id) - ids.index(visit.technician_id)))
    unskilled = next(t for t in near if not set(visit.required_skills) <= set(t.skills))
    target, _drop = free_target(canvas, visit, unskilled.id, want="hard")
    drag_bar(canvas, visit, target, release=False)
    qtbot.wait(100)
    win.grab().save(str(SHOTS / "schedule_drag_refused.png"))
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert canvas.drag is None
    _mouse(canvas, "release", target, Qt.MouseButton.NoButton)
    page.week_button.click()
    wait_loaded(qtbot, page)
    qtbot.wait(200)
    win.grab().save(str(SHOTS / "schedule_week.png"))


def test_the_day_sheet_lists_each_technicians_visits_in_order_with_addresses(qtbot, demo, ctx, tmp_path,
                                                                              monkeypatch):
    from PySide6.QtCore import QSize
    from PySide6.QtPdf import QPdfDocument
    from PySide6.QtWidgets import QFileDialog

    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    busy = [t for t in page.board.technicians
            if any(v.start.astimezone(page.board.start.tzinfo).date() == day for v in page.board.visits_of(t.id))]
    target = tmp_path / "sheet.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PDF (*.pdf)"))
    page.save_day_pdf(everyone=True)
    assert target.read_bytes().startswith(b"%PDF")
    doc = QPdfDocument()
    assert doc.load(str(target)) == QPdfDocument.Error.None_
    assert doc.pageCount() >= len(busy)  # a technician's day starts a new page
    words = " ".join(doc.getAllText(0).text().split())
    first = page.board.visits_of(busy[0].id)[0]
    assert words.startswith(busy[0].name) and first.number in words and first.customer in words
    assert " ".join((first.address or "").split()) in words
    everything = " ".join(" ".join(doc.getAllText(i).text().split()) for i in range(doc.pageCount()))
    positions = [everything.index(t.name + " ") for t in busy]
    assert positions == sorted(positions)  # every technician with visits, in the board's order
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = doc.pagePointSize(0)
    doc.render(0, QSize(1440, int(1440 * size.height() / size.width()))).save(str(SHOTS / "day_sheet.png"))
    doc.close()


# ------------------------------------------------------------------------------ planning by dragging
def _mouse(canvas, kind, pos, buttons):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent

    types = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove,
             "release": QEvent.Type.MouseButtonRelease}
    button = Qt.MouseButton.NoButton if kind == "move" else Qt.MouseButton.LeftButton
    local = QPointF(pos)
    event = QMouseEvent(types[kind], local, canvas.viewport().mapToGlobal(local), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas.viewport(), event)


def drag_bar(canvas, visit, target, *, release=True):
    """Press on ``visit``'s bar, move in steps to ``target`` (viewport point of the bar's grab
    point), and release — as a mouse would."""
    from PySide6.QtCore import QPoint

    grab = canvas.bar_rect(visit).center().toPoint()
    _mouse(canvas, "press", grab, Qt.MouseButton.LeftButton)
    for i in range(1, 6):
        step = grab + (target - grab) * i / 5
        _mouse(canvas, "move", QPoint(int(step.x()), int(step.y())), Qt.MouseButton.LeftButton)
    if release:
        _mouse(canvas, "release", target, Qt.MouseButton.NoButton)


def row_y(canvas, technician_id):
    from desk_desktop.ui.board.canvas import HEADER_H, ROW_H

    row = [t.id for t in canvas.board.technicians].index(technician_id)
    return HEADER_H + row * ROW_H - canvas.verticalScrollBar().value() + ROW_H // 2


def free_target(canvas, visit, technician_id, *, want):
    """A viewport point on ``technician_id``'s row where dropping ``visit`` gives a check
    ``want`` ("ok", "soft", "hard") — searched in 30-minute steps over the visible hours,
    with ``visit``'s own bar in view (where the drag starts)."""
    from PySide6.QtCore import QPoint

    grab_dx = canvas.bar_rect(visit).center().x() - canvas.bar_rect(visit).left()
    canvas.select(visit)  # scrolls its bar into view; the target row must be in view too
    for x in range(NAME_W + 20, canvas.viewport().width() - 200, max(4, canvas.pixels_per_hour // 2)):
        pos = QPoint(int(x + grab_dx), row_y(canvas, technician_id))
        if not 0 < pos.y() < canvas.viewport().height():
            break
        d = canvas.drop_at(visit, pos, grab_dx)
        kind = "hard" if d.check.hard else "soft" if d.check.soft else "ok"
        if kind == want and (d.start != visit.start or d.technician_id != visit.technician_id):
            return pos, d
    return None, None


def _slot_of(demo, wo_id):
    with demo.uow_factory() as uow:
        return uow.session.execute(text("SELECT technician_id, scheduled_start, status FROM work_orders WHERE id = :w"),
                                   {"w": wo_id}).one()


def test_dragging_a_bar_along_its_row_reschedules_it_and_undo_puts_it_back(qtbot, demo, ctx, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    canvas = page.canvas
    visit = next(v for v in page.board.visits if v.status == "scheduled")
    target, drop = free_target(canvas, visit, visit.technician_id, want="ok")
    assert target is not None
    drag_bar(canvas, visit, target)
    qtbot.waitUntil(lambda: _slot_of(demo, visit.work_order_id).scheduled_start == drop.start, timeout=WAIT)
    wait_loaded(qtbot, page)
    moved = next(v for v in page.board.visits if v.work_order_id == visit.work_order_id)
    assert moved.start == drop.start and "Ctrl+Z" in page.note.text()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: _slot_of(demo, visit.work_order_id).scheduled_start == visit.start, timeout=WAIT)
    assert page.undo is None  # one step back only


def test_dropping_onto_a_technician_without_the_skill_is_refused_with_the_reason_shown(qtbot, demo, ctx):
    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    canvas = page.canvas
    visit = next(v for v in page.board.visits if v.status == "scheduled" and v.required_skills)
    ids = [t.id for t in page.board.technicians]
    near = sorted(page.board.technicians, key=lambda t: abs(ids.index(t.id) - ids.index(visit.technician_id)))
    unskilled = next(t for t in near if not set(visit.required_skills) <= set(t.skills))
    target, drop = free_target(canvas, visit, unskilled.id, want="hard")
    assert target is not None and "lacks" in drop.check.hard[0]
    drag_bar(canvas, visit, target, release=False)
    assert canvas.drag is not None and canvas.drag.check.hard  # shown before the mouse is released
    _mouse(canvas, "release", target, Qt.MouseButton.NoButton)
    assert page.error_label.isVisible() and f"{unskilled.name} lacks" in page.error_label.text()
    assert ctx.runner.active == 0
    assert _slot_of(demo, visit.work_order_id).technician_id == visit.technician_id  # nothing changed


def test_an_unassigned_order_dropped_onto_a_row_is_assigned_at_that_time(qtbot, demo, ctx, monkeypatch):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    canvas = page.canvas
    row = next(i for i in range(page.waiting_list.count())
               if page.waiting_list.item(i).data(Qt.ItemDataRole.UserRole + 1).technician_id is None)
    order = page.waiting_list.item(row).data(Qt.ItemDataRole.UserRole + 1)
    tech = next(t for t in page.board.technicians if set(order.required_skills) <= set(t.skills)
                and t.open_jobs < t.max_open and t.hours_known)
    mime = page.waiting_list.mimeData([page.waiting_list.item(row)])  # what the list hands to the drag
    target = None
    for x in range(NAME_W + 20, canvas.viewport().width() - 100, 20):
        d = canvas.drop_at(order, QPointF(x, row_y(canvas, tech.id)).toPoint())
        if d is not None and not d.check.hard:
            target = QPointF(x, row_y(canvas, tech.id))
            break
    assert target is not None
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    for event in (QDragEnterEvent(target.toPoint(), actions, mime, Qt.MouseButton.LeftButton,
                                  Qt.KeyboardModifier.NoModifier),
                  QDragMoveEvent(target.toPoint(), actions, mime, Qt.MouseButton.LeftButton,
                                 Qt.KeyboardModifier.NoModifier)):
        QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.drag is not None and canvas.drag.technician_id == tech.id
    planned = canvas.drag.start
    QApplication.sendEvent(canvas.viewport(), QDropEvent(target, actions, mime, Qt.MouseButton.LeftButton,
                                                         Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: _slot_of(demo, order.work_order_id).technician_id == tech.id, timeout=WAIT)
    slot = _slot_of(demo, order.work_order_id)
    assert (slot.scheduled_start, slot.status) == (planned, "scheduled")
    wait_loaded(qtbot, page)
    assert order.work_order_id not in {w.work_order_id for w in page.board.waiting}


def test_show_on_board_from_the_ticket_opens_the_visits_day_with_the_visit_selected(qtbot, demo, pool):  # noqa: F811
    from desk_desktop.bootstrap import Database
    from desk_desktop.ui.main_window import MainWindow

    ctx = UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=hermetic_settings(),
                    runner=TaskRunner(pool=pool))
    db = Database(url=demo.url, engine=ctx.uow_factory.engine, uow_factory=ctx.uow_factory)
    win = MainWindow(ctx, db_description=db.describe)
    qtbot.addWidget(win)
    win.show()
    day = busiest_day(demo)
    visit = load_board(uow=demo.uow_factory(), actor=demo.actor, first_day=day).visits[0]
    tickets = win.pages["tickets"]
    with qtbot.waitSignal(tickets.detail.ticket_loaded, timeout=WAIT):
        win.open_ticket(visit.ticket_id)
    assert tickets.detail.work_order.board_button.isEnabled()
    qtbot.mouseClick(tickets.detail.work_order.board_button, Qt.MouseButton.LeftButton)
    page = win.pages["schedule"]
    assert win.current_page_key == "schedule"
    qtbot.waitUntil(lambda: page.canvas.selected is not None, timeout=WAIT)
    assert page.board.first_day == day and page.canvas.selected.work_order_id == visit.work_order_id
    rect = page.canvas.bar_rect(page.canvas.selected)
    assert NAME_W <= rect.left() and rect.right() <= page.canvas.viewport().width()  # in view


def test_the_area_filter_keeps_the_technicians_based_near_the_selected_visit(qtbot, demo, ctx):
    from tests.conftest import haversine_m

    page = open_board(qtbot, ctx, busiest_day(demo))
    everyone = len(page.board.technicians)
    visit = next(v for v in page.board.visits if v.lat is not None)
    page.canvas.select(visit)
    page.area_combo.setCurrentIndex(page.area_combo.findData(10.0))
    qtbot.waitUntil(lambda: "within 10 km" in page.status.text(), timeout=WAIT)
    near = page.board.technicians
    assert 0 < len(near) < everyone
    assert all(haversine_m((t.lat, t.lon), (visit.lat, visit.lon)) <= 10_050 for t in near)
    assert visit.number in page.status.text()
    page.area_combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: len(page.board.technicians) == everyone, timeout=WAIT)


def test_dropping_into_an_absence_is_refused_and_the_absence_is_shaded(qtbot, demo, ctx):
    from desk_desktop.services.absences import Period, add_absence, remove_absence

    day = busiest_day(demo)
    page = open_board(qtbot, ctx, day)
    canvas = page.canvas
    visit = next(v for v in page.board.visits if v.status == "scheduled")
    ids = [t.id for t in page.board.technicians]
    near = sorted(page.board.technicians, key=lambda t: abs(ids.index(t.id) - ids.index(visit.technician_id)))
    away = next(t for t in near if t.id != visit.technician_id and set(visit.required_skills) <= set(t.skills)
                and t.hours_known and not page.board.visits_of(t.id))
    saved = add_absence(uow=demo.uow_factory(), actor=demo.actor, technician_id=away.id,
                        period=Period(first_day=day, last_day=day), reason="Training")
    try:
        page.refresh(keep_view=True)
        qtbot.waitUntil(lambda: bool(next(t for t in page.board.technicians if t.id == away.id).absences),
                        timeout=WAIT)
        target, drop = free_target(canvas, visit, away.id, want="hard")
        assert target is not None and drop.check.hard == (f"{away.name} is away (Training) on {day:%a} {day.day} {day:%b}",)
        drag_bar(canvas, visit, target)
        assert page.error_label.isVisible() and "is away (Training)" in page.error_label.text()
        assert _slot_of(demo, visit.work_order_id).technician_id == visit.technician_id
        # The row is shaded and says why.
        row_top = row_y(canvas, away.id) - 10
        shot = canvas.viewport().grab().toImage()
        assert shot.pixelColor(int(target.x()), row_top).name() != "#ffffff"
    finally:
        remove_absence(uow=demo.uow_factory(), actor=demo.actor, absence_id=saved.absence.id)


def test_planning_by_keyboard_moves_the_selected_visit_and_checks_it_like_a_drop(qtbot, demo, ctx, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    page = open_board(qtbot, ctx, busiest_day(demo))
    canvas = page.canvas
    techs = {t.id: t for t in page.board.technicians}
    visit = next(v for v in page.board.visits if v.status == "scheduled" and canvas.drop_for(
        v, techs[v.technician_id], v.start + timedelta(minutes=15)).check.ok)
    canvas.select(visit)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    later = visit.start + timedelta(minutes=15)
    qtbot.waitUntil(lambda: _slot_of(demo, visit.work_order_id).scheduled_start == later, timeout=WAIT)
    wait_loaded(qtbot, page)
    assert canvas.selected.work_order_id == visit.work_order_id and canvas.selected.start == later
    # Down: to the technician below at the same time — refused (and nothing moves) when they lack a skill.
    row = [t.id for t in page.board.technicians].index(visit.technician_id)
    below = page.board.technicians[row + 1] if row + 1 < len(page.board.technicians) else None
    if below is not None:
        expected = canvas.drop_for(canvas.selected, below, later).check
        qtbot.keyClick(canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
        if expected.hard:
            assert page.error_label.isVisible() and expected.hard[0] in page.error_label.text()
            assert _slot_of(demo, visit.work_order_id).technician_id == visit.technician_id
        else:
            qtbot.waitUntil(lambda: _slot_of(demo, visit.work_order_id).technician_id == below.id, timeout=WAIT)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one step back
    qtbot.waitUntil(lambda: ctx.runner.active == 0, timeout=WAIT)


def test_a_drop_outside_working_hours_asks_first_and_no_leaves_it_where_it_was(qtbot, demo, ctx, monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    page = open_board(qtbot, ctx, busiest_day(demo))
    canvas = page.canvas
    found = None
    for visit in (v for v in page.board.visits if v.status == "scheduled"):
        target, drop = free_target(canvas, visit, visit.technician_id, want="soft")
        if target is not None:
            found = visit, target, drop
            break
    assert found is not None
    visit, target, drop = found
    drag_bar(canvas, visit, target)
    assert asked and "Plan it anyway?" in asked[0] and drop.check.soft[0] in asked[0]
    assert ctx.runner.active == 0 and _slot_of(demo, visit.work_order_id).scheduled_start == visit.start
