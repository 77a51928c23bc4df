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
    with demo_database(test_server, "desk_board_ui", tickets=150) as (url, summary):
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


def test_screenshots(qtbot, demo, pool, isolated_settings):  # noqa: F811
    from desk_desktop.bootstrap import Database
    from desk_desktop.resources import resource_path
    from desk_desktop.ui.main_window import MainWindow

    app = QApplication.instance()
    old_style = app.styleSheet()
    app.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=hermetic_settings(),
                    runner=TaskRunner(pool=pool))
    try:
        db = Database(url=demo.url, engine=ctx.uow_factory.engine, uow_factory=ctx.uow_factory)
        win = MainWindow(ctx, db_description=db.describe)
        qtbot.addWidget(win)
        win.resize(1440, 900)
        win.show()
        page = win.pages["schedule"]
        day = busiest_day(demo)
        page.date_edit.setDate(QDate(day.year, day.month, day.day))
        win.show_page("schedule")
        wait_loaded(qtbot, page, day)
        qtbot.waitUntil(lambda: win.conn_label.text().endswith("Connected"), timeout=WAIT)
        page.canvas.setFocus()
        qtbot.keyClick(page.canvas, Qt.Key.Key_Right)
        qtbot.wait(200)
        win.grab().save(str(SHOTS / "schedule_day.png"))
        page.week_button.click()
        wait_loaded(qtbot, page)
        qtbot.wait(200)
        win.grab().save(str(SHOTS / "schedule_week.png"))
    finally:
        app.setStyleSheet(old_style)


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
    assert doc.pageCount() == len(busy)  # one page per technician with visits that day
    first = page.board.visits_of(busy[0].id)[0]
    words = " ".join(doc.getAllText(0).text().split())
    assert busy[0].name in words and first.number in words and first.customer in words
    assert " ".join((first.address or "").split()) in words
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = doc.pagePointSize(0)
    doc.render(0, QSize(1440, int(1440 * size.height() / size.width()))).save(str(SHOTS / "day_sheet.png"))
    doc.close()
