"""No double booking (real PostGIS, real processes): a technician's visits never overlap —
the database refuses it, automatic scheduling takes the first free slot, a manual
reschedule onto a busy slot is refused naming the clash, and two workstations booking the
same free hour at once end with one visit there and the other in the next slot."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db import migrate
from desk_desktop.db.models.workorders import NO_OVERLAP, work_order_number
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import assignment
from desk_desktop.services.assignment import VisitClash
from tests.conftest import make_org, run_together
from tests.integration.workorder_helpers import add_customer, add_rule, add_technician, create_ticket_with_automation

NOW = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # Tuesday 8 December, 07:00 UTC
HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
SITE = (48.8566, 2.3522)


def at(h: int, m: int = 0, day: int = 8) -> datetime:
    return datetime(2026, 12, day, h, m, tzinfo=UTC)


def _order(factory, org, *, duration=60, where=SITE) -> int:
    """A work order of the organization's (manual) rule, unassigned."""
    cust = add_customer(factory(), org)
    _, created = create_ticket_with_automation(factory(), org, customer_id=cust, lat=where[0], lon=where[1], now=NOW)
    with factory() as uow:
        uow.session.execute(text("UPDATE work_orders SET duration_minutes = :d WHERE id = :id"),
                            {"d": duration, "id": created.work_order_id})
        uow.commit()
    return created.work_order_id


def _book(factory, wo_id, tech, start, minutes=60, status="scheduled"):
    with factory() as uow:
        uow.session.execute(text("UPDATE work_orders SET technician_id = :t, status = :s, scheduled_start = :a, "
                                 "scheduled_end = :b WHERE id = :id"),
                            {"t": tech, "s": status, "a": start, "b": start + timedelta(minutes=minutes), "id": wo_id})
        uow.commit()


def _wants_auto(factory, wo_id, *, offset=90, duration=60):
    """The order asks the assign job for a technician and a time (now + offset: 08:30, more
    than an hour ahead, so not due now — Ann, off shift at 07:00, may take it)."""
    with factory() as uow:
        uow.session.execute(text(
            "UPDATE work_orders SET needs_assignment = true, next_assign_at = NULL, auto_schedule = true, "
            "schedule_offset_minutes = :o, duration_minutes = :d, assignment_logic = 'nearest' WHERE id = :id"),
            {"o": offset, "d": duration, "id": wo_id})
        uow.commit()


def _slot(factory, wo_id):
    with factory() as uow:
        return uow.session.execute(text("SELECT technician_id, status, scheduled_start, scheduled_end "
                                        "FROM work_orders WHERE id = :id"), {"id": wo_id}).one()


@pytest.fixture
def ann(uow_factory, org):
    add_rule(uow_factory(), org)  # every ticket gets an order, nobody assigns it
    return add_technician(uow_factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], skills={"hvac": 3},
                          working_hours=HOURS, max_open=20)


# ------------------------------------------------------------------ the database guarantee


def test_the_database_refuses_a_second_visit_overlapping_the_first(uow_factory, org, ann):
    first, second = _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, first, ann, at(10))
    with pytest.raises(IntegrityError) as refused:
        _book(uow_factory, second, ann, at(10, 30))
    assert refused.value.orig.diag.constraint_name == NO_OVERLAP
    _book(uow_factory, second, ann, at(11))  # back to back is fine: [10, 11) and [11, 12)
    assert _slot(uow_factory, second).scheduled_start == at(11)


@pytest.mark.parametrize("status", ["unassigned", "completed", "cancelled"])
def test_orders_that_are_no_visit_may_overlap(uow_factory, org, ann, status):
    first, second = _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, first, ann, at(10))
    _book(uow_factory, second, ann, at(10), status=status)
    assert _slot(uow_factory, second).status == status


def test_an_order_assigned_without_a_time_is_no_visit(uow_factory, org, ann):
    first, second = _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, first, ann, at(10))
    with uow_factory() as uow:
        uow.session.execute(text("UPDATE work_orders SET technician_id = :t, status = 'assigned', "
                                 "scheduled_start = NULL, scheduled_end = NULL WHERE id = :id"),
                            {"t": ann, "id": second})
        uow.commit()
    assert _slot(uow_factory, second).status == "assigned"


# ------------------------------------------------------------------ automatic scheduling


