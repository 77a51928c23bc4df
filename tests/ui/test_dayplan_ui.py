"""Optimize day on the schedule page and the map, driven as a dispatcher would against the demo
organization in a real database: the proposal is drawn on the board (outlined, read-only) and
as routes on the map, Discard puts the day back, Apply writes it, a plan another workstation
made outdated is refused with Optimize again, Cancel stops the solver. Saves
schedule_optimize.png and map_optimize.png."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy import text

from desk_desktop.services.dayplan.keep import set_pinned
from desk_desktop.services.dayplan.proposal import day_text
from desk_desktop.ui.board.canvas import visit_tooltip
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.workers import TaskRunner
from tests.conftest import demo_database, hermetic_settings
from tests.ui.test_board_ui import SHOTS, open_board, schedule_window, wait_loaded
from tests.ui.test_map_view import js
from tests.ui.test_tickets_view import _demo_namespace, isolated_settings, pool  # noqa: F401 - fixtures

WAIT = 60_000


@pytest.fixture(scope="module")
def demo(test_server):
    with demo_database(test_server, "desk_dayplan_ui", tickets=150, planned=150) as (url, summary):
        yield from _demo_namespace(url, summary)


def settings(seconds=2.0):
    # The map page's web profile and cache go to a temporary folder, not the working directory.
    return hermetic_settings(optimize_seconds=seconds, data_dir=Path(tempfile.gettempdir()) / "desk-test-dayplan")


@pytest.fixture
def ctx(demo, pool):  # noqa: F811 - the pool fixture
    return UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=settings(), runner=TaskRunner(pool=pool))


def planned_day(demo):
    """The demo's busiest day from today on (a day that is over cannot be optimized)."""
    with demo.uow_factory() as uow:
        return uow.session.execute(text(
            "SELECT CAST(timezone(o.timezone, w.scheduled_start) AS date) AS d FROM work_orders w "
            "JOIN organizations o ON o.id = w.organization_id WHERE w.scheduled_start > now() "
            "AND w.status IN ('assigned', 'scheduled') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")).scalar_one()


def stored(demo, ids):
    with demo.uow_factory() as uow:
        return {r.id: (r.technician_id, r.scheduled_start) for r in uow.session.execute(text(
            "SELECT id, technician_id, scheduled_start FROM work_orders WHERE id = ANY(:ids)"), {"ids": list(ids)})}


def optimize(qtbot, page):
    page.optimize_button.click()
    qtbot.waitUntil(lambda: not page.planner.running, timeout=WAIT)
    wait_loaded(qtbot, page)
    return page.planner.proposal


# The tests run in this order: each leaves the demo day changed for the next.


def test_screenshots(qtbot, demo, pool, isolated_settings):  # noqa: F811
    win = schedule_window(qtbot, demo, pool, settings(), planned_day(demo))
    page = win.pages["schedule"]
    proposal = optimize(qtbot, page)
    assert proposal.changes
    moved = next(c for c in proposal.changes if c.technician_id is not None)
    page.canvas.select(next(v for v in page.canvas.board.visits if v.work_order_id == moved.order.id))
    qtbot.wait(200)
    QApplication.processEvents()
    shot = win.grab()
    assert (shot.width(), shot.height()) == (1440, 900)
    shot.save(str(SHOTS / "schedule_optimize.png"))

    win.show_page("map")
    maps = win.pages["map"]
    qtbot.waitUntil(lambda: maps.ready, timeout=WAIT)
    maps.show_plan(proposal)  # drawn on a page that was not ready when the plan came
    qtbot.waitUntil(lambda: js(qtbot, maps, "DeskMap.layers.plan ? DeskMap.layers.plan.getLayers().length : 0") > 0,
                    timeout=WAIT)
    qtbot.wait(800)
    win.grab().save(str(SHOTS / "map_optimize.png"))
    win.pages["map"].shutdown()


