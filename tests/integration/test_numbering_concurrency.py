"""Numbering under real concurrency: separate processes and connections, real commits."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import text

from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import tickets as svc
from desk_desktop.services.common import Actor
from tests.conftest import run_together

WRITERS = 8
PER_WRITER = 200


def _writer(url: str, org_id: int, count: int, start_evt, out_q) -> None:
    """A separate process creating tickets through the real service."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    factory = UnitOfWorkFactory(engine)
    actor = Actor(organization_id=org_id, name="writer")
    numbers, errors = [], []
    start_evt.wait(60)
    for i in range(count):
        try:
            res = svc.create_ticket(uow=factory(), actor=actor, subject=f"Ticket {i}", customer_ref="C-1",
                                    category="hvac" if i % 2 else "plumbing", priority="high")
            numbers.append(res.ticket.number)
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(repr(exc))
    engine.dispose()
    out_q.put((numbers, errors))


@pytest.fixture
def shared(acme_with_hvac_rule):
    # The rule makes about half of the tickets also create a work order.
    return acme_with_hvac_rule


def _numbers(engine, org_id):
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT number FROM tickets WHERE organization_id = :o"),
                                           {"o": org_id})]


def _values(numbers):
    return sorted(int(re.fullmatch(r"TK-\d{4}-(\d+)", n).group(1)) for n in numbers)


def test_eight_processes_get_distinct_gapless_numbers(shared):
    url, engine, _factory, actor = shared
    results = run_together(_writer, [(url, actor.organization_id, PER_WRITER)] * WRITERS)
    errors = [e for _, errs in results for e in errs]
    assert errors == []  # nobody ever fails with "could not obtain lock" or a duplicate
    returned = [n for nums, _ in results for n in nums]
    stored = _numbers(engine, actor.organization_id)
    assert len(returned) == len(set(returned)) == WRITERS * PER_WRITER
    assert sorted(returned) == sorted(stored)
    assert _values(stored) == list(range(1, WRITERS * PER_WRITER + 1))  # no duplicates, no gaps
    with engine.connect() as conn:
        orders = conn.execute(text("SELECT count(*) FROM work_orders WHERE organization_id = :o"),
                              {"o": actor.organization_id}).scalar_one()
    assert orders == WRITERS * PER_WRITER // 2  # hvac tickets, exactly one order each