def test_the_assign_job_takes_the_first_free_slot_after_the_offset(uow_factory, org, ann):
    busy = _order(uow_factory, org)
    _book(uow_factory, busy, ann, at(8, 30), minutes=90)  # 08:30-10:00
    wanted = _order(uow_factory, org)
    _wants_auto(uow_factory, wanted)  # 08:30, busy until 10:00
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    got = _slot(uow_factory, wanted)
    assert (got.technician_id, got.status, got.scheduled_start, got.scheduled_end) == (ann, "scheduled", at(10),
                                                                                       at(11))
    view = assignment.get_work_order_or_raise(uow=uow_factory(), actor=org, work_order_id=wanted)
    assert f"first free slot after {work_order_number(busy)}" in view.assignment_explanation["why"]


def test_automatic_scheduling_leaves_the_drive_from_a_visit_elsewhere(uow_factory, org, ann):
    north = (SITE[0] + 19.9 / 111.195, SITE[1])  # 19.9 km away: 60 minutes at 20 km/h
    busy, wanted = _order(uow_factory, org, where=north), _order(uow_factory, org)
    _book(uow_factory, busy, ann, at(9))  # 09:00-10:00 up north
    _wants_auto(uow_factory, wanted)  # 08:30 asked, at the site
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW, speed_kmh=20).assigned == 1
    got = _slot(uow_factory, wanted)
    assert (got.technician_id, got.scheduled_start, got.scheduled_end) == (ann, at(11), at(12))
    view = assignment.get_work_order_or_raise(uow=uow_factory(), actor=org, work_order_id=wanted)
    assert f"first free slot after {work_order_number(busy)} and the 60 min drive from there" in (
        view.assignment_explanation["why"])


def test_automatic_scheduling_waits_for_the_customers_booked_window(uow_factory, org, ann):
    from desk_desktop.services.dayplan.keep import set_booked_window

    wanted = _order(uow_factory, org)
    _wants_auto(uow_factory, wanted)  # 08:30 asked, but the customer booked 14:00-16:00
    set_booked_window(uow=uow_factory(), actor=org, work_order_id=wanted, start=at(14), end=at(16))
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    got = _slot(uow_factory, wanted)
    assert (got.technician_id, got.scheduled_start, got.scheduled_end) == (ann, at(14), at(15))


def test_automatic_scheduling_gives_the_order_to_the_next_technician_free_inside_the_booked_window(
        uow_factory, org, ann):
    from desk_desktop.services.dayplan.keep import set_booked_window

    busy, wanted = _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, busy, ann, at(13), minutes=200)  # Ann, the nearest, is busy 13:00-16:20
    bob = add_technician(uow_factory(), org, name="Bob Roy", lat=SITE[0] + 0.05, lon=SITE[1], skills={"hvac": 3},
                         working_hours=HOURS, max_open=20)
    _wants_auto(uow_factory, wanted)
    set_booked_window(uow=uow_factory(), actor=org, work_order_id=wanted, start=at(14), end=at(16))
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    got = _slot(uow_factory, wanted)
    assert (got.technician_id, got.scheduled_start, got.scheduled_end) == (bob, at(14), at(15))
    view = assignment.get_work_order_or_raise(uow=uow_factory(), actor=org, work_order_id=wanted)
    assert view.assignment_explanation["why"].startswith(
        "Bob Roy: the first with a free slot inside the customer's booked window (Ann Lee had none).")


def test_an_order_nobody_can_visit_inside_its_booked_window_waits_and_says_why(uow_factory, org, ann):
    from desk_desktop.services.dayplan.keep import set_booked_window

    busy, wanted = _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, busy, ann, at(13), minutes=200)
    _wants_auto(uow_factory, wanted)
    set_booked_window(uow=uow_factory(), actor=org, work_order_id=wanted, start=at(14), end=at(16))
    result = assignment.assign_pending(uow_factory=uow_factory, now=NOW)
    assert (result.assigned, result.unassigned) == (0, 1)
    got = _slot(uow_factory, wanted)
    assert (got.technician_id, got.scheduled_start) == (None, None)  # not booked at 16:20, after the window
    view = assignment.get_work_order_or_raise(uow=uow_factory(), actor=org, work_order_id=wanted)
    assert view.unassigned_reason == ("No eligible technician has a free slot inside the customer's booked window "
                                      "(on Tue 8 Dec from 14:00 to 16:00). Eligible but busy or off then: Ann Lee.")


def test_one_batch_books_one_technician_back_to_back_and_on_the_next_day_when_full(uow_factory, org, ann):
    orders = [_order(uow_factory, org) for _ in range(11)]
    for wo in orders:
        _wants_auto(uow_factory, wo)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 11
    starts = sorted(_slot(uow_factory, wo).scheduled_start for wo in orders)
    # 08:30 ... 15:30 on Tuesday (16:30-17:30 would end after the shift), then Wednesday from 08:00.
    assert starts == [at(h, 30) for h in range(8, 16)] + [at(h, day=9) for h in (8, 9, 10)]


