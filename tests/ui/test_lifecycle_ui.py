"""The work-order lifecycle in the ticket detail, driven as a dispatcher would: only the allowed
steps are buttons, hold/cancel/complete ask in a dialog that validates as one types, a step
refused because the order changed elsewhere says so and shows the order as it is, completing
the last order offers to resolve the ticket, resolving a ticket with open work asks what
to do with it, and the customer's booked window is shown and edited on the card. Real
database (demo data), real worker threads. Saves build/screenshots/ticket_detail_lifecycle.png."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QDateTime, QPoint, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import text

from desk_desktop.services import lifecycle
from desk_desktop.services.assignment import assign_work_order
from tests.conftest import demo_database
from tests.ui.test_tickets_view import (
    SHOTS,
    WAIT,
    _demo_namespace,
    _main_window,
    isolated_settings,  # noqa: F401 (fixture)
    make_ctx,
    pool,  # noqa: F401 (fixture)
    wait_loaded,
)
from tests.ui.test_tickets_view import page as page  # noqa: PLC0414 (fixture)


@pytest.fixture(scope="module")
def demo(test_server):
    with demo_database(test_server, "desk_lifecycle_ui", tickets=90) as (url, summary):
        yield from _demo_namespace(url, summary)


@pytest.fixture
def ctx(demo, pool):  # noqa: F811
    return make_ctx(demo, pool)


_taken: set[int] = set()


def scheduled_ticket(demo) -> tuple[int, int]:
    """(ticket id, work-order id) of an open ticket whose order is scheduled with a technician,
    one no other test of this module used."""
    with demo.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT t.id, w.id FROM tickets t JOIN work_orders w ON w.source_ticket_id = t.id "
            "WHERE w.status IN ('scheduled', 'assigned') AND w.technician_id IS NOT NULL "
            "AND t.status IN ('new', 'open') "
            "ORDER BY w.status DESC, t.id")).all()
    free = [(t, w) for t, w in rows if t not in _taken]
    if free:
        ticket_id, wo_id = free[0]
    else:
        # On a day most of the demo's technicians are off (a Sunday) the assign job leaves work
        # due now unassigned: a dispatcher gives one to a technician by hand.
        with demo.engine.connect() as conn:
            ticket_id, wo_id = conn.execute(text(
                "SELECT t.id, w.id FROM tickets t JOIN work_orders w ON w.source_ticket_id = t.id "
                "WHERE w.status = 'unassigned' AND t.status IN ('new', 'open') ORDER BY t.id")).first()
            tech = conn.execute(text("SELECT min(id) FROM technicians WHERE active")).scalar_one()
        assign_work_order(uow=demo.uow_factory(), actor=demo.actor, work_order_id=wo_id, technician_id=tech,
                          force=True)
    _taken.add(ticket_id)
    return ticket_id, wo_id


def open_ticket(qtbot, page, ticket_id):
    page.open_ticket(ticket_id)
    qtbot.waitUntil(lambda: page.detail.data is not None and page.detail.data.ticket.id == ticket_id, timeout=WAIT)


def buttons(detail) -> set[str]:
    return {a for a, b in detail.work_order.action_buttons.items() if b.isVisible() and b.isEnabled()}


def wait_buttons(qtbot, detail, expected: set[str]) -> None:
    """The card shows exactly these steps (buttons added to a shown card appear on the next event loop pass)."""
    qtbot.waitUntil(lambda: buttons(detail) == expected, timeout=WAIT)


def wait_status(qtbot, detail, status):
    qtbot.waitUntil(lambda: detail.data.ticket.work_order.status == status
                    and detail.work_order.status_chip.text() == status.replace("_", " ").capitalize()
                    and detail.ctx.runner.active == 0, timeout=WAIT)


def click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_only_allowed_steps_are_buttons_and_the_dialogs_validate_as_one_types(qtbot, page, demo):
    ticket_id, _ = scheduled_ticket(demo)
    detail = page.detail
    open_ticket(qtbot, page, ticket_id)
    wait_buttons(qtbot, detail, {"start", "arrive", "hold", "complete", "cancel"})
    assert detail.work_order.action_buttons["start"].text() == "Start travel"

    click(qtbot, detail.work_order.action_buttons["start"])
    wait_status(qtbot, detail, "travelling")
    wait_buttons(qtbot, detail, {"arrive", "hold", "complete", "cancel"})

    click(qtbot, detail.work_order.action_buttons["hold"])
    dlg = detail.work_order.step_dialog
    qtbot.waitUntil(dlg.isVisible, timeout=WAIT)
    assert not dlg.ok_button.isEnabled()  # a reason is needed
    qtbot.keyClicks(dlg.reason_edit, "Customer not at home")
    assert dlg.ok_button.isEnabled()
    click(qtbot, dlg.ok_button)
    wait_status(qtbot, detail, "on_hold")
    wait_buttons(qtbot, detail, {"resume", "cancel"})
    assert detail.work_order.progress.text() == "On hold: Customer not at home"

    click(qtbot, detail.work_order.action_buttons["resume"])
    wait_status(qtbot, detail, "travelling")
    click(qtbot, detail.work_order.action_buttons["arrive"])
    wait_status(qtbot, detail, "on_site")
    assert detail.work_order.progress.text().startswith("On site since")

    click(qtbot, detail.work_order.action_buttons["complete"])
    dlg = detail.work_order.step_dialog
    qtbot.waitUntil(dlg.isVisible, timeout=WAIT)
    qtbot.keyClicks(dlg.note_edit, "Reset the breaker and replaced the thermostat.")
    assert dlg.ok_button.isEnabled()  # the default times can be taken as they are
    dlg.ended_edit.setDateTime(dlg.started_edit.dateTime().addSecs(-600))
    assert not dlg.ok_button.isEnabled()
    assert dlg.error_label.isVisible() and dlg.error_label.text() == "The work must end after it started."
    dlg.ended_edit.setDateTime(QDateTime.currentDateTime().addSecs(3600))
    assert dlg.error_label.text() == "The end cannot be in the future."
    dlg.ended_edit.setDateTime(QDateTime.currentDateTime())
    assert dlg.ok_button.isEnabled() and not dlg.error_label.isVisible()
    click(qtbot, dlg.ok_button)

    # The last open order of the ticket: the dispatcher is asked whether to resolve it too.
    qtbot.waitUntil(lambda: detail.work_order.resolve_prompt is not None and detail.work_order.resolve_prompt.isVisible(), timeout=WAIT)
    wait_status(qtbot, detail, "completed")
    wait_buttons(qtbot, detail, {"reopen"})
    assert "Resolution: Reset the breaker and replaced the thermostat." in detail.work_order.progress.text()
    click(qtbot, detail.work_order.resolve_prompt.button(QMessageBox.StandardButton.Yes))
    qtbot.waitUntil(lambda: detail.data.ticket.status == "resolved" and detail.ctx.runner.active == 0, timeout=WAIT)
    assert detail.status_chip.text() == "Resolved"


def test_a_step_refused_because_of_a_change_elsewhere_says_so_and_shows_the_order_as_it_is(qtbot, page, demo):
    ticket_id, wo_id = scheduled_ticket(demo)
    detail = page.detail
    open_ticket(qtbot, page, ticket_id)
    wait_buttons(qtbot, detail, {"start", "arrive", "hold", "complete", "cancel"})
    # Another workstation completes it meanwhile.
    lifecycle.transition(uow=demo.uow_factory(), actor=demo.actor, work_order_id=wo_id, action="complete",
                         note="Done by phone")
    click(qtbot, detail.work_order.action_buttons["start"])
    wait_status(qtbot, detail, "completed")
    assert detail.banner.isVisible()
    assert detail.banner.text() == f"WO-{wo_id:06d} not changed: WO-{wo_id:06d} is completed; it can only be reopened."
    wait_buttons(qtbot, detail, {"reopen"})


def test_resolving_a_ticket_with_open_work_asks_and_cancels_it_with_the_reason(qtbot, page, demo):
    ticket_id, wo_id = scheduled_ticket(demo)
    detail = page.detail
    open_ticket(qtbot, page, ticket_id)
    click(qtbot, detail.status_buttons["resolved"])
    dlg = detail.open_orders_dialog
    qtbot.waitUntil(dlg.isVisible, timeout=WAIT)
    assert not dlg.ok_button.isEnabled()  # cancelling needs a reason
    dlg.leave_choice.setChecked(True)
    assert dlg.ok_button.isEnabled()
    dlg.cancel_choice.setChecked(True)
    qtbot.keyClicks(dlg.reason_edit, "Solved on the phone")
    click(qtbot, dlg.ok_button)
    qtbot.waitUntil(lambda: detail.data.ticket.status == "resolved" and detail.ctx.runner.active == 0, timeout=WAIT)
    wait_status(qtbot, detail, "cancelled")
    assert detail.work_order.progress.text() == f"Cancelled: ticket {detail.data.ticket.number} resolved: Solved on the phone"
    wait_buttons(qtbot, detail, {"reopen"})


def test_save_ics_writes_the_current_invitation_and_says_why_there_is_none(qtbot, page, demo, tmp_path):
    from icalendar import Calendar

    ticket_id, wo_id = scheduled_ticket(demo)
    with demo.engine.connect() as conn:
        start = conn.execute(text("SELECT scheduled_start FROM work_orders WHERE id = :id"), {"id": wo_id}).scalar()
    if start is None:  # an assigned order without a time: give it one, as a dispatcher would
        from datetime import UTC, datetime, timedelta

        from desk_desktop.services.assignment import reschedule_work_order
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        reschedule_work_order(uow=demo.uow_factory(), actor=demo.actor, work_order_id=wo_id, start=start,
                              book_anyway=True)
    with demo.engine.connect() as conn:
        sequence = conn.execute(text("SELECT calendar_sequence FROM work_orders WHERE id = :id"),
                                {"id": wo_id}).scalar_one()
    detail = page.detail
    open_ticket(qtbot, page, ticket_id)
    target = tmp_path / "visit.ics"
    asked = []
    detail.work_order.ask_save_path = lambda suggested: asked.append(suggested) or str(target)
    assert detail.work_order.save_ics_button.isVisible() and detail.work_order.save_ics_button.text() == "Save .ics…"
    click(qtbot, detail.work_order.save_ics_button)
    qtbot.waitUntil(lambda: target.exists() and detail.banner.isVisible(), timeout=WAIT)
    assert asked == [f"WO-{wo_id:06d}.ics"]
    cal = Calendar.from_ical(target.read_bytes())
    (event,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]).startswith(f"wo-{wo_id}@")
    assert event.decoded("SEQUENCE") == sequence
    assert event.decoded("DTSTART") == start.replace(microsecond=0)
    assert detail.banner.text() == (f"Saved the calendar invitation of WO-{wo_id:06d} (update {sequence}) "
                                    f"to {target}.")

    # Cancelled elsewhere: nothing is written, and the banner says why.
    lifecycle.transition(uow=demo.uow_factory(), actor=demo.actor, work_order_id=wo_id, action="cancel",
                         reason="Customer called it off")
    target.unlink()
    click(qtbot, detail.work_order.save_ics_button)
    qtbot.waitUntil(lambda: "is cancelled" in detail.banner.text(), timeout=WAIT)
    assert detail.banner.text().startswith(f"WO-{wo_id:06d} is cancelled: there is no visit to put in a calendar")
    assert not target.exists() and asked == [f"WO-{wo_id:06d}.ics"]


def test_the_customers_booked_window_is_shown_and_edited_on_the_work_order_card(qtbot, page, demo):
    from zoneinfo import ZoneInfo

    from PySide6.QtCore import QTime

    ticket_id, wo_id = scheduled_ticket(demo)
    detail = page.detail
    open_ticket(qtbot, page, ticket_id)
    assert detail.work_order.values["window"].text() == "None"
    click(qtbot, detail.work_order.window_button)
    dialog = detail.work_order.window_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    day = dialog.start_edit.date()
    dialog.start_edit.setTime(QTime(14, 0))
    dialog.end_edit.setDate(day)
    dialog.end_edit.setTime(QTime(13, 0))
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(dialog.message.isVisible, timeout=WAIT)
    assert dialog.message.text() == "The booked window must end after it starts."
    assert dialog.isVisible() and dialog.start_edit.time().hour() == 14  # what was typed stays
    dialog.end_edit.setTime(QTime(16, 0))
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    with demo.engine.connect() as conn:
        start, end, tz = conn.execute(text(
            "SELECT w.window_start, w.window_end, o.timezone FROM work_orders w JOIN organizations o "
            "ON o.id = w.organization_id WHERE w.id = :i"), {"i": wo_id}).one()
    zone = ZoneInfo(tz)
    assert (start.astimezone(zone).hour, end.astimezone(zone).hour) == (14, 16)
    words = f"on {start.astimezone(zone):%a} {day.day()} {start.astimezone(zone):%b} from 14:00 to 16:00"
    qtbot.waitUntil(lambda: detail.work_order.values["window"].text() == "O" + words[1:], timeout=WAIT)
    assert detail.banner.text() == f"WO-{wo_id:06d}: booked window {words}."

    # Cleared again: the card no longer mentions it.
    click(qtbot, detail.work_order.window_button)
    dialog = detail.work_order.window_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    click(qtbot, dialog.clear_button)
    qtbot.waitUntil(lambda: detail.work_order.values["window"].text() == "None"
                    and detail.banner.text() == f"WO-{wo_id:06d}: no booked window.", timeout=WAIT)


def _side_by_side(a, b) -> bool:
    return a.isVisible() and b.isVisible() and b.mapToGlobal(QPoint(0, 0)).x() >= a.mapToGlobal(
        QPoint(a.width(), 0)).x()


def test_screenshot_of_the_ticket_detail_with_the_lifecycle_actions(qtbot, demo, pool, isolated_settings):  # noqa: F811
    from datetime import timedelta

    from desk_desktop.resources import resource_path
    from desk_desktop.services.dayplan.keep import set_booked_window

    ticket_id, wo_id = scheduled_ticket(demo)
    for action in ("start", "arrive"):
        lifecycle.transition(uow=demo.uow_factory(), actor=demo.actor, work_order_id=wo_id, action=action)
    with demo.engine.connect() as conn:
        start = conn.execute(text("SELECT coalesce(scheduled_start, now()) FROM work_orders WHERE id = :id"),
                             {"id": wo_id}).scalar_one()
    set_booked_window(uow=demo.uow_factory(), actor=demo.actor, work_order_id=wo_id,
                      start=start - timedelta(hours=1), end=start + timedelta(hours=1))
    app = QApplication.instance()
    old_style = app.styleSheet()
    app.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = make_ctx(demo, pool)
    try:
        win, page = _main_window(ctx, demo.url)
        qtbot.addWidget(win)
        win.resize(1440, 900)
        win.show()
        wait_loaded(qtbot, page)
        open_ticket(qtbot, page, ticket_id)
        page.splitter.setSizes([360, 1100])
        detail = page.detail
        qtbot.waitUntil(lambda: _side_by_side(detail.form_card, detail.work_order), timeout=WAIT)
        wait_buttons(qtbot, detail, {"hold", "complete", "cancel"})
        qtbot.waitUntil(lambda: win.conn_label.text().endswith("Connected"), timeout=WAIT)
        qtbot.waitUntil(lambda: ctx.runner.active == 0, timeout=WAIT)
        qtbot.wait(300)
        path = SHOTS / "ticket_detail_lifecycle.png"
        win.grab().save(str(path))
        pix = QPixmap(str(path))
        assert (pix.width(), pix.height()) == (1440, 900)
        win.close()
    finally:
        pool.waitForDone(30_000)
        QApplication.processEvents()
        app.setStyleSheet(old_style)


# ------------------------------------------------------------------ the map


def test_the_map_offers_the_steps_of_a_clicked_assigned_order(qtbot, uow_factory, org):
    from desk_desktop.db.models import WorkOrder
    from tests.ui.test_map_view import _ctx, build_city, js, open_page

    city = build_city(uow_factory, org, technicians=8, orders=6)
    page = open_page(qtbot, _ctx(uow_factory, org))
    order_id = city["assigned"][0]

    def status():
        with uow_factory() as uow:
            return uow.session.get(WorkOrder, order_id).status

    assert js(qtbot, page, f"DeskMap.clickOrder({order_id})") is True
    qtbot.waitUntil(lambda: page.steps_bar.isVisible(), timeout=WAIT)
    assert set(page.step_buttons) == {"start", "arrive", "hold", "complete", "cancel"}
    click(qtbot, page.step_buttons["start"])
    qtbot.waitUntil(lambda: status() == "travelling", timeout=WAIT)
    assert page.message_label.text() == f"WO-{order_id:06d}: assigned → travelling."
    assert not page.steps_bar.isVisible()
    # The map reads the order again and knows its new status.
    qtbot.waitUntil(lambda: page.canvas.orders[order_id].status == "travelling", timeout=WAIT)

    assert js(qtbot, page, f"DeskMap.clickOrder({order_id})") is True
    qtbot.waitUntil(lambda: set(page.step_buttons) == {"arrive", "hold", "complete", "cancel"}, timeout=WAIT)
    click(qtbot, page.step_buttons["complete"])
    dlg = page.step_dialog
    qtbot.waitUntil(dlg.isVisible, timeout=WAIT)
    qtbot.keyClicks(dlg.note_edit, "Swapped the faulty valve.")
    click(qtbot, dlg.ok_button)
    qtbot.waitUntil(lambda: status() == "completed", timeout=WAIT)
    # A completed order is no open job: its marker leaves the map.
    qtbot.waitUntil(lambda: js(qtbot, page, f"DeskMap.orderInfo({order_id})") is None, timeout=WAIT)
