"""The assign job decides a claimed batch before writing it (real PostGIS): limits, load and
the rotation stay exact inside one batch, and what it writes is what writing each order
right after its decision writes."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from desk_desktop.db.models import AssignmentState, AuditEntry, Notification, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.services import assignment, notifications
from desk_desktop.services.assignment import batch as batch_module
from desk_desktop.services.assignment import job
from tests.conftest import acting_as, make_org
from tests.integration.workorder_helpers import (
    add_customer,
    add_rule,
    add_technician,
    create_ticket_with_automation,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
SITE = (48.8566, 2.3522)  # Paris


@pytest.fixture
def redo_expected():
    """Requested by a test that breaks a batch on purpose: falling back to order by order is
    what it checks."""


@pytest.fixture(autouse=True)
def _batches_are_written_whole(request, caplog):
    """A batch must be written as a batch: falling back to order-by-order writing (which would
    hide a broken batch, since it gives the same result) fails the test. The records of the
    test's own call phase are read (``caplog.records`` in teardown would only see teardown)."""
    caplog.set_level("WARNING", logger="desk_desktop.services.assignment")
    yield
    if "redo_expected" not in request.fixturenames:
        redone = [r.getMessage() for r in caplog.get_records("call") if "redoing it order by order" in r.getMessage()]
        assert not redone, redone


def _orders(uow_factory, org, n, lat=SITE[0], lon=SITE[1]):
    cust = add_customer(uow_factory(), org, email="customer@example.com")
    return [create_ticket_with_automation(uow_factory(), org, customer_id=cust, lat=lat, lon=lon,
                                          now=NOW)[1].work_order_id for _ in range(n)]


def _get_all(uow_factory, ids):
    uow = uow_factory()
    with uow:
        rows = {wo.id: wo for wo in uow.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))}
        for wo in rows.values():
            uow.session.expunge(wo)
    return [rows[i] for i in ids]


def test_a_batch_bigger_than_a_technicians_limit_respects_it(uow_factory, org):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest", required_skills=["hvac"])
    near = add_technician(uow_factory(), org, name="near", lat=48.857, lon=2.353, skills={"hvac": 3}, max_open=3)
    far = add_technician(uow_factory(), org, name="far", lat=48.95, lon=2.50, skills={"hvac": 3}, max_open=10)
    ids = _orders(uow_factory, org, 8)
    result = assignment.assign_pending(uow_factory=uow_factory, now=NOW)  # one batch (limit 200)
    assert (result.assigned, result.unassigned, result.errors) == (8, 0, 0)
    orders = _get_all(uow_factory, ids)
    got = Counter(wo.technician_id for wo in orders)
    assert got == {near: 3, far: 5}
    # In claim order: "near" until full, and each explanation counts the orders given before it.
    assert [wo.technician_id for wo in orders] == [near] * 3 + [far] * 5
    for i, wo in enumerate(orders):
        winner = wo.assignment_explanation["winner"]
        assert winner["open_jobs"] == (i if i < 3 else i - 3)
        names = [c["name"] for c in wo.assignment_explanation["candidates"]]
        assert names == (["near", "far"] if i < 3 else ["far"])  # a full technician is no longer eligible


def test_workload_inside_one_batch_sees_the_batchs_own_assignments(uow_factory, org):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="workload")
    techs = [add_technician(uow_factory(), org, name=f"w{i}", lat=48.85 + i / 100, lon=2.35, max_open=20)
             for i in range(3)]
    ids = _orders(uow_factory, org, 9)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 9
    orders = _get_all(uow_factory, ids)
    assert Counter(wo.technician_id for wo in orders) == {t: 3 for t in techs}
    # Every decision saw the loads left by the ones before it in the same batch.
    for i, wo in enumerate(orders):
        loads = sorted(c["open_jobs"] for c in wo.assignment_explanation["candidates"])
        assert sum(loads) == i


def test_round_robin_inside_one_batch_is_a_fair_rotation_and_the_pointer_is_its_last_step(uow_factory, org):
    rule = add_rule(uow_factory(), org, auto_assign=True, assignment_logic="round_robin")
    techs = sorted(add_technician(uow_factory(), org, lat=48.86 + i / 100, lon=2.35, max_open=50) for i in range(4))
    ids = _orders(uow_factory, org, 10)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 10
    orders = _get_all(uow_factory, ids)
    assert [wo.technician_id for wo in orders] == [techs[i % 4] for i in range(10)]
    # Each explanation names the rotation step it followed.
    for prev, wo in zip(orders, orders[1:], strict=False):
        assert wo.assignment_explanation["rotation_after"]["technician_id"] == prev.technician_id
    uow = uow_factory()
    with uow:
        assert uow.session.get(AssignmentState, rule).last_technician_id == techs[(10 - 1) % 4]