# ------------------------------------------------------------------ by hand


def test_a_manual_reschedule_onto_a_busy_slot_is_refused_naming_the_clash(uow_factory, org, ann):
    with uow_factory() as uow:  # the clash is told in the organization's time
        uow.session.execute(text("UPDATE organizations SET timezone = 'Europe/Paris' WHERE id = :o"),
                            {"o": org.organization_id})
        uow.commit()
    tech = ann
    busy, moving = _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, busy, tech, at(9))  # 10:00-11:00 in Paris
    _book(uow_factory, moving, tech, at(13))
    with pytest.raises(VisitClash) as refused:
        assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=moving, start=at(9, 30))
    assert str(refused.value) == (f"Ann Lee already has {work_order_number(busy)} from 10:00 to 11:00 on Tue 8 Dec; "
                                  "choose another time.")
    assert _slot(uow_factory, moving).scheduled_start == at(13)  # nothing changed
    view = assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=moving, start=at(10))
    assert view.scheduled_start == at(10)  # right after the other visit: free


def test_a_manual_assignment_keeping_a_time_the_technician_has_taken_is_refused(uow_factory, org, ann):
    busy, other = _order(uow_factory, org), _order(uow_factory, org)
    bob = add_technician(uow_factory(), org, name="Bob", lat=SITE[0], lon=SITE[1], working_hours=HOURS)
    _book(uow_factory, busy, ann, at(10))
    _book(uow_factory, other, bob, at(10))
    with pytest.raises(VisitClash, match=f"Ann Lee already has {work_order_number(busy)} from 10:00 to 11:00"):
        assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=other, technician_id=ann,
                                     schedule=False, now=NOW)
    # With scheduling, the order moves to Ann's first free slot instead.
    view = assignment.assign_work_order(uow=uow_factory(), actor=org, work_order_id=other, technician_id=ann,
                                        now=NOW)
    assert (view.technician_id, view.scheduled_start) == (ann, at(11))


def test_book_anyway_stores_the_overlap_audited_and_automatic_scheduling_still_avoids_it(uow_factory, org, ann):
    busy, moving, later = _order(uow_factory, org), _order(uow_factory, org), _order(uow_factory, org)
    _book(uow_factory, busy, ann, at(9))
    _book(uow_factory, moving, ann, at(13))
    view = assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=moving, start=at(9, 30),
                                            book_anyway=True)
    assert (view.scheduled_start, view.scheduled_end) == (at(9, 30), at(10, 30))  # stored over WO "busy"
    with uow_factory() as uow:
        summary = uow.session.execute(text("SELECT summary FROM audit_log WHERE entity_id = :id "
                                           "AND action = 'work_order.rescheduled'"), {"id": moving}).scalar_one()
    assert summary.endswith(f"booked anyway over {work_order_number(busy)} by {org.name}")
    # The job still sees both: 08:30 asked, busy 09:00-10:30, so 10:30.
    _wants_auto(uow_factory, later)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 1
    assert _slot(uow_factory, later).scheduled_start == at(10, 30)
    # Moved to a free time, the visit is under the rule again.
    assignment.reschedule_work_order(uow=uow_factory(), actor=org, work_order_id=moving, start=at(14))
    with pytest.raises(IntegrityError):
        _book(uow_factory, moving, ann, at(9, 30))


# ------------------------------------------------------------------ the migration


def test_the_migration_moves_overlapping_visits_in_order_and_the_downgrade_drops_the_rule(test_server):
    url = test_server.create_database("desk_mig11")
    engine = make_engine(url)  # migrations run as the owner of the schema
    # The rows are written in SQL as the schema before 0011 has them (today's models know
    # columns that later migrations add).
    setup = make_engine(url)
    try:
        before = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_revision("0011").down_revision
        migrate.downgrade(engine, before)
        factory = UnitOfWorkFactory(setup)
        with engine.begin() as conn:
            org = conn.execute(text("INSERT INTO organizations (name, slug) VALUES ('Old', 'old') RETURNING id")
                               ).scalar_one()
            tech = conn.execute(text("INSERT INTO technicians (organization_id, name) VALUES (:o, 'Ann Lee') "
                                     "RETURNING id"), {"o": org}).scalar_one()
            orders = [conn.execute(text("INSERT INTO work_orders (organization_id, source, work_type, priority) "
                                        "VALUES (:o, 'manual', 'repair', 'medium') RETURNING id"), {"o": org}
                                   ).scalar_one() for _ in range(4)]
        for wo, start in zip(orders, (at(10), at(10, 30), at(10, 15), at(14)), strict=True):
            _book(factory, wo, tech, start)  # three overlapping visits, one apart
        migrate.upgrade(engine)
        assert [_slot(factory, wo).scheduled_start for wo in orders] == [at(10), at(12), at(11), at(14)]
        with engine.connect() as conn:
            moved = conn.execute(text("SELECT entity_id FROM audit_log WHERE actor = 'migration 0011' "
                                      "ORDER BY entity_id")).scalars().all()
        assert moved == sorted(orders[1:3])
        with pytest.raises(IntegrityError):
            _book(factory, orders[3], tech, at(11, 30))
        migrate.downgrade(engine, before)
        _book(factory, orders[3], tech, at(11, 30))  # no rule any more
    finally:
        setup.dispose()
        engine.dispose()
        test_server.drop_database(url)