def test_cancel_stops_the_solver_at_once(qtbot, demo, pool):  # noqa: F811
    ctx = UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=settings(seconds=120),
                    runner=TaskRunner(pool=pool))
    page = open_board(qtbot, ctx, planned_day(demo))
    page.optimize_button.click()
    bar = page.optimize_bar
    assert bar.isVisible() and bar.cancel_button.isVisible() and not page.optimize_button.isEnabled()
    qtbot.wait(1500)  # the solver is running
    started = datetime.now(UTC)
    bar.cancel_button.click()
    qtbot.waitUntil(lambda: not page.planner.running, timeout=10_000)
    assert (datetime.now(UTC) - started).total_seconds() < 5  # not the 120 s budget
    assert bar.title.text() == "Optimizing was cancelled; nothing changed."
    assert page.planner.proposal is None and page.optimize_button.isEnabled()


def test_a_plan_made_outdated_elsewhere_is_refused_and_can_be_made_again(qtbot, demo, ctx):
    day = planned_day(demo)
    page = open_board(qtbot, ctx, day)
    proposal = optimize(qtbot, page)
    moved = next(c for c in proposal.changes if c.order.start is not None)
    # Another workstation pins one of the visits the plan moves.
    set_pinned(uow=demo.uow_factory(), actor=demo.actor, work_order_id=moved.order.id, pinned=True)
    page.optimize_bar.apply_button.click()
    qtbot.waitUntil(lambda: not page.planner.running, timeout=WAIT)
    bar = page.optimize_bar
    assert bar.title.text().startswith(f"Since this plan was made, {moved.order.number} changed")
    assert "Nothing was changed; optimize again" in bar.title.text()
    assert bar.again_button.isVisible() and not page.canvas.read_only
    bar.again_button.click()
    qtbot.waitUntil(lambda: page.planner.proposal is not None and not page.planner.running, timeout=WAIT)
    assert page.canvas.read_only
    assert moved.order.id not in {c.order.id for c in page.planner.proposal.changes}  # pinned: it stays


def test_a_filtered_board_optimizes_only_the_technicians_shown(qtbot, demo, ctx):
    page = open_board(qtbot, ctx, planned_day(demo))
    page.skill_combo.setCurrentIndex(page.skill_combo.findData("hvac"))
    qtbot.waitUntil(lambda: page.board is not None and all("hvac" in t.skills for t in page.board.technicians),
                    timeout=WAIT)
    wait_loaded(qtbot, page)
    ids = {t.id for t in page.board.technicians}
    assert len(ids) > 1
    page.optimize_button.click()
    assert f"the day of the {len(ids)} technicians shown" in page.optimize_bar.title.text()
    qtbot.waitUntil(lambda: not page.planner.running, timeout=WAIT)
    proposal = page.planner.proposal
    assert proposal is not None, page.optimize_bar.title.text()
    assert {t.id for t in proposal.day.technicians} == ids
    assert proposal.changes and all(c.technician_id in ids for c in proposal.changes if c.technician_id is not None)
    page.optimize_bar.discard_button.click()


