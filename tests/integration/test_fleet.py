"""Many workstations on one server through a real PgBouncer: every change reaches every
workstation, nothing is done twice, and a killed leader's periodic work is taken over.

The workstations are the app's own (``bootstrap.start_workstation`` + ``start_listener``)
in real worker processes (``bench.fleet.Fleet``); PgBouncer is Debian's binary with the
pools in transaction mode and the listeners in session mode; the mail server is aiosmtpd.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from desk_desktop.bench import fleet as fl
from desk_desktop.db.pgbouncer import PgBouncer
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from tests.smtp_recorder import SmtpRecorder


@pytest.fixture
def smtp():
    rec = SmtpRecorder().start()
    yield rec
    rec.stop()


@pytest.fixture
def bounced(test_server):
    """A fresh database behind a PgBouncer: (server url, bouncer). The fleet seeds its own
    organization, as the bench does, so it connects as the server's administrator in both
    passes of the suite (row-level security is the subject of the dispatcher pass elsewhere)."""
    url = test_server.create_database("desk_fleet")
    u = make_url(url)
    bouncer = PgBouncer(server_socket_dir=Path(u.query["host"]), database=u.database, users=[u.username],
                        pool_size=10, listeners=40).start()
    yield url, bouncer
    bouncer.stop()
    test_server.drop_database(url)


def spec_for(bouncer: PgBouncer, url: str, smtp: SmtpRecorder, sd: fl.Seeded) -> fl.FleetSpec:
    user = make_url(url).username
    return fl.FleetSpec(url=bouncer.url(user), listen_url=bouncer.listen_url(user), smtp_url=smtp.url, seeded=sd)


def wait_for(predicate, timeout: float, what: str, fleet: fl.Fleet):
    """Until ``predicate()`` holds, taking in the fleet's leadership events meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        fleet.poll(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_twenty_workstations_through_pgbouncer_see_everything_and_do_nothing_twice(bounced, smtp):
    url, bouncer = bounced
    sd = fl.seed(url, technicians=10, customers=10)
    fleet = fl.Fleet(spec_for(bouncer, url, smtp, sd), workstations=20, processes=3).start()
    try:
        load = fleet.load(seconds=20, tickets_per_second=5, actions_per_second=1)
        assert load["counts"].get("errors", 0) == 0, load["errors"]
        assert fl.wait_quiet(url, timeout=60), "work left unassigned or unsent"
        fleet.poll(2.0)  # the last notifications on their way
        stations = fleet.report()
        leaders = {(w, i) for w, i, leading, _t in fleet.leaders if leading}
    finally:
        fleet.stop()

    assert len(stations) == 20
    tickets = load["counts"]["tickets"]
    assert tickets >= 90
    seen = fl.latencies(stations)
    # Every change committed by any workstation (tickets, orders, assignments, the dispatchers'
    # moves, the outbox) arrived at every workstation, in order.
    assert seen["missed"] == 0, seen["missed_examples"]
    assert len(seen["samples"]) >= 19 * tickets
    assert fl.percentile(seen["samples"], 0.99) < 2.0
    assert len(leaders) == 1, "one leader for the organization, all along"

    result = fl.outcome(url)
    assert result["double_assignments"] == 0
    assert result["auto_assigned_orders"] == load["counts"]["tickets_hvac"]
    assert result["orders_waiting"] == 0
    assert set(result["outbox"]) == {"sent"}
    received = Counter(m.key for m in smtp.received())
    assert [k for k, n in received.items() if n > 1] == [], "an e-mail was sent twice"
    assert sum(received.values()) == result["emails_sent"] > 0


