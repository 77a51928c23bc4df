"""The schedule board's data from the real database: working windows in the organization's
time zone, visits with the travel before each, the orders waiting for a slot, the filters."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from desk_desktop.services.board import load_board
from tests.conftest import make_org
from tests.integration.workorder_helpers import add_customer, add_technician, insert_ticket

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2026, 12, 8)
HOURS = {d: [["08:00", "12:00"], ["13:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
HOME = (52.52, 13.405)
FIVE_KM_EAST = (52.52, 13.405 + 0.0737)
TEN_KM_NORTH_OF_IT = (52.52 + 0.0895, 13.405 + 0.0737)


def local(day: date, h: int, m: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=BERLIN)


def _order(factory, org, *, tech=None, start=None, minutes=60, status="scheduled", priority="medium", where=None):
    cust = add_customer(factory(), org)
    lat, lon = where or (None, None)
    ticket = insert_ticket(factory(), org, customer_id=cust, priority=priority, lat=lat, lon=lon)
    with factory() as uow:
        wo = uow.session.execute(text(
            "INSERT INTO work_orders (organization_id, source_ticket_id, source, work_type, priority, status, "
            "technician_id, duration_minutes, scheduled_start, scheduled_end) VALUES (:o, :t, 'manual', 'repair', "
            ":p, :s, :tech, :d, :a, :b) RETURNING id"),
            {"o": org.organization_id, "t": ticket, "p": priority, "s": status, "tech": tech, "d": minutes,
             "a": start, "b": start + timedelta(minutes=minutes) if start else None}).scalar_one()
        uow.commit()
    return wo


@pytest.fixture
def day(uow_factory):
    org = make_org(uow_factory(), slug="board", timezone="Europe/Berlin")
    ann = add_technician(uow_factory(), org, name="Ann Lee", lat=HOME[0], lon=HOME[1], skills={"hvac": 4},
                         working_hours=HOURS)
    bob = add_technician(uow_factory(), org, name="Bob Stone", lat=HOME[0], lon=HOME[1], skills={"electrical": 3})
    add_technician(uow_factory(), org, name="Cleo Gone", active=False, working_hours=HOURS)
    far = add_technician(uow_factory(), org, name="Dora Far", lat=48.14, lon=11.58, working_hours=HOURS)
    orders = {
        "first": _order(uow_factory, org, tech=ann, start=local(TUESDAY, 9), where=FIVE_KM_EAST),
        "second": _order(uow_factory, org, tech=ann, start=local(TUESDAY, 11), minutes=90, status="completed",
                         where=TEN_KM_NORTH_OF_IT),
        "cancelled": _order(uow_factory, org, tech=ann, start=local(TUESDAY, 14), status="cancelled",
                            where=FIVE_KM_EAST),
        "wednesday": _order(uow_factory, org, tech=ann, start=local(TUESDAY + timedelta(days=1), 9),
                            where=FIVE_KM_EAST),
        "urgent": _order(uow_factory, org, status="unassigned", priority="urgent"),
        "no_time": _order(uow_factory, org, tech=bob, status="assigned"),
    }
    return org, {"ann": ann, "bob": bob, "far": far}, orders


def test_a_day_shows_working_windows_visits_with_travel_and_the_waiting_orders(uow_factory, day):
    org, techs, orders = day
    board = load_board(uow=uow_factory(), actor=org, first_day=TUESDAY, speed_kmh=40)
    assert [t.name for t in board.technicians] == ["Ann Lee", "Bob Stone", "Dora Far"]  # active only
    ann = board.technicians[0]
    assert ann.windows == ((local(TUESDAY, 8), local(TUESDAY, 12)), (local(TUESDAY, 13), local(TUESDAY, 17)))
    assert ann.skills == ("hvac",)
    assert not board.technicians[1].hours_known and board.technicians[1].windows == ()
    visits = board.visits_of(techs["ann"])
    assert [v.work_order_id for v in visits] == [orders["first"], orders["second"]]  # no cancelled, no Wednesday
    first, second = visits
    assert (first.start, first.end, first.status) == (local(TUESDAY, 9), local(TUESDAY, 10), "scheduled")
    assert second.status == "completed" and second.end == local(TUESDAY, 12, 30)
    # From home 5 km east (7.5 min at 40 km/h), then 10 km north (15 min).
    assert first.travel_m == pytest.approx(5000, rel=0.02) and first.travel_minutes == 8
    assert second.travel_m == pytest.approx(10000, rel=0.02) and second.travel_minutes == 15
    assert [w.work_order_id for w in board.waiting] == [orders["urgent"], orders["no_time"]]  # urgent first
    assert board.waiting[1].technician_id == techs["bob"]


def test_a_week_starts_each_day_from_home(uow_factory, day):
    org, techs, orders = day
    week = load_board(uow=uow_factory(), actor=org, first_day=TUESDAY, days=7)
    wednesday = [v for v in week.visits_of(techs["ann"]) if v.work_order_id == orders["wednesday"]][0]
    assert wednesday.travel_m == pytest.approx(5000, rel=0.02)  # not from Tuesday's last site
    assert len(week.technicians[0].windows) == 2 * 5  # Tuesday to Friday and Monday, two windows a day


def test_filters_by_skill_name_and_area(uow_factory, day):
    org, techs, _ = day

    def names(**kw):
        return [t.name for t in load_board(uow=uow_factory(), actor=org, first_day=TUESDAY, **kw).technicians]

    assert names(skill="hvac") == ["Ann Lee"]
    assert names(name="sto") == ["Bob Stone"]
    assert names(near=HOME, radius_km=50) == ["Ann Lee", "Bob Stone"]  # Dora's home is in Munich
    assert names(name="%") == []  # literal text, no wildcards


def test_a_changed_order_reads_again_the_rows_of_its_old_and_new_technician(uow_factory, day):
    from desk_desktop.services.board import load_changes

    org, techs, orders = day
    board = load_board(uow=uow_factory(), actor=org, first_day=TUESDAY)
    with uow_factory() as uow:  # another workstation gives Ann's first visit to Bob, and an hour later
        uow.session.execute(text("UPDATE work_orders SET technician_id = :b, scheduled_start = scheduled_start + "
                                 "interval '1 hour', scheduled_end = scheduled_end + interval '1 hour' WHERE id = :w"),
                            {"b": techs["bob"], "w": orders["first"]})
        uow.commit()
    changes = load_changes(uow=uow_factory(), actor=org, board=board, work_order_ids=[orders["first"]])
    assert {t.id for t in changes.technicians} == {techs["ann"], techs["bob"]}
    after = board.with_changes(changes)
    assert [v.work_order_id for v in after.visits_of(techs["ann"])] == [orders["second"]]
    [moved] = after.visits_of(techs["bob"])
    assert (moved.work_order_id, moved.start) == (orders["first"], local(TUESDAY, 10))
    # Ann's second visit now starts her day: its travel is measured from her home.
    assert after.visits_of(techs["ann"])[0].travel_m == pytest.approx(
        ((5000 ** 2) + (9950 ** 2)) ** 0.5, rel=0.03)
    assert after == load_board(uow=uow_factory(), actor=org, first_day=TUESDAY)  # as a full read would show it


def test_absences_on_the_boards_days_come_with_their_technician(uow_factory, day):
    from desk_desktop.services.absences import Period, add_absence

    org, techs, _ = day
    add_absence(uow=uow_factory(), actor=org, technician_id=techs["bob"],
                period=Period(start=local(TUESDAY, 13), end=local(TUESDAY, 15)), reason="Dentist")
    add_absence(uow=uow_factory(), actor=org, technician_id=techs["bob"],
                period=Period(first_day=TUESDAY + timedelta(days=2), last_day=TUESDAY + timedelta(days=3)),
                reason="Holiday")
    board = load_board(uow=uow_factory(), actor=org, first_day=TUESDAY)
    bob = next(t for t in board.technicians if t.id == techs["bob"])
    assert bob.absences == ((local(TUESDAY, 13), local(TUESDAY, 15), "Dentist"),)  # Thursday's is not on the day
    week = load_board(uow=uow_factory(), actor=org, first_day=TUESDAY, days=7)
    bob = next(t for t in week.technicians if t.id == techs["bob"])
    assert [reason for _a, _b, reason in bob.absences] == ["Dentist", "Holiday"]
    assert bob.absences[1][:2] == (local(TUESDAY + timedelta(days=2), 0), local(TUESDAY + timedelta(days=4), 0))


def test_the_demo_books_the_coming_days_like_the_assign_job_would(test_server):
    """The demo's planned orders are visits from now on, inside working hours, for technicians
    with the skills (the app's demo loads them so that the board shows a working week)."""
    from desk_desktop.domain.scoring import on_shift
    from desk_desktop.services.board import load_board
    from desk_desktop.services.common import Actor
    from tests.conftest import demo_database

    now = datetime(2026, 12, 7, 14, 0, tzinfo=ZoneInfo("UTC"))  # Monday, 08:00 in Chicago
    with demo_database(test_server, "desk_demo_plan", tickets=20, planned=40, now=now) as (url, summary):
        from desk_desktop.db.session import UnitOfWorkFactory, make_engine

        engine = make_engine(url)
        try:
            uows = UnitOfWorkFactory(engine)
            actor = Actor(organization_id=summary.organization_id, name="test", is_admin=True)
            week = load_board(uow=uows(), actor=actor, first_day=date(2026, 12, 7), days=7)
            planned = [v for v in week.visits if v.start >= now]
            assert len(planned) >= 25  # most of the 40 found a technician and a slot
            techs = {t.id: t for t in week.technicians}
            with uows() as uow:
                hours = dict(uow.session.execute(text("SELECT id, working_hours FROM technicians")).all())
            for v in planned:
                tech = techs[v.technician_id]
                assert set(v.required_skills) <= set(tech.skills)
                assert on_shift(hours[tech.id], v.start, week.timezone)
                assert on_shift(hours[tech.id], v.end - timedelta(minutes=1), week.timezone)
        finally:
            engine.dispose()