def test_batch_notifications_are_queued_once_with_the_same_keys(uow_factory, org):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest", notify_technician=True,
             notify_customer=True, auto_schedule=True)
    tech = add_technician(uow_factory(), org, name="notified", lat=48.857, lon=2.353, email="tech@example.com",
                          max_open=20)
    ids = _orders(uow_factory, org, 5)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 5
    uow = uow_factory()
    with uow:
        rows = [(n.work_order_id, n.idempotency_key) for n in
                uow.session.scalars(select(Notification).where(Notification.work_order_id.in_(ids)))]
        audits = list(uow.session.scalars(select(AuditEntry.id).where(AuditEntry.action == "work_order.assigned",
                                                                        AuditEntry.entity_id.in_(ids))))
    assert len(rows) == 5 * 3 and len(audits) == 5
    assert Counter(wo_id for wo_id, _ in rows) == {i: 3 for i in ids}
    wo = _get_all(uow_factory, ids[:1])[0]
    at = wo.assigned_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    keys = {key for wo_id, key in rows if wo_id == wo.id}
    assert f"work_order.assigned:wo{wo.id}:t{tech}@{at}:technician{tech}:email" in keys
    assert f"work_order.assigned:wo{wo.id}:t{tech}@{at}:technician{tech}:inbox" in keys
    # The single-event path builds the same keys: asking again queues nothing.
    uow = uow_factory()
    with uow:
        again = notifications.enqueue_work_order_event(uow=uow, work_order_id=wo.id, event="work_order.assigned")
        uow.commit()
    assert again == 0


def _normalized(wo: WorkOrder, names: dict[int, str], orders: dict[str, str]) -> dict:
    """An order's outcome with technician ids replaced by names and work order numbers (a
    slot is "after WO-…") by the order's place (ids differ between organizations)."""
    text = re.sub(r"WO-\d{6}", lambda m: orders[m.group()], json.dumps(wo.assignment_explanation or {}))
    e = json.loads(text)
    for key in ("winner", "rotation_after"):
        if e.get(key):
            e[key] = {**e[key], "technician_id": names.get(e[key]["technician_id"])}
    e["candidates"] = [{**c, "technician_id": names.get(c["technician_id"])} for c in e.get("candidates", [])]
    return {"technician": names.get(wo.technician_id), "status": wo.status, "start": wo.scheduled_start,
            "end": wo.scheduled_end, "reason": wo.unassigned_reason, "explanation": e}


@pytest.mark.parametrize("logic", ["nearest", "skill_match", "workload", "round_robin"])
def test_the_batch_decides_and_writes_what_the_order_by_order_path_does(uow_factory, org, logic):
    """Two identical organizations; one batch is decided with its candidates fetched together
    and written at its end, the other one order at a time, each written right after its
    decision."""
    results = [_run_twin(uow_factory, org, logic, one_by_one=False)]
    twin = make_org(uow_factory(), slug="twin")
    with acting_as(uow_factory, twin):
        results.append(_run_twin(uow_factory, twin, logic, one_by_one=True))
    assert results[0][0] == results[1][0] == (12, 4)
    assert results[0][1] == results[1][1]
    assert results[0][2] == results[1][2]


def _run_twin(uow_factory, actor, logic, *, one_by_one):
    add_rule(uow_factory(), actor, auto_assign=True, assignment_logic=logic, required_skills=["hvac"],
             auto_schedule=True, schedule_offset_minutes=600, notify_technician=True)
    names = {}
    for i in range(5):
        t = add_technician(uow_factory(), actor, name=f"t{i}", lat=48.85 + i / 50, lon=2.35 + i / 80,
                           skills={"hvac": 1 + i % 5}, max_open=2 + i % 2,
                           working_hours={"wed": [["08:00", "12:00"]], "thu": [["13:00", "17:00"]]})
        names[t] = f"t{i}"
    add_technician(uow_factory(), actor, name="no hvac", lat=48.8566, lon=2.3522, skills={"gas": 5})
    ids = _orders(uow_factory, actor, 16)  # more than the 12 places: some stay unassigned
    a, u, e, _ = job._assign_organization(uow_factory, actor.organization_id, now=NOW, limit=200,
                                          radius_km=100.0, speed_kmh=40.0, one_by_one=one_by_one)
    assert e == 0
    uow = uow_factory()
    with uow:
        queued = Counter(uow.session.scalars(select(Notification.work_order_id)
                                             .where(Notification.work_order_id.in_(ids))))
    orders = {work_order_number(i): f"order {k}" for k, i in enumerate(ids)}
    return ((a, u), [_normalized(wo, names, orders) for wo in _get_all(uow_factory, ids)],
            sorted(queued.get(i, 0) for i in ids))


