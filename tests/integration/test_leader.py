"""The scheduler leader: one listening connection per organization holds the lock, the
others stand by without polling and take over when it goes; a standby scheduler runs only
what its own commits kick."""

from __future__ import annotations

import threading

from geoalchemy2 import WKTElement
from sqlalchemy import text

from desk_desktop.config import Settings
from desk_desktop.db.listen import ChangeListener
from desk_desktop.db.models import Technician, TechnicianSkill
from desk_desktop.db.session import Change, UnitOfWorkFactory, make_engine
from desk_desktop.jobs.scheduler import AppScheduler

BEAT = 0.5


class Elected:
    def __init__(self) -> None:
        self.leading = threading.Event()
        self.lost = threading.Event()
        self.changes: list[Change] = []

    def __call__(self, leading: bool) -> None:
        (self.leading if leading else self.lost).set()


def listener(url: str, who: Elected, org: int) -> ChangeListener:
    return ChangeListener(url, on_change=who.changes.append, leader_key=org, on_leadership=who, leader_seconds=BEAT)


def test_one_listener_leads_per_organization_and_another_takes_over(fresh_db):
    a, b, other_org = Elected(), Elected(), Elected()
    la, lb, lc = listener(fresh_db, a, 1), listener(fresh_db, b, 1), listener(fresh_db, other_org, 2)
    la.start()
    try:
        assert a.leading.wait(10)
        lb.start()
        lc.start()
        assert other_org.leading.wait(10), "another organization has its own leader"
        assert lb.wait_connected(10)
        # b hears a's heartbeats and stands by.
        assert not b.leading.wait(6 * BEAT)
        la.stop()
        assert a.lost.is_set()
        # Two to three heartbeats of silence, then b tries the lock and gets it.
        assert b.leading.wait(3 * BEAT + 2 * lb.poll_seconds + 1)
        assert lb.leading and not la.leading
    finally:
        for lst in (la, lb, lc):
            lst.stop()
    # Heartbeats are not data changes: no receiver ever saw one.
    assert all(c.entity != "scheduler" for who in (a, b, other_org) for c in who.changes)


def test_a_leader_whose_connection_dies_steps_down(fresh_db):
    a = Elected()
    la = listener(fresh_db, a, 1)
    la.start()
    try:
        assert a.leading.wait(10)
        engine = make_engine(fresh_db)
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": la.backend_pid})
        engine.dispose()
        assert a.lost.wait(10), "the scheduler is told at once that it no longer leads"
    finally:
        la.stop()


def _add_technician(factory: UnitOfWorkFactory, org: int) -> None:
    uow = factory()
    with uow:
        where = WKTElement("POINT(-87.63 41.88)", srid=4326)
        t = Technician(organization_id=org, name="Grace Hopper", home_base=where, current_location=where,
                       max_open_work_orders=100, active=True)
        uow.session.add(t)
        uow.session.flush()
        uow.session.add(TechnicianSkill(organization_id=org, technician_id=t.id, skill="hvac", proficiency=4))
        uow.commit()


def _order(factory: UnitOfWorkFactory, org: int, *, record: bool = False) -> int:
    """An order due for assignment; its change is recorded (NOTIFY, commit listeners) only if ``record``."""
    uow = factory()
    with uow:
        wo = uow.session.execute(text(
            "INSERT INTO work_orders (organization_id, source, work_type, priority, status, needs_assignment, "
            "next_assign_at) VALUES (:o, 'manual', 'repair', 'high', 'unassigned', true, now()) RETURNING id"),
            {"o": org}).scalar_one()
        if record:
            uow.record_change("work_order", wo, org, "created")
        uow.commit()
    return wo


def _technician_of(engine, wo: int) -> int | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT technician_id FROM work_orders WHERE id = :id"), {"id": wo}).scalar()


def test_a_standby_scheduler_runs_its_own_kicks_only_and_catches_up_when_elected(acme_with_hvac_rule):
    url, engine, factory, actor = acme_with_hvac_rule
    _add_technician(factory, actor.organization_id)
    silent = _order(UnitOfWorkFactory(engine), actor.organization_id)  # no commit listener, no NOTIFY
    sched = AppScheduler(factory, Settings(), intervals={"assign": 0.2}, jobs=("assign",), standby=True)
    ran = threading.Event()
    sched.add_listener(lambda state: ran.set() if "assign" in state.last_runs else None)
    factory.add_commit_listener(sched.on_commit)
    sched.start()
    try:
        assert "standing by" in sched.state.describe()
        # Ten periodic ticks go by: a standby sweeps nothing; another workstation's change is the leader's.
        sched.on_change(Change("work_order", silent, actor.organization_id, "created"))
        assert not ran.wait(2.0)
        assert _technician_of(engine, silent) is None

        sched.set_leader(True)  # elected: it catches up with the periodic work at once
        assert ran.wait(10)
        assert _technician_of(engine, silent) is not None
        assert "standing by" not in sched.state.describe()

        sched.set_leader(False)
        ran.clear()
        # Its own commit is kicked at once, standby or not.
        mine = _order(factory, actor.organization_id, record=True)
        assert ran.wait(10)
        assert _technician_of(engine, mine) is not None
    finally:
        factory.remove_commit_listener(sched.on_commit)
        sched.shutdown()
