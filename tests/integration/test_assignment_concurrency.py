"""Real processes against a real database: one work order per ticket, and assigners that
see each other's load and rotation."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from desk_desktop.db.models import AuditEntry, WorkOrder
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from tests.conftest import make_org
from tests.integration.workorder_helpers import (
    add_customer,
    add_rule,
    add_technician,
    create_ticket_with_automation,
    insert_ticket,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CTX = mp.get_context("spawn")


def _factory(url):
    engine = make_engine(url, pool_size=2, max_overflow=2)
    return engine, UnitOfWorkFactory(engine)


# -------------------------------------------------------------------- one order per ticket


def _handle_same_ticket(url, org_id, ticket_id, barrier, results):
    """A process that runs the rules for a ticket and commits, racing its twin."""
    from sqlalchemy.exc import IntegrityError

    from desk_desktop.db.models import Customer, Ticket
    from desk_desktop.services import automation
    from desk_desktop.services.common import Actor

    engine, factory = _factory(url)
    actor = Actor.system(org_id, name="racer")
    try:
        uow = factory()
        with uow:
            ticket = uow.session.get(Ticket, ticket_id)
            ctype = uow.session.get(Customer, ticket.customer_id).customer_type
            barrier.wait(timeout=30)
            created = automation.on_ticket_created(uow=uow, actor=actor, ticket=ticket, customer_type=ctype)
            uow.commit()
        results.put(("created", created.work_order_id))
    except IntegrityError as exc:
        results.put(("refused", "uq_work_orders_source_ticket_id" in str(exc.orig)))
    except Exception as exc:  # pragma: no cover - reported to the test
        results.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_two_processes_handling_the_same_ticket_create_one_work_order(fresh_db):
    engine, factory = _factory(fresh_db)
    try:
        org = make_org(factory(), slug="race")
        add_rule(factory(), org, name="everything")
        cust = add_customer(factory(), org)
        ticket_id = insert_ticket(factory(), org, customer_id=cust)
        barrier = CTX.Barrier(2)
        results = CTX.Queue()
        procs = [CTX.Process(target=_handle_same_ticket, args=(fresh_db, org.organization_id, ticket_id, barrier,
                                                                 results)) for _ in range(2)]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(timeout=30)
        assert [o[0] for o in outcomes] == ["created", "refused"], outcomes
        assert outcomes[1][1] is True  # refused by the unique constraint on source_ticket_id
        uow = factory()
        with uow:
            orders = list(uow.session.scalars(select(WorkOrder.id).where(WorkOrder.source_ticket_id == ticket_id)))
            audits = uow.session.scalar(select(func.count()).select_from(AuditEntry)
                                        .where(AuditEntry.action == "work_order.created"))
        assert orders == [outcomes[0][1]]
        assert audits == 1  # the loser's audit row went with its rolled-back transaction
    finally:
        engine.dispose()


def _process_tickets(url, org_id, ticket_ids, barrier, results):
    """Handle every ticket in turn, in step with the twin processes (a barrier per ticket)."""
    from desk_desktop.services import automation
    from desk_desktop.services.common import Actor

    engine, factory = _factory(url)
    try:
        got = []
        for ticket_id in ticket_ids:
            barrier.wait(timeout=30)
            created = automation.process_ticket(uow=factory(), actor=Actor.system(org_id), ticket_id=ticket_id)
            got.append(created.work_order_id if created else None)
        results.put(got)
    except Exception as exc:  # pragma: no cover
        results.put(repr(exc))
    finally:
        engine.dispose()


def test_process_ticket_is_idempotent_across_processes(fresh_db):
    engine, factory = _factory(fresh_db)
    try:
        org = make_org(factory(), slug="idem")
        add_rule(factory(), org, name="everything")
        cust = add_customer(factory(), org)
        tickets = [insert_ticket(factory(), org, customer_id=cust) for _ in range(20)]
        barrier = CTX.Barrier(3)
        results = CTX.Queue()
        procs = [CTX.Process(target=_process_tickets, args=(fresh_db, org.organization_id, tickets, barrier, results))
                 for _ in range(3)]
        for p in procs:
            p.start()
        got = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert all(isinstance(g, list) for g in got), got
        for i in range(len(tickets)):
            per_ticket = [g[i] for g in got]
            created = [x for x in per_ticket if x is not None]
            assert len(created) == 1, per_ticket  # exactly one process created it, the others saw it
        uow = factory()
        with uow:
            per_ticket = Counter(uow.session.scalars(select(WorkOrder.source_ticket_id)))
        assert per_ticket == Counter({t: 1 for t in tickets})
    finally:
        engine.dispose()


# -------------------------------------------------------------------- concurrent assigners


def _assigner(url, barrier, results):
    from desk_desktop.services import assignment

    engine, factory = _factory(url)
    try:
        barrier.wait(timeout=30)
        total = 0
        while True:
            r = assignment.assign_pending(uow_factory=factory, now=NOW, limit=7)
            total += r.assigned
            if r.assigned + r.unassigned + r.errors == 0:
                break
        results.put(total)
    except Exception as exc:  # pragma: no cover
        results.put(repr(exc))
    finally:
        engine.dispose()


def _run_assigners(url, n=3):
    barrier = CTX.Barrier(n)
    results = CTX.Queue()
    procs = [CTX.Process(target=_assigner, args=(url, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(isinstance(g, int) for g in got), got
    return got


def test_concurrent_assigners_see_each_others_load(fresh_db):
    engine, factory = _factory(fresh_db)
    try:
        org = make_org(factory(), slug="load")
        add_rule(factory(), org, name="balance", auto_assign=True, assignment_logic="workload")
        techs = [add_technician(factory(), org, lat=48.85 + i / 50, lon=2.35, max_open=10) for i in range(4)]
        cust = add_customer(factory(), org)
        for _ in range(42):  # 2 more than the 40 places
            create_ticket_with_automation(factory(), org, customer_id=cust, lat=48.8566, lon=2.3522, now=NOW)
        got = _run_assigners(fresh_db)
        assert sum(got) == 40
        uow = factory()
        with uow:
            loads = Counter(uow.session.scalars(select(WorkOrder.technician_id).where(WorkOrder.technician_id.is_not(None))))
            left = list(uow.session.scalars(select(WorkOrder.unassigned_reason).where(WorkOrder.technician_id.is_(None))))
        assert loads == Counter({t: 10 for t in techs})  # nobody above their maximum
        assert len(left) == 2 and all("at capacity" in r for r in left)
    finally:
        engine.dispose()


def test_concurrent_assigners_keep_round_robin_fair(fresh_db):
    engine, factory = _factory(fresh_db)
    try:
        org = make_org(factory(), slug="rr")
        add_rule(factory(), org, name="rotate", auto_assign=True, assignment_logic="round_robin")
        techs = [add_technician(factory(), org, lat=48.85, lon=2.35, max_open=100) for _ in range(6)]
        cust = add_customer(factory(), org)
        for _ in range(61):
            create_ticket_with_automation(factory(), org, customer_id=cust, lat=48.8566, lon=2.3522, now=NOW)
        got = _run_assigners(fresh_db)
        assert sum(got) == 61
        uow = factory()
        with uow:
            loads = Counter(uow.session.scalars(select(WorkOrder.technician_id)))
        assert set(loads) == set(techs)
        assert max(loads.values()) - min(loads.values()) <= 1
    finally:
        engine.dispose()


# -------------------------------------------------------------------- under row-level security


def test_automation_and_assignment_work_as_a_non_admin_dispatcher(test_server):
    """Everything the assign job and a dispatcher do runs under RLS with an ordinary login
    (no superuser powers): rules → order, the job (advisory lock, SET LOCAL, round-robin
    pointer upsert, notifications, audit), candidates, manual assign/unassign, dry-run."""
    import uuid

    from desk_desktop.services import admin, assignment, rules, tickets
    from desk_desktop.services.session_info import current_actor, dispatcher_url

    url = test_server.create_database("desk_h2_rls")
    login = f"t_h2_{uuid.uuid4().hex[:8]}"
    admin_engine = make_engine(url)
    engine = None
    try:
        uows = UnitOfWorkFactory(admin_engine)
        org = admin.add_organization(uow=uows(), slug=f"rls-{login[-8:]}", name="RLS Org")
        admin.add_dispatcher(uow=uows(), org_slug=org.slug, login=login)
        from desk_desktop.services.common import Actor

        boss = Actor(organization_id=org.id, name="boss", is_admin=True)
        add_rule(uows(), boss, name="rotate", auto_assign=True, assignment_logic="round_robin",
                 notify_technician=True)
        cust = add_customer(uows(), boss)
        techs = sorted(add_technician(uows(), boss, lat=48.85, lon=2.35) for _ in range(2))
        engine = make_engine(dispatcher_url(url, login), pool_size=2)
        disp = UnitOfWorkFactory(engine)
        me = current_actor(uow=disp())
        assert not me.is_admin
        made = [tickets.create_ticket(uow=disp(), actor=me, subject=f"Job {i}", category="hvac", priority="high",
                                      customer_id=cust, lat=48.8566, lon=2.3522, now=NOW) for i in range(3)]
        assert all(m.work_order is not None for m in made)
        result = assignment.assign_pending(uow_factory=disp, now=NOW)
        assert result.assigned == 3
        got = [assignment.get_work_order_or_raise(uow=disp(), actor=me, work_order_id=m.work_order.work_order_id)
               .technician_id for m in made]
        assert got == [techs[0], techs[1], techs[0]]
        wo_id = made[0].work_order.work_order_id
        cands = assignment.list_candidates(uow=disp(), actor=me, work_order_id=wo_id, strategy="workload")
        assert {c.technician_id for c in cands.candidates} == set(techs)
        assignment.unassign_work_order(uow=disp(), actor=me, work_order_id=wo_id, reason="swap")
        view = assignment.assign_work_order(uow=disp(), actor=me, work_order_id=wo_id, technician_id=techs[1])
        assert view.technician_id == techs[1]
        check = rules.dry_run(uow=disp(), actor=me, number=made[1].ticket.number)
        assert check.matched_rule_name == "rotate"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM notifications")).scalar() > 0
            assert conn.execute(text("SELECT last_technician_id FROM assignment_state")).scalar() == techs[0]
    finally:
        if engine is not None:
            engine.dispose()
        admin_engine.dispose()
        test_server.drop_database(url)
        test_server._admin(f'DROP ROLE IF EXISTS "{login}"')
