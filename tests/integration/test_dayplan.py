"""Optimize a day against the real database: a day planned badly by hand is solved to the
optimum known by hand and applied in one transaction; pinned and started visits stay;
skills, working hours, absences and booked windows hold (checked here from the stored rows,
not from the solver's report); a plan is refused after another workstation changed the day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from desk_desktop.domain.travel import km_between
from desk_desktop.services.absences import Period, add_absence
from desk_desktop.services.assignment import explain, reschedule_work_order
from desk_desktop.services.dayplan import PlanCancelled, PlanOutdated, apply_proposal, optimize_day
from desk_desktop.services.org_switches import set_switch
from tests.conftest import acting_as, make_org
from tests.integration.workorder_helpers import add_customer, add_technician, insert_ticket

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2026, 12, 8)
MONDAY_NOON = datetime(2026, 12, 7, 12, 0, tzinfo=BERLIN)
HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
WEST, EAST = (52.52, 13.30), (52.52, 13.50)
ROAD, SPEED = 1.3, 40.0


def local(h: int, m: int = 0) -> datetime:
    return datetime(2026, 12, 8, h, m, tzinfo=BERLIN)


def order(factory, org, *, where, tech=None, start=None, minutes=60, status="scheduled", skills=(), pinned=False,
          window=None, priority="medium"):
    ticket = insert_ticket(factory(), org, customer_id=add_customer(factory(), org), priority=priority,
                           lat=where[0], lon=where[1])
    with factory() as uow:
        wo = uow.session.execute(text(
            "INSERT INTO work_orders (organization_id, source_ticket_id, source, work_type, priority, status, "
            "technician_id, duration_minutes, scheduled_start, scheduled_end, required_skills, pinned, "
            "window_start, window_end, notify_technician) VALUES (:o, :t, 'manual', 'repair', :p, :s, :tech, :d, :a, "
            ":b, :skills, :pinned, :ws, :we, true) RETURNING id"),
            {"o": org.organization_id, "t": ticket, "p": priority, "s": status, "tech": tech, "d": minutes,
             "a": start, "b": start + timedelta(minutes=minutes) if start else None, "skills": list(skills),
             "pinned": pinned, "ws": window[0] if window else None, "we": window[1] if window else None}
        ).scalar_one()
        uow.commit()
    return wo


def stored(factory, ids):
    with factory() as uow:
        return {r.id: r for r in uow.session.execute(text(
            "SELECT id, technician_id, status, scheduled_start, scheduled_end, assignment_explanation "
            "FROM work_orders WHERE id = ANY(:ids)"), {"ids": list(ids)})}


@pytest.fixture
def two_clusters(uow_factory):
    """West and East, each living next to one cluster of three orders — booked the wrong way
    round: West drives to the east cluster all day and East to the west one."""
    org = make_org(uow_factory(), slug="plan", timezone="Europe/Berlin")
    west = add_technician(uow_factory(), org, name="Wes West", lat=WEST[0], lon=WEST[1], working_hours=HOURS)
    east = add_technician(uow_factory(), org, name="Eve East", lat=EAST[0], lon=EAST[1], working_hours=HOURS)
    near_west = [(WEST[0] + 0.01 * k, WEST[1] + 0.01) for k in range(3)]
    near_east = [(EAST[0] + 0.01 * k, EAST[1] - 0.01) for k in range(3)]
    orders = {}
    for k, where in enumerate(near_west):
        orders[("w", k)] = order(uow_factory, org, where=where, tech=east, start=local(9 + 2 * k))
    for k, where in enumerate(near_east):
        orders[("e", k)] = order(uow_factory, org, where=where, tech=west, start=local(9 + 2 * k))
    return org, west, east, orders, near_west, near_east


def best_km(base, cluster):
    """The shortest day through a cluster in a line: to its near end, along it, and back."""
    return (km_between(base, cluster[0]) + km_between(cluster[0], cluster[-1]) + km_between(cluster[-1], base)) * ROAD


def test_a_crossed_day_is_planned_to_its_optimum_and_applied(uow_factory, two_clusters):
    org, west, east, orders, near_west, near_east = two_clusters
    proposal = optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=2, now=MONDAY_NOON)
    optimum = best_km(WEST, near_west) + best_km(EAST, near_east)
    assert proposal.km_after == pytest.approx(optimum, abs=0.01)
    assert proposal.km_before > 2 * optimum  # each crossed the city and back
    assert {c.what for c in proposal.changes} == {"move"} and len(proposal.changes) == 6
    assert proposal.unplanned == ()

    applied = apply_proposal(uow=uow_factory(), actor=org, proposal=proposal, now=MONDAY_NOON)
    assert applied.changed == 6
    rows = stored(uow_factory, orders.values())
    assert {rows[orders[("w", k)]].technician_id for k in range(3)} == {west}
    assert {rows[orders[("e", k)]].technician_id for k in range(3)} == {east}
    for r in rows.values():
        assert r.status == "scheduled"
        assert local(8) <= r.scheduled_start and r.scheduled_end <= local(17)
        assert "Optimized plan for Tue 8 Dec: saves" in explain(r.assignment_explanation)
    with uow_factory() as uow:
        audited = uow.session.execute(text(
            "SELECT count(*) FROM audit_log WHERE organization_id = :o AND action = 'work_order.assigned' "
            "AND summary LIKE '%(optimized)%'"), {"o": org.organization_id}).scalar_one()
        told = uow.session.execute(text(
            "SELECT count(*) FROM notifications WHERE organization_id = :o"), {"o": org.organization_id}).scalar_one()
    assert audited == 6
    assert told >= 6  # each technician hears of each order they gained or lost

    # Planned again, the day is already at its optimum: nothing left to change.
    again = optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=1, now=MONDAY_NOON)
    assert again.changes == () and again.km_before == pytest.approx(optimum, abs=0.01)


def test_apply_is_refused_after_another_workstation_changed_the_day(uow_factory, two_clusters):
    org, west, east, orders, *_ = two_clusters
    proposal = optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=1, now=MONDAY_NOON)
    moved = orders[("w", 0)]
    reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=moved, start=local(15, 30))
    before = stored(uow_factory, orders.values())
    with pytest.raises(PlanOutdated, match=rf"WO-{moved:06d} changed.*optimize again"):
        apply_proposal(uow=uow_factory(), actor=org, proposal=proposal, now=MONDAY_NOON)
    assert stored(uow_factory, orders.values()) == before  # nothing written

    # A new order waiting for anybody does not make a plan outdated.
    fresh = optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=1, now=MONDAY_NOON)
    order(uow_factory, org, where=WEST, status="unassigned")
    assert apply_proposal(uow=uow_factory(), actor=org, proposal=fresh, now=MONDAY_NOON).changed == 6


def test_an_applied_plan_is_undone_to_the_day_as_it_was_unless_the_day_changed_since(uow_factory, two_clusters):
    org, west, east, orders, *_ = two_clusters
    waiting = order(uow_factory, org, where=(WEST[0], WEST[1] + 0.02), status="unassigned")
    ids = [*orders.values(), waiting]
    as_it_was = {r.id: (r.technician_id, r.status, r.scheduled_start, r.scheduled_end)
                 for r in stored(uow_factory, ids).values()}
    proposal = optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=1, now=MONDAY_NOON)
    assert {c.order.id for c in proposal.changes} == set(ids)  # six moved, the waiting one planned
    applied = apply_proposal(uow=uow_factory(), actor=org, proposal=proposal, now=MONDAY_NOON)
    assert stored(uow_factory, [waiting])[waiting].technician_id == west

    undone = apply_proposal(uow=uow_factory(), actor=org, proposal=applied.undo, now=MONDAY_NOON)
    assert undone.changed == 7 and undone.undo is None
    rows = stored(uow_factory, ids)
    assert {r.id: (r.technician_id, r.status, r.scheduled_start, r.scheduled_end) for r in rows.values()} == as_it_was
    assert explain(rows[orders[("w", 0)]].assignment_explanation).count("Optimized plan for Tue 8 Dec undone") == 1
    with uow_factory() as uow:
        summary = uow.session.execute(text(
            "SELECT summary FROM audit_log WHERE organization_id = :o AND action = 'day_plan.undone'"),
            {"o": org.organization_id}).scalar_one()
    assert summary.startswith("Optimized plan for Tue 8 Dec undone: back as it was") and summary.endswith(
        ": 7 orders changed")

    # Applied again, then one of its orders changed elsewhere: the undo is refused, nothing moves.
    applied = apply_proposal(uow=uow_factory(), actor=org, proposal=optimize_day(
        uow=uow_factory(), actor=org, day=TUESDAY, seconds=1, now=MONDAY_NOON), now=MONDAY_NOON)
    moved = orders[("e", 0)]
    reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=moved, start=local(16))
    now_stored = stored(uow_factory, ids)
    with pytest.raises(PlanOutdated, match=rf"WO-{moved:06d} changed"):
        apply_proposal(uow=uow_factory(), actor=org, proposal=applied.undo, now=MONDAY_NOON)
    assert stored(uow_factory, ids) == now_stored


def test_pinned_and_started_visits_stay_and_the_rules_hold(uow_factory):
    org = make_org(uow_factory(), slug="rules", timezone="Europe/Berlin")
    ann = add_technician(uow_factory(), org, name="Ann Lee", lat=WEST[0], lon=WEST[1], skills={"hvac": 4},
                         working_hours=HOURS)
    bob = add_technician(uow_factory(), org, name="Bob Stone", lat=EAST[0], lon=EAST[1], skills={"plumbing": 3},
                         working_hours=HOURS)
    add_absence(uow=uow_factory(), actor=org, technician_id=ann, period=Period(start=local(12), end=local(14)),
                reason="Dentist")
    pinned = order(uow_factory, org, where=EAST, tech=ann, start=local(9), pinned=True)  # far away, but pinned
    started = order(uow_factory, org, where=WEST, tech=bob, start=local(8), status="on_site")
    windowed = order(uow_factory, org, where=(52.53, 13.31), skills=("hvac",), status="unassigned",
                     window=(local(14), local(15)))
    # Ann's day has room for three hours of work: before the dentist, and after it until 17:00.
    hvac = [order(uow_factory, org, where=(52.51 + 0.005 * k, 13.29), skills=("hvac",), status="unassigned")
            for k in range(2)]
    plumbing = [order(uow_factory, org, where=(52.52, 13.49 - 0.005 * k), skills=("plumbing",), status="unassigned")
                for k in range(3)]
    nobody = order(uow_factory, org, where=WEST, skills=("roofing",), status="unassigned")
    proposal = optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=2, now=MONDAY_NOON)
    assert [(o.id, why) for o, why in proposal.unplanned] == [(nobody, "nobody on the plan has roofing")]
    apply_proposal(uow=uow_factory(), actor=org, proposal=proposal, now=MONDAY_NOON)

    rows = stored(uow_factory, [pinned, started, windowed, nobody, *hvac, *plumbing])
    assert (rows[pinned].technician_id, rows[pinned].scheduled_start) == (ann, local(9))
    assert (rows[started].technician_id, rows[started].scheduled_start, rows[started].status) == (bob, local(8), "on_site")
    assert rows[nobody].technician_id is None
    assert {rows[i].technician_id for i in [windowed, *hvac]} == {ann}
    assert {rows[i].technician_id for i in plumbing} == {bob}
    assert local(14) <= rows[windowed].scheduled_start <= local(15)
    for tech in (ann, bob):
        mine = sorted((r.scheduled_start, r.scheduled_end) for r in rows.values() if r.technician_id == tech)
        for (_, a_end), (b_start, _) in zip(mine, mine[1:], strict=False):
            assert a_end <= b_start  # no overlap
        for s, e in mine:
            assert local(8) <= s and e <= local(17)
            if tech == ann:
                assert e <= local(12) or s >= local(14)  # not during the dentist


def test_cancel_stops_the_solver_and_changes_nothing(uow_factory, two_clusters):
    org, *_ = two_clusters
    with pytest.raises(PlanCancelled):
        optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, seconds=30, now=MONDAY_NOON, cancelled=lambda: True)


def test_a_day_that_is_over_cannot_be_optimized(uow_factory, two_clusters):
    org, *_ = two_clusters
    with pytest.raises(Exception, match="is over"):
        optimize_day(uow=uow_factory(), actor=org, day=TUESDAY, now=datetime(2026, 12, 9, 1, tzinfo=UTC))


def test_the_evening_run_plans_the_next_day_once_for_organizations_that_asked(uow_factory, two_clusters):
    from desk_desktop.services.dayplan.nightly import plan_next_days

    org, west, east, orders, *_ = two_clusters
    other = make_org(uow_factory(), slug="other", timezone="Europe/Berlin")  # did not ask
    with acting_as(uow_factory, other):
        other_tech = add_technician(uow_factory(), other, name="Olga Other", lat=EAST[0], lon=EAST[1],
                                    working_hours=HOURS)
        crossed = order(uow_factory, other, where=WEST, tech=other_tech, start=local(10))
    set_switch(uow=uow_factory(), actor=org, name="nightly_optimize", enabled=True)
    kw = dict(uow_factory=uow_factory, seconds=1, speed_kmh=SPEED, road_factor=ROAD)
    afternoon = plan_next_days(now=datetime(2026, 12, 7, 17, 0, tzinfo=BERLIN), **kw)
    assert (afternoon.planned, afternoon.changed) == (0, 0)  # not evening yet
    assert stored(uow_factory, [orders[("w", 0)]])[orders[("w", 0)]].technician_id == east

    evening = plan_next_days(now=datetime(2026, 12, 7, 20, 30, tzinfo=BERLIN), **kw)
    assert (evening.planned, evening.changed) == (1, 6)
    assert stored(uow_factory, [orders[("w", 0)]])[orders[("w", 0)]].technician_id == west
    with acting_as(uow_factory, other):
        assert stored(uow_factory, [crossed])[crossed].scheduled_start == local(10)  # the other organization's day
    later = plan_next_days(now=datetime(2026, 12, 7, 21, 30, tzinfo=BERLIN), **kw)
    assert later.planned == 0  # once per evening
