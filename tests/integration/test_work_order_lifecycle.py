"""The work-order lifecycle against the real database: every step, every refusal, the audit
trail, freed capacity, the ticket's resolution, the customer's mail (real SMTP), two
workstations at once, and the command line."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from desk_desktop.cli import main
from desk_desktop.config import Settings
from desk_desktop.db.models import AuditEntry, Ticket, WorkOrder
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.jobs.scheduler import AppScheduler
from desk_desktop.services import lifecycle, org_switches, tickets
from desk_desktop.services.assignment import (
    assign_work_order,
    list_candidates,
    reschedule_work_order,
    unassign_work_order,
)
from desk_desktop.services.assignment.types import TechnicianNotEligible
from desk_desktop.services.common import PermissionDenied, ValidationFailed
from desk_desktop.services.lifecycle import TransitionRefused
from tests.conftest import registry, url_as
from tests.notify_seed import assigned_order, seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def step(uow_factory, actor, wo_id, action, **kw):
    kw.setdefault("now", NOW)
    return lifecycle.transition(uow=uow_factory(), actor=actor, work_order_id=wo_id, action=action, **kw)


def order(uow_factory, wo_id) -> WorkOrder:
    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, wo_id)
        uow.session.expunge(wo)
        return wo


def audit_of(uow_factory, wo_id) -> list[AuditEntry]:
    with uow_factory() as uow:
        found = list(uow.session.scalars(select(AuditEntry).where(AuditEntry.entity == "work_order",
                                                                 AuditEntry.entity_id == wo_id).order_by(AuditEntry.id)))
        for a in found:
            uow.session.expunge(a)
        return found


def ticket_number_of(uow_factory, wo_id) -> str:
    with uow_factory() as uow:
        return uow.session.execute(text("SELECT t.number FROM work_orders w JOIN tickets t ON t.id = w.source_ticket_id "
                                        "WHERE w.id = :w"), {"w": wo_id}).scalar_one()


def ticket_status(uow_factory, ticket_id) -> str:
    with uow_factory() as uow:
        return uow.session.get(Ticket, ticket_id).status


@pytest.fixture
def world(uow_factory):
    sd = seed(uow_factory, technicians=2, customers=1)
    return sd, assigned_order(uow_factory, sd)


# ------------------------------------------------------------------ the allowed steps


def test_scheduled_to_travelling_to_on_site_to_completed_with_the_audit_trail(uow_factory, world):
    sd, wo_id = world
    number = f"WO-{wo_id:06d}"
    seen = []  # what other workstations are told (live updates)
    uow_factory.add_commit_listener(seen.extend)
    assert step(uow_factory, sd.actor, wo_id, "start").status == "travelling"
    arrived = NOW + timedelta(minutes=20)
    assert step(uow_factory, sd.actor, wo_id, "arrive", now=arrived).status == "on_site"
    done = step(uow_factory, sd.actor, wo_id, "complete", note="Replaced the compressor relay.",
                now=arrived + timedelta(minutes=75))
    assert (done.previous_status, done.status, done.number) == ("on_site", "completed", number)
    wo = order(uow_factory, wo_id)
    assert wo.actual_start == arrived  # default start: when it went on site
    assert wo.actual_end == arrived + timedelta(minutes=75)  # default end: now
    assert wo.resolution_note == "Replaced the compressor relay."
    trail = audit_of(uow_factory, wo_id)
    assert [(a.action, a.actor) for a in trail] == [
        ("work_order.started", sd.actor.name), ("work_order.marked_on_site", sd.actor.name),
        ("work_order.completed", sd.actor.name)]
    assert trail[0].summary == f"{number} scheduled → travelling"
    assert trail[2].summary == f"{number} on site → completed (Replaced the compressor relay.)"
    assert trail[2].details["actual_start"] == arrived.isoformat()
    assert [(c.entity, c.entity_id, c.action) for c in seen if c.entity == "work_order"] == [
        ("work_order", wo_id, "start"), ("work_order", wo_id, "arrive"), ("work_order", wo_id, "complete")]


def test_completing_takes_the_times_given_and_refuses_impossible_ones(uow_factory, world):
    sd, wo_id = world
    with pytest.raises(ValidationFailed, match="Give a resolution note"):
        step(uow_factory, sd.actor, wo_id, "complete", note="  ")
    with pytest.raises(ValidationFailed, match="cannot be in the future"):
        step(uow_factory, sd.actor, wo_id, "complete", note="done", ended=NOW + timedelta(hours=1))
    with pytest.raises(ValidationFailed, match="must end after it started"):
        step(uow_factory, sd.actor, wo_id, "complete", note="done", started=NOW - timedelta(hours=1),
             ended=NOW - timedelta(hours=2))
    with pytest.raises(ValidationFailed, match="needs a time zone"):
        step(uow_factory, sd.actor, wo_id, "complete", note="done", started=datetime(2026, 12, 1, 9))
    assert order(uow_factory, wo_id).status == "scheduled"  # nothing half-written
    step(uow_factory, sd.actor, wo_id, "complete", note="done after the fact",
         started=NOW - timedelta(hours=3), ended=NOW - timedelta(hours=2))
    wo = order(uow_factory, wo_id)
    assert (wo.status, wo.actual_start, wo.actual_end) == ("completed", NOW - timedelta(hours=3),
                                                          NOW - timedelta(hours=2))


def test_hold_needs_a_reason_and_resume_goes_back_where_it_was(uow_factory, world):
    sd, wo_id = world
    with pytest.raises(ValidationFailed, match="Give a reason"):
        step(uow_factory, sd.actor, wo_id, "hold")
    step(uow_factory, sd.actor, wo_id, "arrive")
    held = step(uow_factory, sd.actor, wo_id, "hold", reason="Waiting for a spare part")
    assert (held.previous_status, held.status) == ("on_site", "on_hold")
    assert order(uow_factory, wo_id).hold_reason == "Waiting for a spare part"
    assert step(uow_factory, sd.actor, wo_id, "resume").status == "on_site"
    wo = order(uow_factory, wo_id)
    assert (wo.hold_reason, wo.held_from) == (None, None)
    [hold_row] = [a for a in audit_of(uow_factory, wo_id) if a.action == "work_order.put_on_hold"]
    assert hold_row.details["reason"] == "Waiting for a spare part"
    assert "Waiting for a spare part" in hold_row.summary


def test_cancel_needs_a_reason_and_reopen_gives_it_back_to_its_technician(uow_factory, world):
    sd, wo_id = world
    with pytest.raises(ValidationFailed, match="Give a reason"):
        step(uow_factory, sd.actor, wo_id, "cancel", reason="")
    step(uow_factory, sd.actor, wo_id, "cancel", reason="Customer fixed it themselves")
    wo = order(uow_factory, wo_id)
    assert (wo.status, wo.cancel_reason) == ("cancelled", "Customer fixed it themselves")
    reopened = step(uow_factory, sd.actor, wo_id, "reopen")
    assert (reopened.previous_status, reopened.status) == ("cancelled", "scheduled")
    wo = order(uow_factory, wo_id)
    assert (wo.cancel_reason, wo.technician_id) == (None, sd.technician_ids[0])
    [row] = [a for a in audit_of(uow_factory, wo_id) if a.action == "work_order.reopened"]
    assert row.details["was"]["cancel_reason"] == "Customer fixed it themselves"


def test_another_technician_or_none_starts_a_started_visit_over(uow_factory, world):
    sd, wo_id = world
    step(uow_factory, sd.actor, wo_id, "arrive")
    assign_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, technician_id=sd.technician_ids[1],
                      force=True)
    wo = order(uow_factory, wo_id)
    assert (wo.technician_id, wo.status, wo.on_site_at) == (sd.technician_ids[1], "scheduled", None)
    [row] = [a for a in audit_of(uow_factory, wo_id) if a.action == "work_order.assigned"]
    assert row.summary.endswith("(it was on site; the visit starts over)") and row.details["was"] == "on_site"

    step(uow_factory, sd.actor, wo_id, "hold", reason="Waiting for a spare part")
    unassign_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, reason="Technician ill")
    wo = order(uow_factory, wo_id)
    assert (wo.status, wo.technician_id, wo.hold_reason, wo.held_from) == ("unassigned", None, None, None)
    [row] = [a for a in audit_of(uow_factory, wo_id) if a.action == "work_order.unassigned"]
    assert row.summary.endswith(": Technician ill (it was on hold)")


def test_a_reopened_visit_whose_time_was_given_away_goes_back_to_its_technician_unscheduled(uow_factory, world):
    sd, wo_id = world
    step(uow_factory, sd.actor, wo_id, "cancel", reason="Customer not at home")
    # Its 09:00-10:30 slot goes to another order of the same technician.
    other = assigned_order(uow_factory, sd)
    reschedule_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=other,
                          start=datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    reopened = step(uow_factory, sd.actor, wo_id, "reopen")
    assert (reopened.previous_status, reopened.status) == ("cancelled", "assigned")
    wo = order(uow_factory, wo_id)
    assert (wo.technician_id, wo.scheduled_start, wo.scheduled_end) == (sd.technician_ids[0], None, None)
    [row] = [a for a in audit_of(uow_factory, wo_id) if a.action == "work_order.reopened"]
    assert f"its old time now belongs to WO-{other:06d}; reschedule it" in row.summary
    assert order(uow_factory, other).scheduled_start == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_a_reopened_order_without_technician_waits_for_the_assign_job_when_its_rule_assigns(uow_factory):
    sd = seed(uow_factory, technicians=1)
    created = tickets.create_ticket(uow=uow_factory(), actor=sd.actor, subject="No cooling", category="hvac",
                                    priority="high", customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
    wo_id = created.work_order.work_order_id
    step(uow_factory, sd.actor, wo_id, "cancel", reason="Duplicate of another ticket")
    assert order(uow_factory, wo_id).needs_assignment is False  # out of the assign job's queue
    assert step(uow_factory, sd.actor, wo_id, "reopen").status == "unassigned"
    wo = order(uow_factory, wo_id)
    assert wo.needs_assignment is True and wo.next_assign_at == NOW  # the rule assigns automatically


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("path", "action", "message"), [
    (("complete",), "start", "{n} is completed; it can only be reopened."),
    (("cancel",), "cancel", "{n} is cancelled; it can only be reopened."),
    (("hold",), "complete", "{n} is on hold and cannot be completed; it can be resumed or cancelled."),
    (("arrive",), "arrive", "{n} is on site and cannot be marked on site; it can be put on hold, completed or "
                            "cancelled."),
    (("start",), "start", "{n} is travelling and cannot be started; it can be marked on site, put on hold, "
                          "completed or cancelled."),
    ((), "reopen", "{n} is scheduled and cannot be reopened; it can be started, marked on site, put on hold, "
                   "completed or cancelled."),
    ((), "resume", "{n} is scheduled and cannot be resumed; it can be started, marked on site, put on hold, "
                   "completed or cancelled."),
])
def test_refused_steps_name_the_status_and_what_it_allows(uow_factory, world, path, action, message):
    sd, wo_id = world
    for earlier in path:
        step(uow_factory, sd.actor, wo_id, earlier, reason="because", note="done")
    before = order(uow_factory, wo_id).status
    trail = len(audit_of(uow_factory, wo_id))
    with pytest.raises(TransitionRefused) as refused:
        step(uow_factory, sd.actor, wo_id, action, reason="because", note="done")
    assert str(refused.value) == message.format(n=f"WO-{wo_id:06d}")
    assert order(uow_factory, wo_id).status == before
    assert len(audit_of(uow_factory, wo_id)) == trail  # a refusal writes nothing


def test_an_unassigned_order_can_only_be_cancelled(uow_factory):
    sd = seed(uow_factory, technicians=1)
    created = tickets.create_ticket(uow=uow_factory(), actor=sd.actor, subject="No cooling", category="hvac",
                                    priority="high", customer_ref=sd.customer_refs[0])
    wo_id = created.work_order.work_order_id
    with pytest.raises(TransitionRefused, match=r"is unassigned; it can only be cancelled\.$"):
        step(uow_factory, sd.actor, wo_id, "start")
    with pytest.raises(ValidationFailed, match="Unknown action 'finish'"):
        step(uow_factory, sd.actor, wo_id, "finish")


# ------------------------------------------------------------------ capacity


def test_a_technician_at_capacity_is_eligible_again_once_an_order_is_completed(uow_factory):
    sd = seed(uow_factory, technicians=1, max_open=1)
    first = assigned_order(uow_factory, sd)
    created = tickets.create_ticket(uow=uow_factory(), actor=sd.actor, subject="Second job", category="plumbing",
                                    priority="low", customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
    from desk_desktop.services.workorders import create_work_order

    second = create_work_order(uow=uow_factory(), actor=sd.actor, work_type="repair", priority="low",
                               ticket_id=created.ticket.id).work_order_id
    tech = sd.technician_ids[0]

    def facts():
        found = list_candidates(uow=uow_factory(), actor=sd.actor, work_order_id=second, strategy="workload")
        return next(c for c in found.candidates if c.technician_id == tech)

    assert (facts().open_jobs, facts().eligible) == (1, False)
    with pytest.raises(TechnicianNotEligible, match="at capacity"):
        assign_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=second, technician_id=tech)
    step(uow_factory, sd.actor, first, "complete", note="done")
    assert (facts().open_jobs, facts().eligible) == (0, True)
    assert assign_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=second,
                             technician_id=tech).technician_id == tech


# ------------------------------------------------------------------ the ticket


def test_completing_the_last_order_offers_to_resolve_the_ticket(uow_factory, world):
    sd, wo_id = world
    ticket_id = order(uow_factory, wo_id).source_ticket_id
    done = step(uow_factory, sd.actor, wo_id, "complete", note="done")
    assert (done.ticket_can_be_resolved, done.ticket_resolved) == (True, False)
    assert ticket_status(uow_factory, ticket_id) == "new"


def test_the_organization_setting_resolves_the_ticket_in_the_same_transaction(uow_factory, world):
    sd, wo_id = world
    ticket_id = order(uow_factory, wo_id).source_ticket_id
    org_switches.set_switch(uow=uow_factory(), actor=sd.actor, name="auto_resolve_tickets", enabled=True)
    done = step(uow_factory, sd.actor, wo_id, "complete", note="done")
    assert (done.ticket_can_be_resolved, done.ticket_resolved) == (False, True)
    assert ticket_status(uow_factory, ticket_id) == "resolved"
    with uow_factory() as uow:
        row = uow.session.scalars(select(AuditEntry).where(AuditEntry.entity == "ticket",
                                                          AuditEntry.entity_id == ticket_id)).all()[-1]
        assert row.details["automatic"] is True and row.details["work_order"] == done.number


def test_only_an_administrator_changes_the_organizations_switches(uow_factory, world):
    sd, _ = world
    from dataclasses import replace

    for name, what in (("auto_resolve_tickets", "whether tickets are resolved automatically"),
                       ("nightly_optimize", "whether the next day is optimized every evening")):
        with pytest.raises(PermissionDenied, match=f"Only an administrator can change {what}"):
            org_switches.set_switch(uow=uow_factory(), actor=replace(sd.actor, is_admin=False), name=name,
                                    enabled=True)
    assert org_switches.get_switches(uow=uow_factory(), actor=sd.actor) == {"auto_resolve_tickets": False,
                                                                          "nightly_optimize": False}


def test_resolving_a_ticket_with_an_open_order_asks_what_to_do_with_it(uow_factory, world):
    sd, wo_id = world
    ticket_id = order(uow_factory, wo_id).source_ticket_id
    number = f"WO-{wo_id:06d}"
    with pytest.raises(tickets.TicketHasOpenWorkOrders) as asked:
        tickets.change_ticket_status(uow=uow_factory(), actor=sd.actor, ticket_id=ticket_id, status="resolved")
    assert str(asked.value) == (f"Ticket TK-2026-00001 still has open work order {number} (scheduled); say whether "
                                "to cancel it (with a reason) or leave it open.")
    assert ticket_status(uow_factory, ticket_id) == "new"
    with pytest.raises(tickets.TicketInvalid, match="Give a reason"):
        tickets.change_ticket_status(uow=uow_factory(), actor=sd.actor, ticket_id=ticket_id, status="resolved",
                                     open_orders="cancel")
    tickets.change_ticket_status(uow=uow_factory(), actor=sd.actor, ticket_id=ticket_id, status="resolved",
                                 open_orders="leave")
    assert (ticket_status(uow_factory, ticket_id), order(uow_factory, wo_id).status) == ("resolved", "scheduled")
    tickets.change_ticket_status(uow=uow_factory(), actor=sd.actor, ticket_id=ticket_id, status="closed",
                                 open_orders="cancel", reason="Customer withdrew the request")
    wo = order(uow_factory, wo_id)
    assert (ticket_status(uow_factory, ticket_id), wo.status) == ("closed", "cancelled")
    assert wo.cancel_reason == "ticket TK-2026-00001 closed: Customer withdrew the request"
    assert [a.action for a in audit_of(uow_factory, wo_id)][-1] == "work_order.cancelled"


# ------------------------------------------------------------------ the customer's mail


def test_the_customer_is_mailed_when_the_visit_is_completed(uow_factory, smtp):
    sd = seed(uow_factory, technicians=2)
    told = assigned_order(uow_factory, sd)
    silent = assigned_order(uow_factory, sd, notify_customer=False, technician_index=1)
    assert step(uow_factory, sd.actor, told, "complete", note="Fixed").notifications == 1
    assert step(uow_factory, sd.actor, silent, "complete", note="Fixed").notifications == 0
    scheduler = AppScheduler(uow_factory, Settings(), channel_registry=registry(smtp.port), jobs=("notify",))
    assert all(r.ok for r in scheduler.run_once().values())
    [mail] = smtp.received()
    assert mail.to == "customer0@customers.example"
    assert mail.subject == f"Your visit is complete ({ticket_number_of(uow_factory, told)})"
    assert mail.text.startswith("Dear Ada Lovelace,")
    assert "Grace has finished the work on your request." in mail.text
    assert f"WO-{told:06d}" in mail.text


# ------------------------------------------------------------------ two workstations at once


def _complete_or_cancel(url, actor, wo_id, action, start, out):
    engine = make_engine(url)
    try:
        start.wait(30)
        done = lifecycle.transition(uow=UnitOfWorkFactory(engine)(), actor=actor, work_order_id=wo_id,
                                    action=action, reason="Customer cancelled", note="Fixed")
        out.put(("ok", action, done.status))
    except TransitionRefused as exc:
        out.put(("refused", action, str(exc)))
    finally:
        engine.dispose()


def _lock_waiters(conn) -> int:
    n = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND datname = current_database()")).scalar_one()
    conn.rollback()
    return n


def test_two_workstations_cannot_both_complete_and_cancel_one_order(db):
    """Both processes reach the order while a third connection holds its row, so both are
    past any check before either can write: only the row lock keeps them apart."""
    import multiprocessing as mp

    url, factory = db
    sd = seed(factory, technicians=1)
    wo_id = assigned_order(factory, sd)
    url = url_as(url, sd.actor)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_complete_or_cancel, args=(url, sd.actor, wo_id, action, start, out))
             for action in ("complete", "cancel")]
    with factory.engine.connect() as blocker, factory.engine.connect() as watcher:
        blocker.execute(text("SELECT id FROM work_orders WHERE id = :id FOR UPDATE"), {"id": wo_id})
        for p in procs:
            p.start()
        start.set()
        deadline = time.monotonic() + 60
        while _lock_waiters(watcher) < 2:  # both workstations are waiting for the row
            assert time.monotonic() < deadline, "the two workstations never both waited for the order"
            time.sleep(0.02)
        blocker.rollback()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    [won] = [r for r in results if r[0] == "ok"]
    [lost] = [r for r in results if r[0] == "refused"]
    final = order(factory, wo_id).status
    assert won[2] == final
    assert lost[2] == f"WO-{wo_id:06d} is {final}; it can only be reopened."
    assert len([a for a in audit_of(factory, wo_id) if a.action in ("work_order.completed",
                                                                    "work_order.cancelled")]) == 1


# ------------------------------------------------------------------ the command line


def test_the_command_line_carries_an_order_to_the_end(db, capsys):
    import json

    url, factory = db
    sd = seed(factory, technicians=1)
    wo_id = assigned_order(factory, sd)
    url = url_as(url, sd.actor)
    number = f"wo-{wo_id}"

    def run(*argv):
        code = main([*argv, "--database-url", url])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("workorder", "show", number, "--json")
    assert code == 0 and json.loads(out)["allowed"] == ["start", "arrive", "hold", "complete", "cancel"]
    assert run("workorder", "start", number)[:2] == (0, f"WO-{wo_id:06d}: scheduled → travelling.\n")
    code, _, err = run("workorder", "hold", number)
    assert (code, err) == (1, "error: Give a reason.\n")
    assert run("workorder", "hold", number, "--reason", "No access to the roof")[0] == 0
    code, _, err = run("workorder", "complete", number, "--note", "x")
    assert code == 1
    assert err == (f"error: WO-{wo_id:06d} is on hold and cannot be completed; it can be resumed or cancelled.\n")
    assert run("workorder", "resume", number)[0] == 0
    code, out, _ = run("workorder", "complete", number, "--note", "Replaced the fan", "--started",
                       "2026-12-01T09:10:00Z", "--ended", "2026-12-01T10:05:00+00:00", "--resolve-ticket", "--json")
    shown = json.loads(out)
    assert code == 0
    assert (shown["status"], shown["resolution_note"], shown["ticket_resolved"]) == ("completed", "Replaced the fan",
                                                                                     True)
    assert shown["actual_start"] == "2026-12-01T09:10:00+00:00"
    code, _, err = run("workorder", "start", number)
    assert (code, err) == (1, f"error: WO-{wo_id:06d} is completed; it can only be reopened.\n")
    code, out, _ = run("workorder", "reopen", number)
    assert (code, out) == (0, f"WO-{wo_id:06d}: completed → scheduled.\n")
    code, out, _ = run("workorder", "settings", "--auto-resolve-tickets", "--json")
    assert (code, json.loads(out)["auto_resolve_tickets"]) == (0, True)
    code, out, _ = run("workorder", "settings", "--nightly-optimize")
    assert out == ("acme: completing a ticket's last open work order resolves the ticket too.\n"
                   "The next day is optimized and applied every evening from 20:00.\n")
    code, _, err = run("workorder", "show", "WO-999999")
    assert (code, err) == (1, "error: Work order WO-999999 does not exist in this organization.\n")
