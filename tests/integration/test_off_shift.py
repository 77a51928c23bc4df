"""Work due now goes to technicians on shift (real PostGIS): an off-shift technician is
never assigned it automatically, is still listed (marked) for a dispatcher, and may be
chosen by hand; work due later may go to them (it is scheduled into their hours)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from desk_desktop.services import assignment
from tests.integration.workorder_helpers import add_customer, add_rule, add_technician, create_ticket_with_automation

NOW = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # Tuesday 07:00 UTC
DAY_SHIFT = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
EARLY_SHIFT = {d: [["06:00", "14:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
SITE = (48.8566, 2.3522)


def _order(uow_factory, org) -> int:
    cust = add_customer(uow_factory(), org)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1],
                                               now=NOW)
    return created.work_order_id


def _tech(uow_factory, org, name, hours, km_away):
    return add_technician(uow_factory(), org, name=name, lat=SITE[0] + km_away / 111.0, lon=SITE[1],
                          working_hours=hours, max_open=20)


def _assigned_to(uow_factory, wo_id):
    with uow_factory() as uow:
        return uow.session.execute(text("SELECT technician_id, unassigned_reason FROM work_orders WHERE id = :id"),
                                   {"id": wo_id}).one()


@pytest.mark.parametrize("logic", ["nearest", "skill_match", "workload", "round_robin"])
def test_an_off_shift_technician_is_never_auto_assigned_work_due_now(uow_factory, org, logic):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic=logic)  # not scheduled: due now
    sleeping = _tech(uow_factory, org, "Day shift", DAY_SHIFT, km_away=0.5)  # nearest, idle, lowest id
    early = _tech(uow_factory, org, "Early shift", EARLY_SHIFT, km_away=20)
    orders = [_order(uow_factory, org) for _ in range(4)]
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 4
    assert {_assigned_to(uow_factory, wo).technician_id for wo in orders} == {early}
    assert sleeping not in {_assigned_to(uow_factory, wo).technician_id for wo in orders}


def test_with_only_off_shift_technicians_work_due_now_waits_and_says_why(uow_factory, org):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest")
    _tech(uow_factory, org, "Day shift", DAY_SHIFT, km_away=0.5)
    wo = _order(uow_factory, org)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).unassigned == 1
    got = _assigned_to(uow_factory, wo)
    assert got.technician_id is None
    assert "off shift now" in got.unassigned_reason


def test_work_due_later_may_go_to_a_technician_off_shift_now(uow_factory, org):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest", auto_schedule=True,
             schedule_offset_minutes=180)  # wanted at 10:00, in the day shift
    sleeping = _tech(uow_factory, org, "Day shift", DAY_SHIFT, km_away=0.5)
    _tech(uow_factory, org, "Early shift", EARLY_SHIFT, km_away=20)
    wo = _order(uow_factory, org)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    assert _assigned_to(uow_factory, wo).technician_id == sleeping


def test_the_dispatcher_sees_off_shift_technicians_marked_and_may_choose_one(uow_factory, org):
    add_rule(uow_factory(), org)  # no automatic assignment
    sleeping = _tech(uow_factory, org, "Day shift", DAY_SHIFT, km_away=0.5)
    early = _tech(uow_factory, org, "Early shift", EARLY_SHIFT, km_away=20)
    wo = _order(uow_factory, org)
    listed = assignment.list_candidates(uow=uow_factory(), actor=org, work_order_id=wo, now=NOW)
    by_id = {c.technician_id: c for c in listed.candidates}
    assert (by_id[sleeping].off_shift, by_id[sleeping].eligible) == (True, False)
    assert by_id[sleeping].reason == "off shift now (outside working hours)"
    assert (by_id[early].off_shift, by_id[early].eligible, by_id[early].rank) == (False, True, 1)
    view = assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=wo, technician_id=sleeping,
                                        now=NOW)
    assert view.technician_id == sleeping
    assert "off shift now" in view.assignment_explanation["why"]
    assert view.assignment_explanation["off_shift"] is True
