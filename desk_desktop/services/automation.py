"""Tickets become work orders: the active rules are evaluated when a ticket is created, and
the matching rule's template becomes a work order in the ticket's own transaction.

``plan_work_order`` decides (rules from the process cache, the order's id reserved) and
writes nothing: ``services.tickets`` writes the planned order with the ticket, in the one
statement that takes the number. ``on_ticket_created`` decides and writes at once, for a
ticket that exists already (``process_ticket``).

The unique constraint on ``work_orders.source_ticket_id`` is what guarantees one order per
ticket, even when two processes handle the same ticket at the same moment: the second
insert fails (``process_ticket`` then finds the existing order) instead of creating a
duplicate.

Assignment is not done here: an order whose rule asks for it is flagged
``needs_assignment`` and the ``assign`` job (``services.assignment``) picks it up right
after commit (it is kicked by the recorded change) and on its timer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk_desktop.db import sql
from desk_desktop.db.models import Customer, Ticket, TicketToWorkOrderRule, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import WorkOrderSource, WorkOrderStatus
from desk_desktop.domain.rules import CompiledRules, MatchRule, TicketFacts
from desk_desktop.services.audit import audit_row, write_audit_rows
from desk_desktop.services.common import Actor, NotFound


@dataclass(frozen=True)
class WorkOrderCreated:
    work_order_id: int
    number: str
    rule_id: int | None
    rule_name: str | None
    work_type: str
    priority: str
    auto_assign: bool
    assignment_logic: str | None
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def match_rule_from_row(rule: TicketToWorkOrderRule) -> MatchRule:
    return MatchRule.build(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        active=rule.active,
        categories=rule.trigger_categories or (),
        priorities=rule.trigger_priorities or (),
        tags=rule.trigger_tags or (),
        customer_types=rule.trigger_customer_types or (),
    )


def ticket_facts(ticket: Ticket, customer_type: str | None) -> TicketFacts:
    return TicketFacts(
        category=ticket.category,
        priority=ticket.priority,
        tags=tuple(ticket.tags or ()),
        customer_type=customer_type,
        number=ticket.number,
        ticket_id=ticket.id,
    )


@dataclass(frozen=True)
class RuleTemplate:
    """An active rule's work-order template, as read once and cached per process."""

    id: int
    name: str
    wo_type: str
    wo_priority: str
    wo_duration_minutes: int
    auto_assign: bool
    assignment_logic: str
    required_skills: tuple[str, ...]
    auto_schedule: bool
    schedule_offset_minutes: int
    notify_customer: bool
    notify_technician: bool


@dataclass(frozen=True)
class _CachedRules:
    fingerprint: str
    compiled: CompiledRules
    templates: dict[int, RuleTemplate]
    customer_types: frozenset[str]  # every customer type some active rule names


ANY_CUSTOMER_TYPE = "*"


# SQL expression (over the organization id parameter ``:org``) that changes whenever the
# organization's set of active rules changes in any way: every INSERT/UPDATE/DELETE gives
# the row a new (xmin, ctid) or removes it. The database and the server's start time make
# the value unique across databases and clusters, so a cached entry can never be mistaken
# for another database's rules. The ticket service reads it in the ticket's first
# statement, so checking the cache costs no round trip; rules changed on another
# workstation (committed) or earlier in this transaction are seen by the next ticket.
RULES_FINGERPRINT_SQL = (
    "(SELECT md5(current_database() || '|' || pg_postmaster_start_time()::text || '|' || "
    "coalesce(string_agg(r.id::text || ':' || r.xmin::text || ':' || r.ctid::text, ',' ORDER BY r.id), '')) "
    "FROM ticket_work_order_rules r WHERE r.organization_id = :org AND r.active)"
)

_RULES_CACHE: dict[int, _CachedRules] = {}
_RULES_CACHE_LOCK = threading.Lock()


# The active rules with the fingerprint of exactly that snapshot (one row with NULLs when none).
_ACTIVE_RULES_SQL = (
    "SELECT " + RULES_FINGERPRINT_SQL + " AS fp, x.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
    "SELECT id, name, priority, trigger_categories, trigger_priorities, trigger_tags, trigger_customer_types, "
    "wo_type, wo_priority, wo_duration_minutes, auto_assign, assignment_logic, required_skills, "
    "auto_schedule, schedule_offset_minutes, notify_customer, notify_technician "
    "FROM ticket_work_order_rules WHERE organization_id = :org AND active) x ON true "
    "ORDER BY x.priority DESC, x.id"
)


