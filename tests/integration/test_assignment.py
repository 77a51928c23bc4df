"""The four assignment strategies, scheduling, retries and manual operations (real PostGIS)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from desk_desktop.db.models import AssignmentState, AuditEntry, Notification, WorkOrder
from desk_desktop.services import assignment
from desk_desktop.services.assignment import TechnicianNotEligible, job
from tests.integration.workorder_helpers import (
    add_customer,
    add_rule,
    add_technician,
    create_ticket_with_automation,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
SITE = (48.8566, 2.3522)  # Paris


def haversine_m(a, b):
    """Great-circle distance on a sphere of radius 6,371,008.8 m — computed independently of PostGIS."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def _order(uow_factory, org, *, lat=SITE[0], lon=SITE[1], cust=None):
    """A ticket at (lat, lon) and the work order the organization's rule makes of it."""
    cust = cust or add_customer(uow_factory(), org)
    return create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=lat, lon=lon, now=NOW)


def _setup_rule(uow_factory, org, logic, skills=(), **kw):
    return add_rule(uow_factory(), org, auto_assign=True, assignment_logic=logic, required_skills=list(skills), **kw)


def _get(uow_factory, wo_id) -> WorkOrder:
    uow = uow_factory()
    with uow:
        wo = uow.session.get(WorkOrder, wo_id)
        uow.session.expunge(wo)
    return wo


def _run(uow_factory, now=NOW):
    return assignment.assign_pending(uow_factory=uow_factory, now=now)


