"""create_ticket when its unit of work owns the transaction (GUI, CLI, import): the work
order, the change notifications and the number are written by its last statement, then COMMIT.
Real commits on a fresh database: what other workstations see must be exactly what the
slower, statement-by-statement path gave."""

from __future__ import annotations

import dataclasses
import json
import re
import select
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from desk_desktop.db.session import NOTIFY_CHANNEL, Change, make_engine
from desk_desktop.services import automation
from desk_desktop.services import tickets as svc
from desk_desktop.services.common import NotFound


@pytest.fixture
def shared(acme_with_hvac_rule):
    return acme_with_hvac_rule


def _listen(url: str) -> psycopg.Connection:
    conn = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)
    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return conn


def _received(conn: psycopg.Connection, expected: int, timeout: float = 10.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        select.select([conn.fileno()], [], [], 0.2)
        got.extend(n.payload for n in conn.notifies(timeout=0, stop_after=0))
    return got


def _counts(engine, org_id: int) -> tuple[int, int, int, int | None]:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM tickets WHERE organization_id = :o"), {"o": org_id}).scalar_one(),
            conn.execute(text("SELECT count(*) FROM work_orders WHERE organization_id = :o"),
                         {"o": org_id}).scalar_one(),
            conn.execute(text("SELECT count(*) FROM audit_log WHERE organization_id = :o AND entity IN "
                              "('ticket', 'work_order')"), {"o": org_id}).scalar_one(),
            conn.execute(text("SELECT max(next_value) FROM ticket_number_counters WHERE organization_id = :o"),
                         {"o": org_id}).scalar_one(),
        )


def test_notifications_and_commit_listeners_see_the_ticket_and_its_work_order(shared):
    url, engine, factory, actor = shared
    heard: list[tuple[Change, ...]] = []
    factory.add_commit_listener(heard.append)
    listener = _listen(url)
    try:
        with_order = svc.create_ticket(uow=factory(), actor=actor, subject="Cold office", customer_ref="C-1",
                                       category="hvac", priority="high")
        without = svc.create_ticket(uow=factory(), actor=actor, subject="Printer", customer_ref="C-1",
                                    category="hardware", priority="low")
        payloads = _received(listener, 3)
    finally:
        listener.close()
    org = actor.organization_id
    wo_id = with_order.work_order.work_order_id
    expected = [Change("work_order", wo_id, org, "created"), Change("ticket", with_order.ticket.id, org, "created"),
                Change("ticket", without.ticket.id, org, "created")]
    # Byte-for-byte the payloads UnitOfWork.commit sends, in the same order.
    assert payloads == [c.payload() for c in expected]
    assert [json.loads(p)["id"] for p in payloads] == [wo_id, with_order.ticket.id, without.ticket.id]
    assert heard == [tuple(expected[:2]), (expected[2],)]
    assert without.work_order is None and without.ticket.work_order_id is None


def test_result_matches_what_is_stored(shared):
    _url, engine, factory, actor = shared
    created = svc.create_ticket(uow=factory(), actor=actor, subject="Cold office", customer_ref="C-1",
                                category="hvac", priority="high", tags=("vip",))
    stored = svc.get_ticket_or_raise(uow=factory(), actor=actor, number=created.ticket.number)
    assert stored.summary() == created.ticket
    wo = created.work_order
    assert (wo.work_order_id, wo.number, wo.work_type, wo.priority, wo.rule_name) == (
        stored.work_order.id, stored.work_order.number, "repair", "high", "HVAC")
    history = svc.ticket_history(uow=factory(), actor=actor, ticket_id=created.ticket.id)
    assert [h.action for h in history] == ["ticket.created", "work_order.created"]
    assert history[1].summary == f"{wo.number} created from a new ticket by rule 'HVAC'"
    assert _counts(engine, actor.organization_id) == (1, 1, 2, 2)