def _wait_until_blocked(engine, application_pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            row = conn.execute(text("SELECT wait_event_type, state FROM pg_stat_activity WHERE pid = :p"),
                               {"p": application_pid}).one_or_none()
            if row is not None and row.wait_event_type == "Lock":
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never waited on the counter lock")


def _second_writer(factory, actor, box):
    uow = factory()
    try:
        with uow:
            box["pid"] = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            box["ready"].set()
            box["result"] = svc.create_ticket(uow=uow, actor=actor, subject="second", customer_ref="C-1",
                                              category="general", priority="low")
            uow.commit()
    except Exception as exc:  # surfaced by the test
        box["error"] = exc
    finally:
        box["ready"].set()


@pytest.mark.parametrize("first_outcome", ["commit", "rollback"])
def test_second_writer_waits_for_the_counter_then_succeeds(shared, first_outcome):
    """Writer A takes the number and holds its transaction open; writer B (another
    connection) blocks on the counter row — it waits, it does not fail. When A commits,
    B gets the next number; when A rolls back, B gets A's number (no gap)."""
    _url, engine, factory, actor = shared
    first = factory()
    with first:
        a = svc.create_ticket(uow=first, actor=actor, subject="first", customer_ref="C-1",
                              category="general", priority="low")
        assert a.ticket.number.endswith("-00001")  # inner commit is a no-op: still open

        box = {"ready": threading.Event()}
        thread = threading.Thread(target=_second_writer, args=(factory, actor, box))
        thread.start()
        assert box["ready"].wait(20)
        _wait_until_blocked(engine, box["pid"])
        assert "result" not in box and "error" not in box  # still waiting, not failed
        if first_outcome == "commit":
            first.commit()
    thread.join(30)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    second = box["result"].ticket.number
    stored = sorted(_numbers(engine, actor.organization_id))
    if first_outcome == "commit":
        assert second.endswith("-00002") and second[:-5] == a.ticket.number[:-5]
        assert stored == sorted([a.ticket.number, second])
    else:
        assert second == a.ticket.number  # the rolled-back number was given back
        assert stored == [second]


def test_rolled_back_transaction_leaves_no_gap(shared):
    _url, engine, factory, actor = shared
    uow = factory()
    with uow:
        taken = svc.create_ticket(uow=uow, actor=actor, subject="doomed", customer_ref="C-1",
                                  category="hvac", priority="low").ticket.number
        # leave without commit: everything rolls back, the counter included
    nxt = svc.create_ticket(uow=factory(), actor=actor, subject="kept", customer_ref="C-1",
                            category="hvac", priority="low").ticket.number
    assert nxt == taken
    assert _numbers(engine, actor.organization_id) == [nxt]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM work_orders")).scalar_one() == 1


def test_counter_moved_behind_existing_numbers_fails_clearly_and_writes_nothing(shared):
    """The COMMIT rides with the numbering statement; a failure there must still roll back everything."""
    from desk_desktop.services import numbering
    from desk_desktop.services.numbering import NumberingConflict

    _url, engine, factory, actor = shared

    def make():
        return svc.create_ticket(uow=factory(), actor=actor, subject="s", customer_ref="C-1",
                                 category="hvac", priority="low")

    first = make().ticket.number
    with engine.begin() as conn:  # someone moved the counter back by hand
        conn.execute(text("UPDATE ticket_number_counters SET next_value = 1"))
    with pytest.raises(NumberingConflict, match="already taken"):
        make()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM work_orders")).scalar_one() == 1
        assert conn.execute(text("SELECT next_value FROM ticket_number_counters")).scalar_one() == 1
    assert numbering.set_next_number(uow=factory(), actor=actor, value=2) == first[:-1] + "2"
    assert make().ticket.number == first[:-1] + "2"


def test_rule_change_committed_on_another_workstation_decides_the_next_ticket(shared):
    """The compiled rules are cached in each process; nothing tells this process that
    another workstation edited a rule, so the next ticket must still notice (real commits)."""
    from desk_desktop.services.rules import RuleDraft, list_rules, set_rule_active, update_rule

    url, _engine, factory, actor = shared
    [rule] = list_rules(uow=factory(), actor=actor)

    def hvac_ticket():
        return svc.create_ticket(uow=factory(), actor=actor, subject="Cold office", customer_ref="C-1",
                                 category="hvac", priority="high")

    assert hvac_ticket().work_order.work_type == rule.wo_type  # cache warm
    other = make_engine(url)  # the other workstation: its own connection, its own commits
    try:
        other_factory = UnitOfWorkFactory(other)
        update_rule(uow=other_factory(), actor=actor, rule_id=rule.id,
                    draft=RuleDraft(name="HVAC", trigger_categories=("hvac",), wo_type="emergency",
                                    wo_priority="urgent", wo_duration_minutes=30))
        edited = hvac_ticket()
        assert (edited.work_order.work_type, edited.work_order.priority) == ("emergency", "urgent")
        set_rule_active(uow=other_factory(), actor=actor, rule_id=rule.id, active=False)
        assert hvac_ticket().work_order is None
        # A change that is rolled back is never seen.
        uow = other_factory()
        with uow:
            uow.session.execute(text("UPDATE ticket_work_order_rules SET active = true WHERE id = :i"),
                                {"i": rule.id})
            assert hvac_ticket().work_order is None  # uncommitted elsewhere: not visible
            # leaving the block without commit() rolls the change back
        assert hvac_ticket().work_order is None
        set_rule_active(uow=other_factory(), actor=actor, rule_id=rule.id, active=True)
        assert hvac_ticket().work_order.work_type == "emergency"
    finally:
        other.dispose()
