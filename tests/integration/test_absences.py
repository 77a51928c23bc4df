"""Time off (real PostGIS): an absence is busy time for scheduling, keeps an absent technician
from work due now (still listed, marked), refuses a reschedule into it, never overlaps
another absence, is audited, and tells the dispatcher about visits already inside it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db.models.people import NO_OVERLAPPING_ABSENCES
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.services import absences, assignment
from desk_desktop.services.absences import AbsenceInvalid, Period
from desk_desktop.services.assignment import VisitClash
from desk_desktop.services.common import NotFound
from tests.integration.workorder_helpers import add_customer, add_rule, add_technician, create_ticket_with_automation

NOW = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # Tuesday 8 December, 07:00 UTC (the organization is on UTC)
HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
EARLY = {d: [["06:00", "14:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
SITE = (48.8566, 2.3522)


def at(h: int, m: int = 0, day: int = 8) -> datetime:
    return datetime(2026, 12, day, h, m, tzinfo=UTC)


def _order(factory, org, *, auto=False, offset=90, duration=60) -> int:
    cust = add_customer(factory(), org)
    _, created = create_ticket_with_automation(factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1], now=NOW)
    if auto:  # the assign job picks it up and schedules it at now + offset (08:30), not due now
        with factory() as uow:
            uow.session.execute(text(
                "UPDATE work_orders SET needs_assignment = true, next_assign_at = NULL, auto_schedule = true, "
                "schedule_offset_minutes = :o, duration_minutes = :d, assignment_logic = 'nearest' WHERE id = :id"),
                {"o": offset, "d": duration, "id": created.work_order_id})
            uow.commit()
    return created.work_order_id


def _slot(factory, wo_id):
    with factory() as uow:
        return uow.session.execute(text("SELECT technician_id, status, scheduled_start, scheduled_end, "
                                        "unassigned_reason, assignment_explanation FROM work_orders WHERE id = :id"),
                                   {"id": wo_id}).one()


def _book(factory, wo_id, tech, start, minutes=60):
    with factory() as uow:
        uow.session.execute(text("UPDATE work_orders SET technician_id = :t, status = 'scheduled', "
                                 "scheduled_start = :a, scheduled_end = :b WHERE id = :id"),
                            {"t": tech, "a": start, "b": start + timedelta(minutes=minutes), "id": wo_id})
        uow.commit()


def _away(factory, org, tech, start, end, reason="Doctor"):
    return absences.add_absence(uow=factory(), actor=org, technician_id=tech, period=Period(start=start, end=end),
                                reason=reason)


@pytest.fixture
def ann(uow_factory, org):
    add_rule(uow_factory(), org)  # every ticket gets an order; nobody assigns it unless the test asks
    return add_technician(uow_factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], skills={"hvac": 3},
                          working_hours=HOURS, max_open=20)


# ------------------------------------------------------------------ scheduling around an absence


def test_an_absence_in_the_middle_of_the_day_moves_the_auto_scheduled_visit_after_it(uow_factory, org, ann):
    _away(uow_factory, org, ann, at(8), at(11), reason="Doctor")
    wo = _order(uow_factory, org, auto=True)  # wants 08:30–09:30
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    got = _slot(uow_factory, wo)
    assert (got.technician_id, got.scheduled_start, got.scheduled_end) == (ann, at(11), at(12))
    assert "absence (Doctor)" in got.assignment_explanation["schedule"]["note"]


def test_the_batch_path_schedules_many_orders_around_the_absence(uow_factory, org, ann):
    _away(uow_factory, org, ann, at(9), at(12), reason="Training")
    orders = [_order(uow_factory, org, auto=True) for _ in range(3)]  # each wants 08:30, one hour
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 3
    starts = sorted(_slot(uow_factory, wo).scheduled_start for wo in orders)
    # 08:30–09:30 would overlap the absence from 09:00: all three come after it, back to back.
    assert starts == [at(12), at(13), at(14)]


def test_a_dispatchers_assignment_schedules_after_the_absence_too(uow_factory, org, ann):
    _away(uow_factory, org, ann, at(8), at(10), reason="Dentist")
    wo = _order(uow_factory, org, auto=True)
    view = assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=wo, technician_id=ann, now=NOW)
    assert (view.scheduled_start, view.scheduled_end) == (at(10), at(11))


def test_whole_days_off_push_the_visit_to_the_next_working_day(uow_factory, org, ann):
    absences.add_absence(uow=uow_factory(), actor=org, technician_id=ann,
                         period=Period(first_day=date(2026, 12, 8), last_day=date(2026, 12, 9)), reason="Holiday")
    wo = _order(uow_factory, org, auto=True)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    assert _slot(uow_factory, wo).scheduled_start == at(8, day=10)  # Thursday 08:00


# ------------------------------------------------------------------ work due now


@pytest.mark.parametrize("logic", ["nearest", "skill_match", "workload", "round_robin"])
def test_an_absent_technician_is_never_auto_assigned_work_due_now(uow_factory, org, logic):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic=logic)  # not scheduled: due now
    near = add_technician(uow_factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], working_hours=EARLY,
                          max_open=20)  # on shift at 07:00, nearest, idle, lowest id
    far = add_technician(uow_factory(), org, name="Bob Roe", lat=SITE[0] + 0.2, lon=SITE[1], working_hours=EARLY,
                         max_open=20)
    _away(uow_factory, org, near, at(6), at(18), reason="Sick")
    cust = add_customer(uow_factory(), org)
    orders = [create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1],
                                            now=NOW)[1].work_order_id for _ in range(3)]
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 3
    assert {_slot(uow_factory, wo).technician_id for wo in orders} == {far}


def test_with_only_absent_technicians_work_due_now_waits_and_says_why(uow_factory, org):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest")
    ann = add_technician(uow_factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], working_hours=EARLY)
    _away(uow_factory, org, ann, at(0), at(0, day=9), reason="Sick")
    cust = add_customer(uow_factory(), org)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=SITE[0], lon=SITE[1], now=NOW)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).unassigned == 1
    got = _slot(uow_factory, created.work_order_id)
    assert got.technician_id is None and "absent now (Sick)" in got.unassigned_reason


def test_the_dispatcher_sees_absent_technicians_marked_and_may_choose_one(uow_factory, org):
    add_rule(uow_factory(), org)
    ann = add_technician(uow_factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], working_hours=EARLY)
    bob = add_technician(uow_factory(), org, name="Bob Roe", lat=SITE[0] + 0.2, lon=SITE[1], working_hours=EARLY)
    _away(uow_factory, org, ann, at(6), at(10), reason="Sick")
    wo = _order(uow_factory, org)
    listed = assignment.list_candidates(uow=uow_factory(), actor=org, work_order_id=wo, now=NOW)
    by_id = {c.technician_id: c for c in listed.candidates}
    assert (by_id[ann].absent, by_id[ann].absence_reason, by_id[ann].eligible) == (True, "Sick", False)
    assert by_id[ann].reason == "absent now (Sick)"
    assert (by_id[bob].absent, by_id[bob].eligible, by_id[bob].rank) == (False, True, 1)
    view = assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=wo, technician_id=ann, now=NOW)
    assert view.technician_id == ann
    assert "absent now (Sick)" in view.assignment_explanation["why"]
    assert view.assignment_explanation["absent"] is True


# ------------------------------------------------------------------ manual reschedule


def test_a_reschedule_into_an_absence_is_refused_naming_it_even_when_booking_anyway(uow_factory, org, ann):
    absences.add_absence(uow=uow_factory(), actor=org, technician_id=ann,
                         period=Period(first_day=date(2026, 12, 7), last_day=date(2026, 12, 9)), reason="Holiday")
    wo = _order(uow_factory, org)
    _book(uow_factory, wo, ann, at(10, day=10))
    for anyway in (False, True):
        with pytest.raises(VisitClash, match=r"Ann Lee is away \(Holiday\) from Mon 7 Dec to Wed 9 Dec"):
            assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=wo, start=at(10, day=9),
                                             book_anyway=anyway)
    assert _slot(uow_factory, wo).scheduled_start == at(10, day=10)  # unchanged
    # The day after the absence is fine.
    view = assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=wo, start=at(9, day=10))
    assert view.scheduled_start == at(9, day=10)


# ------------------------------------------------------------------ the absences themselves


def test_overlapping_absences_are_refused_naming_the_one_there(uow_factory, org, ann):
    absences.add_absence(uow=uow_factory(), actor=org, technician_id=ann,
                         period=Period(first_day=date(2026, 12, 7), last_day=date(2026, 12, 9)), reason="Holiday")
    with pytest.raises(AbsenceInvalid, match=r"Ann Lee is away \(Holiday\) from Mon 7 Dec to Wed 9 Dec already"):
        _away(uow_factory, org, ann, at(10, day=9), at(12, day=9), reason="Training")
    # Back to back is not an overlap.
    _away(uow_factory, org, ann, at(0, day=10), at(12, day=10), reason="Training")
    assert [a.reason for a in absences.list_absences(uow=uow_factory(), actor=org, technician_id=ann,
                                                     now=NOW)] == ["Holiday", "Training"]


def test_the_database_refuses_overlapping_absences_whoever_writes(uow_factory, org, ann):
    _away(uow_factory, org, ann, at(9), at(12))
    with pytest.raises(IntegrityError) as info:
        with uow_factory() as uow:
            uow.session.execute(text("INSERT INTO technician_absences (organization_id, technician_id, starts_at, "
                                     "ends_at, reason, created_by) VALUES (:o, :t, :a, :b, 'x', 'x')"),
                                {"o": org.organization_id, "t": ann, "a": at(11), "b": at(13)})
            uow.commit()
    assert info.value.orig.diag.constraint_name == NO_OVERLAPPING_ABSENCES


def test_bad_periods_and_unknown_technicians_get_errors_a_dispatcher_can_act_on(uow_factory, org, ann):
    with pytest.raises(AbsenceInvalid) as info:
        _away(uow_factory, org, ann, at(12), at(9), reason=" ")
    assert "ends before it starts" in info.value.problems["end"]
    assert "Give a reason" in info.value.problems["reason"]
    with pytest.raises(AbsenceInvalid, match="last day is before the first day"):
        absences.add_absence(uow=uow_factory(), actor=org, technician_id=ann,
                             period=Period(first_day=date(2026, 12, 9), last_day=date(2026, 12, 7)), reason="Holiday")
    with pytest.raises(NotFound, match="no technician 987654"):
        _away(uow_factory, org, 987654, at(9), at(12))
    assert absences.list_absences(uow=uow_factory(), actor=org, include_past=True) == ()


def test_adding_an_absence_over_booked_visits_names_them_and_moves_nothing(uow_factory, org, ann):
    first, second, later = (_order(uow_factory, org) for _ in range(3))
    _book(uow_factory, first, ann, at(10, day=9))
    _book(uow_factory, second, ann, at(14, day=9))
    _book(uow_factory, later, ann, at(10, day=11))
    saved = absences.add_absence(uow=uow_factory(), actor=org, technician_id=ann,
                                 period=Period(first_day=date(2026, 12, 9), last_day=date(2026, 12, 10)),
                                 reason="Sick")
    assert [v.work_order_id for v in saved.visits_inside] == [first, second]
    assert saved.warning() == (f"2 visits fall inside this absence: {work_order_number(first)} Wed 9 Dec 10:00, "
                               f"{work_order_number(second)} Wed 9 Dec 14:00 — reschedule or reassign them.")
    assert _slot(uow_factory, first).scheduled_start == at(10, day=9)  # not moved silently


def test_adding_changing_and_removing_are_audited(uow_factory, org, ann):
    saved = _away(uow_factory, org, ann, at(9), at(12), reason="Doctor")
    absences.update_absence(uow=uow_factory(), actor=org, absence_id=saved.absence.id,
                            period=Period(start=at(9), end=at(13)), reason="Doctor and pharmacy")
    removed = absences.remove_absence(uow=uow_factory(), actor=org, absence_id=saved.absence.id)
    assert removed.reason == "Doctor and pharmacy"
    with uow_factory() as uow:
        rows = uow.session.execute(text("SELECT action, summary FROM audit_log WHERE entity = 'technician' "
                                        "AND entity_id = :t AND action LIKE 'technician.absence%' ORDER BY id"),
                                   {"t": ann}).all()
    assert [r.action for r in rows] == ["technician.absence_added", "technician.absence_changed",
                                        "technician.absence_removed"]
    assert "Ann Lee is away (Doctor) on Tue 8 Dec from 09:00 to 12:00" in rows[0].summary
    assert "was Doctor on Tue 8 Dec from 09:00 to 12:00" in rows[1].summary
    with pytest.raises(NotFound, match="no absence"):
        absences.remove_absence(uow=uow_factory(), actor=org, absence_id=saved.absence.id)


def test_the_map_draws_a_technician_absent_now_as_off_shift(uow_factory, org):
    from desk_desktop.services import mapdata

    ann = add_technician(uow_factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], working_hours=EARLY)
    bob = add_technician(uow_factory(), org, name="Bob Roe", lat=SITE[0], lon=SITE[1], working_hours=EARLY)
    _away(uow_factory, org, ann, at(6), at(10), reason="Sick")
    states = {t.id: t.state for t in mapdata.load_map_data(uow=uow_factory(), actor=org, now=NOW).technicians}
    assert states == {ann: mapdata.STATE_OFF_SHIFT, bob: mapdata.STATE_AVAILABLE}
    arrays = mapdata.load_map_arrays(uow=uow_factory(), actor=org, now=NOW).technicians
    assert f"[{ann}," in arrays and f"[{bob}," in arrays
    codes = {int(e.split(",")[0]): int(e.split(",")[3]) for e in arrays.strip("[]").split("],[")}
    assert codes == {ann: mapdata.STATE_CODES[mapdata.STATE_OFF_SHIFT], bob: mapdata.STATE_CODES[mapdata.STATE_AVAILABLE]}
    later = {t.id: t.state for t in mapdata.load_map_data(uow=uow_factory(), actor=org, now=at(11)).technicians}
    assert later[ann] == mapdata.STATE_AVAILABLE