def _refuse_batches_of_audit_rows(monkeypatch, *, when):
    """Make the server refuse the audit rows of a write when ``when(call number, rows)``
    (the rows go with a NULL action, against audit_log's NOT NULL). Returns the row counts
    of the writes so far."""
    real, calls = batch_module.write_audit_rows, []

    def write(uow, rows):
        calls.append(len(rows))
        if when(len(calls), rows):
            rows = [{**rows[0], "action": None}, *rows[1:]]
        real(uow, rows)

    monkeypatch.setattr(batch_module, "write_audit_rows", write)
    return calls


def test_a_batch_that_cannot_be_written_is_redone_order_by_order(uow_factory, org, monkeypatch, caplog,
                                                                 redo_expected):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest", notify_technician=True)
    add_technician(uow_factory(), org, lat=48.857, lon=2.353, max_open=20, email="t@example.com")
    ids = _orders(uow_factory, org, 4)
    # The server refuses any write of more than one order's audit rows: the batch fails as a
    # whole; one order at a time, each is written.
    _refuse_batches_of_audit_rows(monkeypatch, when=lambda n, rows: len(rows) > 1)
    result = assignment.assign_pending(uow_factory=uow_factory, now=NOW)
    assert (result.assigned, result.errors) == (4, 0)
    assert any("redoing it order by order" in r.getMessage() and "NotNullViolation" in r.getMessage()
               for r in caplog.get_records("call"))
    orders = _get_all(uow_factory, ids)
    assert all(wo.technician_id is not None for wo in orders)
    uow = uow_factory()
    with uow:
        n = len(list(uow.session.scalars(select(Notification).where(Notification.work_order_id.in_(ids)))))
        audits = Counter(uow.session.scalars(select(AuditEntry.entity_id).where(
            AuditEntry.action == "work_order.assigned", AuditEntry.entity_id.in_(ids))))
    assert n == 4 * 2  # email + inbox each, once
    assert audits == {i: 1 for i in ids}


@pytest.mark.parametrize("spare", [batch_module.NEAREST_SPARE, 0])
def test_a_technician_filled_by_the_batch_makes_room_for_the_next_nearest(uow_factory, org, monkeypatch, spare):
    """Nearest lists 10 candidates. When the batch fills one of them, the 11th nearest moves
    up, exactly as if each order were written at once: taken from the spare candidates the
    batch fetched beforehand or, without spares, by asking again after writing what is
    pending."""
    monkeypatch.setattr(batch_module, "NEAREST_SPARE", spare)
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="nearest")
    techs = [add_technician(uow_factory(), org, name=f"n{i:02d}", lat=48.857 + i / 200, lon=2.353,
                            max_open=1 if i == 0 else 20) for i in range(11)]
    ids = _orders(uow_factory, org, 3)
    assert assignment.assign_pending(uow_factory=uow_factory, now=NOW).assigned == 3
    first, second, third = _get_all(uow_factory, ids)
    assert first.technician_id == techs[0]
    assert second.technician_id == techs[1] and third.technician_id == techs[1]
    for wo in (second, third):
        names = [c["name"] for c in wo.assignment_explanation["candidates"]]
        assert names == [f"n{i:02d}" for i in range(1, 11)]  # n00 is full; n10 moved up
        assert wo.assignment_explanation["candidates_total"] == 10


def test_a_batch_whose_candidates_cannot_be_fetched_together_is_redone_order_by_order(uow_factory, org, monkeypatch,
                                                                                       redo_expected):
    add_rule(uow_factory(), org, auto_assign=True, assignment_logic="workload")
    tech = add_technician(uow_factory(), org, lat=48.857, lon=2.353, max_open=20)
    ids = _orders(uow_factory, org, 3)

    def broken(*a, **kw):
        raise RuntimeError("prefetch exploded")

    monkeypatch.setattr(batch_module.Batch, "prefetch", broken)
    result = assignment.assign_pending(uow_factory=uow_factory, now=NOW)
    assert (result.assigned, result.errors) == (3, 0)
    assert [wo.technician_id for wo in _get_all(uow_factory, ids)] == [tech] * 3