def test_the_proposal_is_shown_on_the_board_discarded_and_applied(qtbot, demo, ctx):
    day = planned_day(demo)
    page = open_board(qtbot, ctx, day)
    before = {v.work_order_id: (v.technician_id, v.start) for v in page.board.visits}
    proposal = optimize(qtbot, page)
    assert proposal is not None and proposal.changes
    bar = page.optimize_bar
    assert bar.isVisible() and bar.title.text().startswith(f"Proposed plan for {day_text(day)}")
    assert bar.apply_button.isVisible() and bar.details.count() == len(proposal.lines())
    # The board shows the day as the plan would leave it: the changed visits at their new place, outlined.
    canvas = page.canvas
    assert canvas.read_only and canvas.proposed == {c.order.id for c in proposal.changes}
    shown = {v.work_order_id: (v.technician_id, v.start) for v in canvas.board.visits}
    for c in proposal.changes:
        if c.technician_id is not None and any(t.id == c.technician_id for t in canvas.board.technicians):
            assert shown[c.order.id] == (c.technician_id, c.start)
    now = stored(demo, [c.order.id for c in proposal.changes])
    assert all(now[c.order.id][0] == c.order.technician_id for c in proposal.changes)  # nothing written
    assert all(now[c.order.id][1] == c.order.start for c in proposal.changes if c.order.technician_id)

    bar.discard_button.click()
    assert not bar.isVisible() and not canvas.read_only and canvas.proposed == frozenset()
    assert {v.work_order_id: (v.technician_id, v.start) for v in canvas.board.visits} == before

    proposal = optimize(qtbot, page)
    bar.apply_button.click()
    qtbot.waitUntil(lambda: page.planner.proposal is None and not page.planner.running, timeout=WAIT)
    qtbot.waitUntil(lambda: page.note.text().startswith(f"Plan for {day_text(day)} applied"), timeout=WAIT)
    wanted = {c.order.id: (c.technician_id, c.start) for c in proposal.changes if c.technician_id is not None}
    assert stored(demo, wanted) == wanted
    with demo.uow_factory() as uow:
        audited = uow.session.execute(text(
            "SELECT count(*) FROM audit_log WHERE action = 'day_plan.applied' AND details ->> 'day' = :d"),
            {"d": day.isoformat()}).scalar_one()
    assert audited == 1

    # Undo puts every order the plan changed back with its technician and time.
    assert bar.isVisible() and bar.undo_button.isVisible() and bar.title.text() == page.note.text()
    as_it_was = {c.order.id: (c.order.technician_id, c.order.start if c.order.technician_id else None)
                 for c in proposal.changes}
    bar.undo_button.click()
    qtbot.waitUntil(lambda: page.note.text().startswith(f"Plan for {day_text(day)} undone: "
                                                        f"{len(proposal.changes)} orders put back"), timeout=WAIT)
    assert not bar.undo_button.isVisible()
    now = stored(demo, as_it_was)
    assert {i: (t, s if t else None) for i, (t, s) in now.items()} == as_it_was
    wait_loaded(qtbot, page)
    assert {v.work_order_id: (v.technician_id, v.start) for v in page.board.visits} == before


def test_the_customers_booked_window_is_set_from_the_board_and_a_wrong_one_keeps_what_was_typed(qtbot, demo, ctx):
    from PySide6.QtCore import QDate, QDateTime, QTime

    day = planned_day(demo)
    page = open_board(qtbot, ctx, day)
    visit = next(v for v in page.board.visits if v.status == "scheduled" and v.window is None)
    page.canvas.select(visit)
    page.window_button.click()
    dialog = page.window_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    dialog.start_edit.setDateTime(QDateTime(QDate(day.year, day.month, day.day), QTime(10, 0)))
    dialog.end_edit.setDateTime(QDateTime(QDate(day.year, day.month, day.day), QTime(9, 0)))
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=WAIT)
    assert dialog.message.text() == "The booked window must end after it starts."
    assert dialog.isVisible() and dialog.start_edit.dateTime().time().hour() == 10  # what was typed stays
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "booked_window_refused.png"))
    dialog.end_edit.setDateTime(QDateTime(QDate(day.year, day.month, day.day), QTime(12, 0)))
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    with demo.uow_factory() as uow:
        start, end, tz = uow.session.execute(text(
            "SELECT w.window_start, w.window_end, o.timezone FROM work_orders w JOIN organizations o "
            "ON o.id = w.organization_id WHERE w.id = :i"), {"i": visit.work_order_id}).one()
    zone = ZoneInfo(tz)
    assert (start.astimezone(zone).hour, end.astimezone(zone).hour) == (10, 12)
    qtbot.waitUntil(lambda: page.note.text() == f"{visit.number}: booked window on {day_text(day)} from 10:00 "
                    "to 12:00.", timeout=WAIT)
    wait_loaded(qtbot, page)
    shown = next(v for v in page.board.visits if v.work_order_id == visit.work_order_id)
    assert f"The customer booked on {day_text(day)} from 10:00 to 12:00" in visit_tooltip(shown, page.board)

    # A waiting order's window, from its card's menu: cleared again with "No booked window".
    waiting = page.board.waiting[0]
    page.waiting_list.window_requested.emit(waiting)
    dialog = page.window_dialog
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    wait_loaded(qtbot, page)
    again = next(w for w in page.board.waiting if w.work_order_id == waiting.work_order_id)
    assert again.window is not None
    page.waiting_list.window_requested.emit(again)
    page.window_dialog.clear_button.click()
    qtbot.waitUntil(lambda: page.note.text() == f"{waiting.number}: no booked window.", timeout=WAIT)