def test_failing_work_order_insert_rolls_back_everything_and_uses_no_number(shared, monkeypatch):
    """The work order statement fails inside the final round trip: nothing is committed
    (COMMIT is skipped by the server), the error is the usual IntegrityError, the
    connection stays usable and the next ticket gets the number the failed one would have."""
    _url, engine, factory, actor = shared
    first = svc.create_ticket(uow=factory(), actor=actor, subject="ok", customer_ref="C-1",
                              category="hvac", priority="high")
    before = _counts(engine, actor.organization_id)
    real_plan = automation.planned_work_order

    def bad_plan(**kw):
        planned = real_plan(**kw)  # a duration the duration_range check refuses
        return dataclasses.replace(planned, values={**planned.values, "duration_minutes": 5})

    monkeypatch.setattr(automation, "planned_work_order", bad_plan)
    heard: list = []
    factory.add_commit_listener(heard.append)
    with pytest.raises(IntegrityError, match="duration_range"):
        svc.create_ticket(uow=factory(), actor=actor, subject="doomed", customer_ref="C-1",
                          category="hvac", priority="high")
    assert heard == []
    assert _counts(engine, actor.organization_id) == before
    monkeypatch.undo()
    nxt = svc.create_ticket(uow=factory(), actor=actor, subject="next", customer_ref="C-1",
                            category="hvac", priority="high")
    assert int(nxt.ticket.number[-5:]) == int(first.ticket.number[-5:]) + 1
    assert nxt.work_order is not None


def test_nested_in_a_callers_transaction_numbers_at_once_and_commits_with_the_caller(shared):
    _url, engine, factory, actor = shared
    uow = factory()
    with uow:
        a = svc.create_ticket(uow=uow, actor=actor, subject="a", customer_ref="C-1", category="hvac",
                              priority="high")
        b = svc.create_ticket(uow=uow, actor=actor, subject="b", customer_ref="C-1", category="general",
                              priority="low")
        assert _counts(engine, actor.organization_id)[0] == 0  # not committed yet
        uow.commit()
    assert [a.ticket.number[-5:], b.ticket.number[-5:]] == ["00001", "00002"]
    assert a.work_order is not None and b.work_order is None
    assert _counts(engine, actor.organization_id) == (2, 1, 3, 3)