def test_nearest_picks_closest_eligible_technician(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest", skills=["hvac"])
    # Positions around Paris; the closest one lacks the skill, another is at capacity.
    spots = {
        "no-skill": ((48.8600, 2.3500), {"plumbing": 5}, 8),
        "full": ((48.8700, 2.3600), {"hvac": 5}, 0),
        "versailles": ((48.8049, 2.1204), {"hvac": 2}, 8),
        "saint-denis": ((48.9362, 2.3574), {"hvac": 3}, 8),
        "meaux": ((48.9601, 2.8788), {"hvac": 5}, 8),
    }
    ids = {name: add_technician(uow_factory(), org, name=name, lat=p[0], lon=p[1], skills=s, max_open=m)
           for name, (p, s, m) in spots.items()}
    _, created = _order(uow_factory, org)
    result = _run(uow_factory)
    assert result.assigned == 1
    wo = _get(uow_factory, created.work_order_id)
    eligible = {n: haversine_m(SITE, spots[n][0]) for n in ("versailles", "saint-denis", "meaux")}
    expected = min(eligible, key=eligible.get)
    assert wo.technician_id == ids[expected]
    e = wo.assignment_explanation
    assert e["strategy"] == "nearest" and e["winner"]["name"] == expected
    # Distances reported in metres agree with the independent computation (sphere vs spheroid: < 0.5 %).
    for c in e["candidates"]:
        if c["name"] in eligible:
            assert c["distance_m"] == pytest.approx(eligible[c["name"]], rel=0.005)
    ranked = [c["name"] for c in e["candidates"] if c["eligible"]]
    assert ranked == sorted(eligible, key=eligible.get)


def test_nearest_respects_radius(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest")
    add_technician(uow_factory(), org, name="lyon", lat=45.7640, lon=4.8357)  # ~390 km away
    _, created = _order(uow_factory, org)
    result = _run(uow_factory)
    assert result.unassigned == 1
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id is None and "100 km" in wo.unassigned_reason


def test_fresh_current_location_beats_home_base(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest")
    far_home = add_technician(uow_factory(), org, name="travelling", lat=49.4431, lon=1.0993,  # Rouen
                              current=(48.8570, 2.3530), location_updated_at=NOW - timedelta(hours=1))
    add_technician(uow_factory(), org, name="stale", lat=48.90, lon=2.40,
                   current=(48.8567, 2.3523), location_updated_at=NOW - timedelta(days=2))
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    assert _get(uow_factory, created.work_order_id).technician_id == far_home


def test_skill_match_picks_most_proficient(uow_factory, org):
    _setup_rule(uow_factory, org, "skill_match", skills=["hvac", "electrical"])
    add_technician(uow_factory(), org, name="close-junior", lat=48.857, lon=2.353,
                   skills={"hvac": 2, "electrical": 2})
    best = add_technician(uow_factory(), org, name="far-expert", lat=48.95, lon=2.50,
                          skills={"hvac": 5, "electrical": 4})
    add_technician(uow_factory(), org, name="one-skill", lat=48.857, lon=2.352, skills={"hvac": 5})
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id == best
    assert "best proficiency" in wo.assignment_explanation["why"]
    assert wo.assignment_explanation["winner"]["skills"] == {"hvac": 5, "electrical": 4}


def test_skill_match_ties_go_to_the_closest(uow_factory, org):
    _setup_rule(uow_factory, org, "skill_match", skills=["hvac"])
    add_technician(uow_factory(), org, name="far", lat=48.95, lon=2.50, skills={"hvac": 4})
    near = add_technician(uow_factory(), org, name="near", lat=48.86, lon=2.36, skills={"hvac": 4})
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    assert _get(uow_factory, created.work_order_id).technician_id == near


def test_workload_picks_least_loaded(uow_factory, org):
    _setup_rule(uow_factory, org, "workload")
    busy = add_technician(uow_factory(), org, name="busy", lat=48.857, lon=2.353)
    calm = add_technician(uow_factory(), org, name="calm", lat=48.95, lon=2.50)
    # Give "busy" two open orders and "calm" one finished one (finished does not count).
    cust = add_customer(uow_factory(), org)
    uow = uow_factory()
    with uow:
        for tech, status in ((busy, "assigned"), (busy, "on_site"), (calm, "completed"), (calm, "cancelled")):
            uow.session.add(WorkOrder(organization_id=org.organization_id, source="manual", work_type="repair",
                                      priority="low", status=status, technician_id=tech))
        uow.commit()
    _, created = _order(uow_factory, org, cust=cust)
    _run(uow_factory)
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id == calm
    loads = {c["name"]: c["open_jobs"] for c in wo.assignment_explanation["candidates"]}
    assert loads == {"busy": 2, "calm": 0}


def test_round_robin_spreads_100_orders_evenly(uow_factory, org):
    rule = _setup_rule(uow_factory, org, "round_robin", skills=["gas"])
    techs = [add_technician(uow_factory(), org, name=f"rr{i}", lat=48.85 + i / 100, lon=2.35, skills={"gas": 3},
                            max_open=100) for i in range(7)]
    add_technician(uow_factory(), org, name="no gas", lat=48.856, lon=2.352, max_open=100)
    add_technician(uow_factory(), org, name="inactive", lat=48.856, lon=2.352, skills={"gas": 5}, active=False)
    cust = add_customer(uow_factory(), org)
    for _ in range(100):
        create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1], now=NOW)
    result = _run(uow_factory, now=NOW)
    assert result.assigned == 100
    uow = uow_factory()
    with uow:
        got = Counter(uow.session.scalars(select(WorkOrder.technician_id).where(WorkOrder.rule_id == rule)))
        pointer = uow.session.get(AssignmentState, rule).last_technician_id
    assert set(got) == set(techs)
    assert max(got.values()) - min(got.values()) <= 1
    assert pointer in techs


def test_round_robin_pointer_survives_between_runs(uow_factory, org):
    _setup_rule(uow_factory, org, "round_robin")
    techs = sorted(add_technician(uow_factory(), org, lat=48.86, lon=2.35, max_open=50) for _ in range(3))
    cust = add_customer(uow_factory(), org)
    chosen = []
    for _ in range(4):
        _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1],
                                                   now=NOW)
        _run(uow_factory)
        chosen.append(_get(uow_factory, created.work_order_id).technician_id)
    assert chosen == [techs[0], techs[1], techs[2], techs[0]]


def test_nearest_without_location_falls_back_to_workload_and_says_so(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest")
    busy = add_technician(uow_factory(), org, name="busy", lat=48.857, lon=2.353)
    calm = add_technician(uow_factory(), org, name="calm", lat=48.95, lon=2.50)
    uow = uow_factory()
    with uow:
        uow.session.add(WorkOrder(organization_id=org.organization_id, source="manual", work_type="repair",
                                  priority="low", status="assigned", technician_id=busy))
        uow.commit()
    cust = add_customer(uow_factory(), org)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, now=NOW)  # no location
    _run(uow_factory)
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id == calm
    e = wo.assignment_explanation
    assert e["requested_strategy"] == "nearest" and e["strategy"] == "workload"
    assert "no location" in e["fallback"]
    assert "no location" in assignment.explain(e)