def _load_cached_rules(uow: UnitOfWork, organization_id: int) -> _CachedRules:
    """The active rules (triggers and templates) with the fingerprint of exactly that
    snapshot, in one statement."""
    rows = sql.rows(uow, _ACTIVE_RULES_SQL, {"org": organization_id})
    fingerprint = rows[0].fp
    rules = [r for r in rows if r.id is not None]
    match_rules = [
        MatchRule.build(id=r.id, name=r.name, priority=r.priority, active=True, categories=r.trigger_categories or (),
                        priorities=r.trigger_priorities or (), tags=r.trigger_tags or (),
                        customer_types=r.trigger_customer_types or ())
        for r in rules
    ]
    templates = {
        r.id: RuleTemplate(
            id=r.id, name=r.name, wo_type=r.wo_type, wo_priority=r.wo_priority,
            wo_duration_minutes=r.wo_duration_minutes, auto_assign=r.auto_assign,
            assignment_logic=r.assignment_logic, required_skills=tuple(r.required_skills or ()),
            auto_schedule=r.auto_schedule, schedule_offset_minutes=r.schedule_offset_minutes,
            notify_customer=r.notify_customer, notify_technician=r.notify_technician,
        )
        for r in rules
    }
    named = frozenset(t for r in match_rules for t in r.customer_types)
    return _CachedRules(fingerprint=fingerprint, compiled=CompiledRules(match_rules), templates=templates,
                        customer_types=named)


def active_rules(uow: UnitOfWork, organization_id: int, fingerprint: str | None = None) -> _CachedRules:
    """The organization's active rules from the process cache when ``fingerprint`` (read in
    the caller's transaction with ``RULES_FINGERPRINT_SQL``) is the cached one; otherwise
    read afresh (one statement) and cached."""
    if fingerprint is not None:
        cached = _RULES_CACHE.get(organization_id)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
    fresh = _load_cached_rules(uow, organization_id)
    with _RULES_CACHE_LOCK:
        _RULES_CACHE[organization_id] = fresh
    return fresh


def customer_types_given_an_order(organization_id: int, ticket: TicketFacts) -> list[str]:
    """The customer types for which the cached rules (as last read) give this ticket a work
    order — so that the ticket's first statement, which reads its customer, can reserve the
    order's id too. ``ANY_CUSTOMER_TYPE`` in the list: every type gets one. Empty when nothing is cached; ``plan_work_order`` decides either way."""
    cached = _RULES_CACHE.get(organization_id)
    if cached is None:
        return []
    # A type no rule names stands for all of them (``ANY_CUSTOMER_TYPE``: no key looks like it).
    types = sorted(cached.customer_types) + [ANY_CUSTOMER_TYPE]
    return [t for t in types if cached.compiled.match(replace(ticket, customer_type=t))]


def plan_work_order(
    *, uow: UnitOfWork, actor: Actor, organization_id: int, ticket: TicketFacts, now: datetime | None = None,
    rules_fingerprint: str | None = None, work_order_id: int | None = None,
) -> PlannedWorkOrder | None:
    """The work order the first matching active rule makes of this ticket (None when no
    rule matches), with its id reserved. Writes nothing.

    ``rules_fingerprint``: the value of ``RULES_FINGERPRINT_SQL`` read in this transaction;
    when it matches the process cache the rules are not read again. ``work_order_id``: an
    id reserved already (see ``customer_types_given_an_order``); unused when no rule matches
    after all (ids may have gaps)."""
    rules = active_rules(uow, organization_id, rules_fingerprint)
    winner = rules.compiled.match(ticket)
    if winner is None:
        return None
    if work_order_id is None:
        work_order_id = sql.scalar(uow, "SELECT nextval(pg_get_serial_sequence('work_orders', 'id'))")
    return planned_work_order(actor=actor, organization_id=organization_id, ticket=ticket,
                              rule=rules.templates[winner.id], work_order_id=work_order_id, now=now)


# The unique constraint that keeps a ticket to one work order.
ONE_ORDER_PER_TICKET = "uq_work_orders_source_ticket_id"

# The columns of a planned work order's row (``PlannedWorkOrder.values``), besides its id.
WORK_ORDER_COLUMNS = (
    "organization_id", "source_ticket_id", "source", "rule_id", "work_type", "priority", "status",
    "duration_minutes", "assignment_logic", "required_skills", "auto_schedule", "schedule_offset_minutes",
    "notify_customer", "notify_technician", "needs_assignment", "assign_attempts", "next_assign_at",
    "scheduled_start", "scheduled_end", "created_at", "updated_at",
)


@dataclass(frozen=True)
class PlannedWorkOrder:
    """A work order a rule decided on, not yet written: its reserved ``id``, its row
    (``values``: column -> value, without ``id``) and its audit row."""

    id: int
    rule: RuleTemplate
    values: dict[str, Any]
    audit: dict[str, Any]

    def created(self) -> WorkOrderCreated:
        rule = self.rule
        return WorkOrderCreated(
            work_order_id=self.id,
            number=work_order_number(self.id),
            rule_id=rule.id,
            rule_name=rule.name,
            work_type=rule.wo_type,
            priority=rule.wo_priority,
            auto_assign=bool(rule.auto_assign),
            assignment_logic=rule.assignment_logic if rule.auto_assign else None,
            scheduled_start=self.values["scheduled_start"],
            scheduled_end=self.values["scheduled_end"],
        )