def test_a_connection_idle_longer_than_the_window_is_pinged_and_a_dead_one_replaced(shared, monkeypatch):
    """make_engine pings a pooled connection on checkout only after it sat idle (a burst of
    short transactions pays no ping); a dead idle connection is replaced, not handed out."""
    from desk_desktop.db import session as session_module

    url, engine, factory, actor = shared
    pings: list[int] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or real_ping(conn))
    svc.create_ticket(uow=factory(), actor=actor, subject="a", customer_ref="C-1", category="general",
                      priority="low")
    svc.create_ticket(uow=factory(), actor=actor, subject="b", customer_ref="C-1", category="general",
                      priority="low")
    assert pings == []  # used a moment ago: no ping
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = make_engine(url)
    try:
        with killer.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    finally:
        killer.dispose()
    monkeypatch.setattr(session_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if idle for a while
    created = svc.create_ticket(uow=factory(), actor=actor, subject="c", customer_ref="C-1", category="general",
                                priority="low")
    assert created.ticket.number.endswith("-00003")
    assert len(pings) >= 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_every_recorded_change_is_notified_when_there_are_several(shared):
    """The unit of work may hold more than the ticket's change (e.g. a caller's hook
    recorded one): all of them are sent, in order, with the last statement."""
    url, _engine, factory, actor = shared
    uow = factory()
    record = uow.record_change

    def also_customer(entity, entity_id, organization_id, action, **kw):
        record(entity, entity_id, organization_id, action, **kw)
        if entity == "ticket":
            record("customer", 7, organization_id, "updated")

    uow.record_change = also_customer
    listener = _listen(url)
    try:
        created = svc.create_ticket(uow=uow, actor=actor, subject="Cold office", customer_ref="C-1",
                                    category="hvac", priority="high")
        payloads = _received(listener, 3)
    finally:
        listener.close()
    org = actor.organization_id
    assert payloads == [Change("work_order", created.work_order.work_order_id, org, "created").payload(),
                        Change("ticket", created.ticket.id, org, "created").payload(),
                        Change("customer", 7, org, "updated").payload()]


def _statements_of(monkeypatch, call) -> list[str]:
    """Every statement sent to the server while ``call()`` runs (whoever sends it)."""
    seen: list[str] = []
    real_execute = psycopg.Cursor.execute

    def execute(self, query, *args, **kw):
        seen.append(query if isinstance(query, str) else query.as_string(self))
        return real_execute(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    try:
        call()
    finally:
        monkeypatch.undo()
    return seen


_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b|pg_notify", re.IGNORECASE)


@pytest.mark.parametrize("category", ["hvac", "hardware"])  # with and without a work order
def test_nothing_is_written_before_the_last_statement(shared, category, monkeypatch):
    """Every statement of create_ticket before its last one only reads (and reserves ids),
    so nothing can be half-written; the last one writes everything and COMMIT follows."""
    _url, engine, factory, actor = shared
    created: list = []
    statements = _statements_of(monkeypatch, lambda: created.append(svc.create_ticket(
        uow=factory(), actor=actor, subject="Cold office", customer_ref="C-1", category=category,
        priority="high")))
    writing = [s for s in statements if _WRITES.search(s)]
    assert writing == [statements[-1]]
    assert (created[0].work_order is not None) == (category == "hvac")
    with engine.connect() as conn:  # committed
        assert conn.execute(text("SELECT count(*) FROM tickets WHERE number = :n"),
                            {"n": created[0].ticket.number}).scalar_one() == 1


def test_a_ticket_for_an_organization_without_a_number_format_writes_nothing(shared):
    """The format row is made with the organization; ticket creation never writes it. If it
    is missing the dispatcher is told, and nothing (not even a default format) is written."""
    _url, engine, factory, actor = shared
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ticket_number_sequences WHERE organization_id = :o"),
                     {"o": actor.organization_id})
    before = _counts(engine, actor.organization_id)
    with pytest.raises(NotFound, match="no ticket number format"):
        svc.create_ticket(uow=factory(), actor=actor, subject="x", customer_ref="C-1", category="hvac",
                          priority="high")
    assert _counts(engine, actor.organization_id) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ticket_number_sequences WHERE organization_id = :o"),
                            {"o": actor.organization_id}).scalar_one() == 0


def test_work_order_numbers_are_used_only_by_tickets_that_get_an_order(shared):
    """The first statement reserves a work order's id only when the rules give this ticket an
    order (for its customer's type): tickets without one leave no hole in the WO numbers,
    and a rule added a moment ago (rules no longer as cached) still gets its order."""
    from desk_desktop.db.models import Customer
    from desk_desktop.services.rules import RuleDraft, create_rule

    _url, _engine, factory, actor = shared
    uow = factory()
    with uow:
        uow.session.add(Customer(organization_id=actor.organization_id, ref="C-2", name="Home",
                                 customer_type="residential"))
        uow.commit()
    create_rule(uow=factory(), actor=actor, draft=RuleDraft(
        name="Enterprise network", trigger_categories=("network",), trigger_customer_types=("enterprise",),
        wo_type="installation", wo_priority="high", wo_duration_minutes=60))

    def new(category, customer="C-1"):
        return svc.create_ticket(uow=factory(), actor=actor, subject="x", customer_ref=customer,
                                 category=category, priority="high").work_order

    first = new("hvac")
    assert new("hardware") is None  # no rule at all
    assert new("network", "C-2") is None  # a rule, but for another customer type
    second = new("hvac", "C-2")
    assert second.work_order_id == first.work_order_id + 1
    create_rule(uow=factory(), actor=actor, draft=RuleDraft(
        name="Hardware", trigger_categories=("hardware",), wo_type="repair", wo_priority="low",
        wo_duration_minutes=30))
    third = new("hardware")
    assert third is not None and third.rule_name == "Hardware"
    assert third.work_order_id == second.work_order_id + 1