# ------------------------------------------------------------------ two workstations at once


def _assigner(url, org_id, wo_id, tech, start, out):
    """A workstation assigning its order to the technician, scheduled at the same hour as its twin."""
    from desk_desktop.services.common import Actor

    engine = make_engine(url, pool_size=1)
    try:
        start.wait(30)
        view = assignment.assign_work_order(uow=UnitOfWorkFactory(engine)(), actor=Actor.system(org_id), now=NOW,
                                            work_order_id=wo_id, technician_id=tech)
        out.put((wo_id, view.scheduled_start))
    except Exception as exc:  # reported to the test
        out.put((wo_id, repr(exc)))
    finally:
        engine.dispose()


def _setup_shared(url):
    engine = make_engine(url)
    factory = UnitOfWorkFactory(engine)
    org = make_org(factory(), slug="race")
    add_rule(factory(), org)
    tech = add_technician(factory(), org, name="Ann Lee", lat=SITE[0], lon=SITE[1], working_hours=HOURS)
    return engine, factory, org, tech


def test_two_workstations_booking_the_same_free_hour_one_gets_it_the_other_the_next_slot(fresh_db):
    engine, factory, org, tech = _setup_shared(fresh_db)
    try:
        orders = [_order(factory, org) for _ in range(2)]
        for wo in orders:  # both want 09:00 (kept, as given, when free)
            _book(factory, wo, None, at(9), status="unassigned")
        results = run_together(_assigner, [(fresh_db, org.organization_id, wo, tech) for wo in orders])
        assert sorted(start for _, start in results) == [at(9), at(10)], results
        slots = sorted((_slot(factory, wo).scheduled_start, _slot(factory, wo).technician_id) for wo in orders)
        assert slots == [(at(9), tech), (at(10), tech)]
    finally:
        engine.dispose()


def _job(url, out):
    engine = make_engine(url, pool_size=2)
    try:
        out.put(assignment.assign_pending(uow_factory=UnitOfWorkFactory(engine), now=NOW))
    except Exception as exc:  # reported to the test
        out.put(repr(exc))
    finally:
        engine.dispose()


def _wait_until_someone_waits_on_a_lock(engine, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'")).scalar_one()
            if waiting:
                return
            conn.rollback()  # the activity view is a snapshot per transaction
            time.sleep(0.02)
    raise AssertionError("the assign job never waited for the other booking")


def test_the_job_retries_with_the_next_slot_when_another_workstation_books_it_first(fresh_db):
    """Another workstation books Ann's 08:30 after the job read her visits: the job's write
    waits for it, the constraint refuses, and the job books 09:30 instead — no error."""
    engine, factory, org, tech = _setup_shared(fresh_db)
    try:
        theirs, ours = _order(factory, org), _order(factory, org)
        _wants_auto(factory, ours)  # 08:30, free so far
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        with engine.connect() as other:
            tx = other.begin()  # the other workstation's booking, not committed yet
            other.execute(text("UPDATE work_orders SET technician_id = :t, status = 'scheduled', "
                               "scheduled_start = :a, scheduled_end = :b WHERE id = :id"),
                          {"t": tech, "a": at(8, 30), "b": at(9, 30), "id": theirs})
            job = ctx.Process(target=_job, args=(fresh_db, out))
            job.start()
            _wait_until_someone_waits_on_a_lock(engine)
            tx.commit()
        result = out.get(timeout=120)
        job.join(60)
        assert job.exitcode == 0
        assert (result.assigned, result.errors) == (1, 0), result
        got = _slot(factory, ours)
        assert (got.technician_id, got.scheduled_start, got.scheduled_end) == (tech, at(9, 30), at(10, 30))
        assert _slot(factory, theirs).scheduled_start == at(8, 30)
    finally:
        engine.dispose()