def test_killing_the_leaders_process_hands_the_periodic_work_over(bounced, smtp):
    url, bouncer = bounced
    sd = fl.seed(url, technicians=3, customers=3)
    spec = spec_for(bouncer, url, smtp, sd)
    fleet = fl.Fleet(spec, workstations=6, processes=3).start()
    engine = make_engine(url)
    try:
        first = wait_for(fleet.current_leader, 10, "a leader", fleet)
        fleet.kill(first[0])
        killed_at = time.time()
        second = wait_for(fleet.current_leader, 15, "a new leader", fleet)
        assert second[0] != first[0]
        took = next(t for w, i, leading, t in fleet.leaders if (w, i) == second and leading) - killed_at
        # Standbys try the lock after two to three heartbeats without news.
        assert took <= 3 * spec.leader_seconds + 1.0, took

        # Work that only a periodic sweep finds: an order written without any NOTIFY.
        uow = UnitOfWorkFactory(engine)()
        with uow:
            order = uow.session.execute(text(
                "INSERT INTO work_orders (organization_id, source, work_type, priority, status, duration_minutes, "
                "needs_assignment, next_assign_at, notify_customer, notify_technician) "
                "VALUES (:o, 'manual', 'repair', 'high', 'unassigned', 60, true, now(), false, true) RETURNING id"),
                {"o": sd.organization_id}).scalar_one()
            uow.commit()
        written = time.monotonic()

        def assigned():
            with engine.connect() as conn:
                return conn.execute(text("SELECT technician_id FROM work_orders WHERE id = :id"),
                                    {"id": order}).scalar()

        wait_for(assigned, spec.intervals["assign"] + 5, "the new leader's assign sweep", fleet)
        assert time.monotonic() - written <= spec.intervals["assign"] + 5
        wait_for(lambda: fl.wait_quiet(url, timeout=0.1), spec.intervals["notify"] + 5, "the notify sweep", fleet)
    finally:
        fleet.stop()
        engine.dispose()
    result = fl.outcome(url)
    assert result["double_assignments"] == 0
    assert result["auto_assigned_orders"] == 1
    received = Counter(m.key for m in smtp.received())
    assert list(received.values()) == [1], received


def test_the_pooler_option_decides_prepared_statements_and_where_the_listener_connects(bounced):
    from desk_desktop.bootstrap import Database, engine_for, listen_url, start_workstation, through_transaction_pooler
    from desk_desktop.config import Settings
    from desk_desktop.services.common import DeskError

    url, bouncer = bounced
    user = make_url(url).username
    pooled = bouncer.url(user)
    assert through_transaction_pooler(pooled) and not through_transaction_pooler(url)
    with pytest.raises(DeskError, match="pooler=statement is not understood"):
        through_transaction_pooler(url + "&pooler=statement")

    engine = engine_for(pooled)
    try:
        # Prepared on one server connection (psycopg prepares a statement after 5 runs), then
        # run while that server connection is busy with another client: only a connection
        # that never prepares works through a transaction pool.
        same = text("SELECT count(*) + :i FROM organizations")
        with engine.connect() as a, engine.connect() as b:
            for i in range(8):
                assert a.execute(same, {"i": i}).scalar() == i
                a.commit()
            b.execute(text("SELECT 1"))  # b's open transaction holds the server connection a used
            assert a.execute(same, {"i": 99}).scalar() == 99
            a.commit()
            b.rollback()
        db = Database(url=pooled, engine=engine, uow_factory=UnitOfWorkFactory(engine))
        with pytest.raises(DeskError, match="DESK_LISTEN_URL"):
            listen_url(Settings(database_url=pooled), db)
        assert listen_url(Settings(database_url=pooled, listen_url=bouncer.listen_url(user)), db) \
            == bouncer.listen_url(user)
        fl.seed(url, technicians=1, customers=1)
        with pytest.raises(DeskError, match="DESK_LISTEN_URL"):  # refused at start-up, not later in the window
            start_workstation(Settings(database_url=pooled))
        with_password = Database(url=pooled.replace(f"{user}@", f"{user}:s3cret@"), engine=engine,
                                 uow_factory=UnitOfWorkFactory(engine))
        assert f"{user}:s3cret@" in listen_url(Settings(listen_url=bouncer.listen_url(user)), with_password)
    finally:
        engine.dispose()