def test_no_eligible_technician_stays_unassigned_and_is_retried(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest", skills=["solar"])
    add_technician(uow_factory(), org, name="sparky", lat=48.857, lon=2.353, skills={"electrical": 5})
    _, created = _order(uow_factory, org)
    result = _run(uow_factory)
    assert (result.assigned, result.unassigned) == (0, 1)
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id is None and wo.status == "unassigned" and wo.needs_assignment
    assert wo.assign_attempts == 1 and wo.next_assign_at > NOW
    assert "solar" in wo.unassigned_reason and "missing a required skill" in wo.unassigned_reason
    # Not due yet: the next run does not touch it.
    assert _run(uow_factory, now=NOW + timedelta(seconds=10)).unassigned == 0
    # A qualified technician joins; after the backoff the order is assigned.
    solar = add_technician(uow_factory(), org, name="sunny", lat=48.86, lon=2.36, skills={"solar": 4})
    later = wo.next_assign_at + timedelta(seconds=1)
    assert _run(uow_factory, now=later).assigned == 1
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id == solar and wo.unassigned_reason is None and not wo.needs_assignment


def test_assignment_is_audited_with_explanation(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest")
    tech = add_technician(uow_factory(), org, name="auditme", lat=48.857, lon=2.353)
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    uow = uow_factory()
    with uow:
        rows = list(uow.session.scalars(select(AuditEntry).where(AuditEntry.entity_id == created.work_order_id,
                                                                  AuditEntry.action == "work_order.assigned")))
        assert len(rows) == 1
        assert rows[0].details["technician_id"] == tech
        assert rows[0].details["explanation"]["strategy"] == "nearest"
        assert "auditme" in rows[0].summary


def test_scheduling_lands_at_now_plus_offset(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest", auto_schedule=True, schedule_offset_minutes=120, wo_duration_minutes=90)
    add_technician(uow_factory(), org, lat=48.857, lon=2.353)  # no working hours known
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    wo = _get(uow_factory, created.work_order_id)
    assert wo.status == "scheduled"
    assert wo.scheduled_start == NOW + timedelta(minutes=120)
    assert wo.scheduled_end == NOW + timedelta(minutes=210)


def test_scheduling_moves_into_working_hours(uow_factory, org):
    # Offset 10 h from Wednesday 10:00 UTC = 20:00, after hours → Thursday 08:00.
    _setup_rule(uow_factory, org, "nearest", auto_schedule=True, schedule_offset_minutes=600, wo_duration_minutes=60)
    hours = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    add_technician(uow_factory(), org, lat=48.857, lon=2.353, working_hours=hours)
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    wo = _get(uow_factory, created.work_order_id)
    assert wo.scheduled_start == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert wo.scheduled_end == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    sched = wo.assignment_explanation["schedule"]
    assert sched["moved"] is True and "next working window" in sched["note"]
    assert "next working window" in wo.assignment_explanation["why"]


def test_assignment_queues_notifications(uow_factory, org):
    _setup_rule(uow_factory, org, "nearest", notify_technician=True, notify_customer=True, auto_schedule=True)
    add_technician(uow_factory(), org, name="notified", lat=48.857, lon=2.353, email="tech@example.com")
    _, created = _order(uow_factory, org)
    _run(uow_factory)
    uow = uow_factory()
    with uow:
        rows = list(uow.session.scalars(select(Notification).where(Notification.work_order_id == created.work_order_id)))
        kinds = sorted((n.event, n.recipient_kind, n.channel) for n in rows)
    assert ("work_order.assigned", "technician", "email") in kinds
    assert ("work_order.assigned", "technician", "inbox") in kinds
    assert any(k[1] == "customer" for k in kinds)


def test_list_candidates_ranks_under_any_strategy(uow_factory, org):
    add_rule(uow_factory(), org, required_skills=["hvac"])  # no auto-assign: stays unassigned
    a = add_technician(uow_factory(), org, name="A", lat=48.857, lon=2.353, skills={"hvac": 1})
    b = add_technician(uow_factory(), org, name="B", lat=48.90, lon=2.40, skills={"hvac": 5})
    c = add_technician(uow_factory(), org, name="C", lat=48.858, lon=2.354)  # no hvac
    _, created = _order(uow_factory, org)
    near = assignment.list_candidates(uow=uow_factory(), actor=org, work_order_id=created.work_order_id,
                                      strategy="nearest", now=NOW)
    assert [x.technician_id for x in near.candidates] == [a, b, c]
    assert near.candidates[2].eligible is False and "hvac" in near.candidates[2].reason
    assert near.candidates[0].distance_m < near.candidates[1].distance_m
    skill = assignment.list_candidates(uow=uow_factory(), actor=org, work_order_id=created.work_order_id,
                                       strategy="skill_match", now=NOW)
    assert skill.candidates[0].technician_id == b and skill.candidates[0].matched_skills == {"hvac": 5}
    assert "B" in skill.explanation


def test_manual_assign_unassign_reschedule_are_audited(uow_factory, org):
    add_rule(uow_factory(), org, notify_technician=True)
    tech = add_technician(uow_factory(), org, name="Manual Mia", lat=48.857, lon=2.353)
    _, created = _order(uow_factory, org)
    wid = created.work_order_id
    view = assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=wid, technician_id=tech, now=NOW)
    assert view.technician_id == tech and view.status == "assigned" and view.technician_name == "Manual Mia"
    assert view.assignment_explanation["manual"] is True
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    view = assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=wid, start=start)
    assert view.scheduled_start == start and view.status == "scheduled"
    later = start + timedelta(days=1)
    view = assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=wid, start=later)
    assert view.scheduled_start == later and view.scheduled_end == later + timedelta(minutes=60)
    view = assignment.unassign_work_order(uow=uow_factory(), actor=org, work_order_id=wid, reason="sick")
    assert view.technician_id is None and view.status == "unassigned" and view.unassigned_reason == "sick"
    uow = uow_factory()
    with uow:
        actions = list(uow.session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == wid)
                                           .order_by(AuditEntry.id)))
        events = sorted(uow.session.scalars(select(Notification.event).where(Notification.work_order_id == wid,
                                                                               Notification.channel == "inbox")))
    assert actions == ["work_order.created", "work_order.assigned", "work_order.rescheduled",
                       "work_order.rescheduled", "work_order.unassigned"]
    # Given its first time, the technician is told (with the calendar invitation it had none of).
    assert events == ["work_order.assigned", "work_order.rescheduled", "work_order.scheduled",
                      "work_order.unassigned"]