def planned_work_order(
    *, actor: Actor, organization_id: int, ticket: TicketFacts, rule: RuleTemplate, work_order_id: int,
    now: datetime | None,
) -> PlannedWorkOrder:
    """The work order (and its audit row) the rule's template describes for this ticket."""
    now = now or _utcnow()
    scheduled_start = scheduled_end = None
    if rule.auto_schedule:
        scheduled_start = now + timedelta(minutes=rule.schedule_offset_minutes)
        scheduled_end = scheduled_start + timedelta(minutes=rule.wo_duration_minutes)
    values = {
        "organization_id": organization_id,
        "source_ticket_id": ticket.ticket_id,
        "source": WorkOrderSource.AUTO_RULE.value,
        "rule_id": rule.id,
        "work_type": rule.wo_type,
        "priority": rule.wo_priority,
        "status": WorkOrderStatus.UNASSIGNED.value,
        "duration_minutes": rule.wo_duration_minutes,
        "assignment_logic": rule.assignment_logic,
        "required_skills": list(rule.required_skills),
        "auto_schedule": rule.auto_schedule,
        "schedule_offset_minutes": rule.schedule_offset_minutes,
        "notify_customer": rule.notify_customer,
        "notify_technician": rule.notify_technician,
        "needs_assignment": bool(rule.auto_assign),
        "assign_attempts": 0,
        "next_assign_at": now if rule.auto_assign else None,
        "scheduled_start": scheduled_start,
        "scheduled_end": scheduled_end,
        "created_at": now,
        "updated_at": now,
    }
    source_text = f"ticket {ticket.number}" if ticket.number else "a new ticket"
    audit = audit_row(
        actor=actor, organization_id=organization_id, action="work_order.created", entity="work_order",
        entity_id=work_order_id,
        summary=f"{work_order_number(work_order_id)} created from {source_text} by rule '{rule.name}'",
        details={
            "source": WorkOrderSource.AUTO_RULE.value,
            "ticket_id": ticket.ticket_id,
            "ticket_number": ticket.number,
            "rule_id": rule.id,
            "rule_name": rule.name,
            "work_type": rule.wo_type,
            "priority": rule.wo_priority,
            "duration_minutes": rule.wo_duration_minutes,
            "auto_assign": rule.auto_assign,
            "assignment_logic": rule.assignment_logic if rule.auto_assign else None,
            "scheduled_start": scheduled_start,
        },
    )
    return PlannedWorkOrder(id=work_order_id, rule=rule, values=values, audit=audit)


def on_ticket_created(
    *, uow: UnitOfWork, actor: Actor, ticket: Ticket, customer_type: str | None, now: datetime | None = None,
) -> WorkOrderCreated | None:
    """Evaluate the active rules for an existing (flushed) ticket and write the work order
    of the first matching rule, with its audit row, in the caller's transaction."""
    with uow:
        planned = plan_work_order(uow=uow, actor=actor, organization_id=ticket.organization_id,
                                  ticket=ticket_facts(ticket, customer_type), now=now)
        if planned is None:
            uow.commit()
            return None
        uow.session.add(WorkOrder(id=planned.id, **planned.values))
        uow.session.flush()
        write_audit_rows(uow, [planned.audit])
        uow.record_change("work_order", planned.id, ticket.organization_id, "created")
        uow.commit()
        return planned.created()


def customer_type_of(uow: UnitOfWork, ticket: Ticket) -> str | None:
    return uow.session.scalar(
        select(Customer.customer_type).where(
            Customer.id == ticket.customer_id, Customer.organization_id == ticket.organization_id
        )
    )


def process_ticket(
    *, uow: UnitOfWork, actor: Actor, ticket_id: int, now: datetime | None = None
) -> WorkOrderCreated | None:
    """Run automation for an existing ticket (a re-run after a rule change, or a second
    process handling the same ticket). Idempotent: a ticket that already has a work order
    keeps it; a concurrent duplicate is stopped by the unique constraint on
    ``source_ticket_id`` (the loser's transaction fails with an IntegrityError)."""
    with uow:
        ticket = uow.session.scalar(
            select(Ticket).where(Ticket.id == ticket_id, Ticket.organization_id == actor.organization_id)
        )
        if ticket is None:
            raise NotFound(f"Ticket {ticket_id} does not exist in this organization.")
        existing = sql.scalar(uow, "SELECT id FROM work_orders WHERE source_ticket_id = :t AND organization_id = :o",
                              {"t": ticket.id, "o": actor.organization_id})
        if existing is not None:
            uow.commit()
            return None
        ctype = customer_type_of(uow, ticket)
        savepoint = uow.session.begin_nested()
        try:
            result = on_ticket_created(uow=uow, actor=actor, ticket=ticket, customer_type=ctype, now=now)
            savepoint.commit()
        except IntegrityError as exc:
            # Another process created this ticket's order a moment ago (unique constraint).
            savepoint.rollback()
            if sql.constraint_name(exc) != ONE_ORDER_PER_TICKET:
                raise
            uow.commit()
            return None
        uow.commit()
        return result