def test_manual_assign_refuses_ineligible_unless_forced(uow_factory, org):
    add_rule(uow_factory(), org, required_skills=["gas"])
    tech = add_technician(uow_factory(), org, name="No Gas", lat=48.857, lon=2.353)
    _, created = _order(uow_factory, org)
    with pytest.raises(TechnicianNotEligible, match="missing skill gas"):
        assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=created.work_order_id,
                                     technician_id=tech, now=NOW)
    view = assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=created.work_order_id,
                                        technician_id=tech, now=NOW, force=True)
    assert view.technician_id == tech and view.assignment_explanation["forced"] is True


def test_list_open_work_orders(uow_factory, org):
    add_rule(uow_factory(), org)
    _, created = _order(uow_factory, org)
    rows = assignment.list_open_work_orders(uow=uow_factory(), actor=org, unassigned_only=True)
    assert [r.id for r in rows] == [created.work_order_id]
    assert rows[0].lat == pytest.approx(SITE[0]) and rows[0].lon == pytest.approx(SITE[1])


def test_nearest_looks_past_many_closer_ineligible_technicians(uow_factory, org):
    """Many more ineligible technicians with the skill close by than the answer's size (at
    capacity, or inactive): the walk goes past them until it finds the eligible one (still
    within the radius)."""
    _setup_rule(uow_factory, org, "nearest", skills=["fiber"])
    for i in range(60):
        add_technician(uow_factory(), org, name=f"full{i}", lat=48.857 + i / 10_000, lon=2.353,
                       skills={"fiber": 3}, max_open=0, active=i % 3 != 0)
    fiber = add_technician(uow_factory(), org, name="fiber", lat=49.2, lon=2.6, skills={"fiber": 2})
    _, created = _order(uow_factory, org)
    assert _run(uow_factory).assigned == 1
    wo = _get(uow_factory, created.work_order_id)
    assert wo.technician_id == fiber
    assert wo.assignment_explanation["winner"]["distance_m"] == pytest.approx(
        haversine_m(SITE, (49.2, 2.6)), rel=0.005)


def test_a_failing_order_is_put_aside_and_the_others_are_assigned(uow_factory, org, monkeypatch):
    _setup_rule(uow_factory, org, "workload")
    add_technician(uow_factory(), org, lat=48.857, lon=2.353)
    cust = add_customer(uow_factory(), org)
    ids = [create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1],
                                         now=NOW)[1].work_order_id for _ in range(3)]
    bad = ids[1]
    real = job.assign_automatically

    def flaky(uow, batch, wo, **kw):
        if wo.id == bad:
            raise RuntimeError("map service exploded")
        return real(uow, batch, wo, **kw)

    monkeypatch.setattr(job, "assign_automatically", flaky)
    first = _run(uow_factory)
    assert first.errors == 1
    again = _run(uow_factory)
    assert (again.assigned, again.errors) == (2, 0)
    assert _run(uow_factory).assigned == 0  # the bad one waits for its backoff
    wo = _get(uow_factory, bad)
    assert wo.technician_id is None and wo.assign_attempts == 1 and wo.next_assign_at > NOW
    assert "map service exploded" in wo.unassigned_reason
    assert all(_get(uow_factory, i).technician_id is not None for i in ids if i != bad)
