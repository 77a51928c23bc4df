"""Tickets become work orders: the active rules are evaluated when a ticket is created, and
the matching rule's template becomes a work order in the ticket's own transaction.

The unique constraint on ``work_orders.source_ticket_id`` is what guarantees one order per
ticket, even when two processes handle the same ticket at the same moment: the second
insert fails (or, via ``ensure_work_order_for_ticket``, finds the existing order) instead of
creating a duplicate.

Assignment is not done here: an order whose rule asks for it is flagged
``needs_assignment`` and the ``assign`` job (``services.assignment.assign_pending``) picks
it up right after commit (it is kicked by the recorded change) and on its timer.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg.errors
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db.models import Customer, Ticket, TicketToWorkOrderRule
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import WorkOrderSource, WorkOrderStatus
from desk_desktop.domain.rules import CompiledRules, MatchRule, TicketFacts
from desk_desktop.services.common import Actor


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


def load_active_rules(uow: UnitOfWork, organization_id: int) -> list[TicketToWorkOrderRule]:
    """The organization's active rules in evaluation order (priority desc, then id)."""
    return list(
        uow.session.scalars(
            select(TicketToWorkOrderRule)
            .where(TicketToWorkOrderRule.organization_id == organization_id, TicketToWorkOrderRule.active.is_(True))
            .order_by(TicketToWorkOrderRule.priority.desc(), TicketToWorkOrderRule.id)
        )
    )


def load_match_rules(uow: UnitOfWork, organization_id: int) -> list[MatchRule]:
    """The active rules' triggers only (no ORM objects), in evaluation order — cheap even
    for an organization with a thousand rules; the winner's full row is loaded afterwards."""
    rows = uow.session.execute(
        text(
            "SELECT id, name, priority, trigger_categories, trigger_priorities, trigger_tags, trigger_customer_types "
            "FROM ticket_work_order_rules WHERE organization_id = :org AND active "
            "ORDER BY priority DESC, id"
        ),
        {"org": organization_id},
    ).all()
    return [
        MatchRule.build(id=r[0], name=r[1], priority=r[2], active=True, categories=r[3] or (), priorities=r[4] or (),
                        tags=r[5] or (), customer_types=r[6] or ())
        for r in rows
    ]


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


# SQL expression (over an organization id expression ``{org}``) that changes whenever the
# organization's set of active rules changes in any way: every INSERT/UPDATE/DELETE gives
# the row a new (xmin, ctid) or removes it. The database and the server's start time make
# the value unique across databases and clusters, so a cached entry can never be mistaken
# for another database's rules. The ticket service reads it in the ticket's first
# statement, so checking the cache costs no round trip; rules changed on another
# workstation (committed) or earlier in this transaction are seen by the next ticket.
RULES_FINGERPRINT_SQL = (
    "(SELECT md5(current_database() || '|' || pg_postmaster_start_time()::text || '|' || "
    "coalesce(string_agg(r.id::text || ':' || r.xmin::text || ':' || r.ctid::text, ',' ORDER BY r.id), '')) "
    "FROM ticket_work_order_rules r WHERE r.organization_id = {org} AND r.active)"
)

_RULES_CACHE: dict[int, _CachedRules] = {}
_RULES_CACHE_LOCK = threading.Lock()


def clear_rules_cache() -> None:
    with _RULES_CACHE_LOCK:
        _RULES_CACHE.clear()


def _load_cached_rules(uow: UnitOfWork, organization_id: int) -> _CachedRules:
    """The active rules (triggers and templates) with the fingerprint of exactly that
    snapshot, in one statement."""
    rows = uow.session.execute(
        text(
            "SELECT " + RULES_FINGERPRINT_SQL.format(org=":org") + " AS fp, x.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
            "SELECT id, name, priority, trigger_categories, trigger_priorities, trigger_tags, trigger_customer_types, "
            "wo_type, wo_priority, wo_duration_minutes, auto_assign, assignment_logic, required_skills, "
            "auto_schedule, schedule_offset_minutes, notify_customer, notify_technician "
            "FROM ticket_work_order_rules WHERE organization_id = :org AND active) x ON true "
            "ORDER BY x.priority DESC, x.id"
        ),
        {"org": organization_id},
    ).all()
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
    return _CachedRules(fingerprint=fingerprint, compiled=CompiledRules(match_rules), templates=templates)


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


def on_ticket_created(
    *, uow: UnitOfWork, actor: Actor, ticket: Ticket, customer_type: str | None, now: datetime | None = None,
    rules_fingerprint: str | None = None, defer_insert: bool = False,
) -> WorkOrderCreated | PlannedWorkOrder | None:
    """Evaluate the active rules for a freshly flushed ticket; create the work order of the
    first matching rule (or nothing). Runs inside the caller's transaction.

    ``rules_fingerprint``: the value of ``RULES_FINGERPRINT_SQL`` read in this transaction
    (the ticket service reads it with the ticket insert); when it matches the process
    cache the rules are not read again. Without it the rules are always read.

    ``defer_insert``: decide only, write nothing — return the ``PlannedWorkOrder`` (or
    None); the caller writes it in this same transaction (the ticket service inserts it
    with the ticket, in the statement that takes the number)."""
    with uow:
        rules = active_rules(uow, ticket.organization_id, rules_fingerprint)
        winner = rules.compiled.match(ticket_facts(ticket, customer_type))
        if winner is None:
            uow.commit()
            return None
        planned = plan_work_order(actor=actor, ticket=ticket, rule=rules.templates[winner.id], now=now)
        if defer_insert:
            uow.commit()
            return planned
        result = _insert_work_order(uow=uow, planned=planned)
        uow.commit()
        return result


# The planned work order and its audit row as CTEs of the statement that inserts the
# ticket (``services.tickets``). ``WORK_ORDER_AUDIT_CTES`` reserves the order's id
# (``wo_id``) and writes its audit row; it reads ``{after}`` (a CTE with one row) so that it
# runs after that one. ``WORK_ORDER_CTE`` inserts the order, reading ``{ticket}`` (a CTE
# yielding the new ticket's ``id`` once the ticket is written) so that its
# same-organization and foreign-key checks see the ticket. Parameters:
# ``PlannedWorkOrder.cte_params()``.
WORK_ORDER_AUDIT_CTES = """wo_id AS (
    SELECT nextval(pg_get_serial_sequence('work_orders', 'id')) AS id FROM {after}
), wa AS (
    INSERT INTO audit_log (organization_id, actor, action, entity, entity_id, summary, details)
    SELECT %(wo_org)s, %(wo_actor)s, 'work_order.created', 'work_order', wo_id.id,
           'WO-' || repeat('0', 6 - length(wo_id.id::text)) || wo_id.id::text || %(wo_summary_tail)s,
           CAST(%(wo_details)s AS jsonb)
      FROM wo_id
    RETURNING entity_id AS id
)"""
WORK_ORDER_CTE = """w AS (
    INSERT INTO work_orders (id, organization_id, source_ticket_id, source, rule_id, work_type, priority, status,
                             duration_minutes, assignment_logic, required_skills, auto_schedule,
                             schedule_offset_minutes, notify_customer, notify_technician, needs_assignment,
                             assign_attempts, next_assign_at, scheduled_start, scheduled_end, created_at, updated_at)
    SELECT wo_id.id, %(wo_org)s, {ticket}.id, %(wo_source)s, %(wo_rule_id)s, %(wo_work_type)s, %(wo_priority)s,
           %(wo_status)s, %(wo_duration)s, %(wo_logic)s, CAST(%(wo_skills)s AS text[]), %(wo_auto_schedule)s,
           %(wo_offset)s, %(wo_notify_customer)s, %(wo_notify_technician)s, %(wo_needs_assignment)s,
           0, %(wo_next_assign_at)s, %(wo_start)s, %(wo_end)s, %(wo_now)s, %(wo_now)s
      FROM {ticket}, wo_id
    RETURNING id
)"""

# The same two rows on their own, for a ticket that exists already (``process_ticket``):
# one statement made of the same CTEs, with the ticket's id given.
_INSERT_WORK_ORDER_SQL = (
    "WITH one AS (SELECT 1), t AS (SELECT CAST(%(wo_ticket_id)s AS bigint) AS id), "
    + WORK_ORDER_AUDIT_CTES.format(after="one") + ", " + WORK_ORDER_CTE.format(ticket="t")
    + "\nSELECT id FROM w"
)

# The work order's change notification payload (``Change("work_order", id, org,
# "created").payload()``, byte for byte) over the ``w`` CTE.
WORK_ORDER_PAYLOAD_SQL = (
    """'{"e":"work_order","id":' || w.id::text || ',"org":' || CAST(%(wo_org)s AS bigint)::text """
    """|| ',"a":"created"}'"""
)


@dataclass(frozen=True)
class PlannedWorkOrder:
    """The work order a rule decided on for a ticket, not yet written: ``cte_params()`` for
    ``WORK_ORDER_AUDIT_CTES`` / ``WORK_ORDER_CTE`` (and ``_INSERT_WORK_ORDER_SQL``, made of
    them); ``created(id)`` is the result once the statement ran."""

    organization_id: int
    rule: RuleTemplate
    params: dict
    scheduled_start: datetime | None
    scheduled_end: datetime | None

    def cte_params(self) -> dict:
        """The parameters of ``WORK_ORDER_AUDIT_CTES`` and ``WORK_ORDER_CTE``."""
        return {"wo_" + k: v for k, v in self.params.items()}

    def created(self, work_order_id: int) -> WorkOrderCreated:
        rule = self.rule
        return WorkOrderCreated(
            work_order_id=work_order_id,
            number=work_order_number(work_order_id),
            rule_id=rule.id,
            rule_name=rule.name,
            work_type=rule.wo_type,
            priority=rule.wo_priority,
            auto_assign=bool(rule.auto_assign),
            assignment_logic=rule.assignment_logic if rule.auto_assign else None,
            scheduled_start=self.scheduled_start,
            scheduled_end=self.scheduled_end,
        )


def plan_work_order(*, actor: Actor, ticket: Ticket, rule: RuleTemplate, now: datetime | None) -> PlannedWorkOrder:
    """The work order (and its audit row) the rule's template describes for this ticket."""
    now = now or _utcnow()
    scheduled_start = scheduled_end = None
    if rule.auto_schedule:
        scheduled_start = now + timedelta(minutes=rule.schedule_offset_minutes)
        scheduled_end = scheduled_start + timedelta(minutes=rule.wo_duration_minutes)
    known_number = ticket.number if ticket.number and not ticket.number.startswith("~") and len(ticket.number) < 40 \
        else None
    source_text = f"ticket {known_number}" if known_number else "a new ticket"
    details = {
        "source": WorkOrderSource.AUTO_RULE.value,
        "ticket_id": ticket.id,
        "ticket_number": known_number,
        "rule_id": rule.id,
        "rule_name": rule.name,
        "work_type": rule.wo_type,
        "priority": rule.wo_priority,
        "duration_minutes": rule.wo_duration_minutes,
        "auto_assign": rule.auto_assign,
        "assignment_logic": rule.assignment_logic if rule.auto_assign else None,
        "scheduled_start": scheduled_start.isoformat() if scheduled_start else None,
    }
    params = {
        "org": ticket.organization_id,
        "ticket_id": ticket.id,
        "source": WorkOrderSource.AUTO_RULE.value,
        "rule_id": rule.id,
        "work_type": rule.wo_type,
        "priority": rule.wo_priority,
        "status": WorkOrderStatus.UNASSIGNED.value,
        "duration": rule.wo_duration_minutes,
        "logic": rule.assignment_logic,
        "skills": list(rule.required_skills),
        "auto_schedule": rule.auto_schedule,
        "offset": rule.schedule_offset_minutes,
        "notify_customer": rule.notify_customer,
        "notify_technician": rule.notify_technician,
        "needs_assignment": bool(rule.auto_assign),
        "next_assign_at": now if rule.auto_assign else None,
        "start": scheduled_start,
        "end": scheduled_end,
        "now": now,
        "actor": actor.name,
        "summary_tail": f" created from {source_text} by rule '{rule.name}'",
        "details": json.dumps(details),
    }
    return PlannedWorkOrder(organization_id=ticket.organization_id, rule=rule, params=params,
                            scheduled_start=scheduled_start, scheduled_end=scheduled_end)


def _insert_work_order(*, uow: UnitOfWork, planned: PlannedWorkOrder) -> WorkOrderCreated:
    """Insert the planned work order and its audit row, in one statement straight through
    the driver (same transaction; no ORM unit of work)."""
    params = planned.cte_params()
    session = uow.session
    session.flush()  # anything the ORM holds (e.g. the ticket) goes first, as before
    with session.connection().connection.driver_connection.cursor() as cur:
        try:
            cur.execute(_INSERT_WORK_ORDER_SQL, params)
        except psycopg.errors.IntegrityError as exc:
            # Same error type as every other path (the unique constraint on source_ticket_id
            # is how "never two orders per ticket" is enforced).
            raise IntegrityError(_INSERT_WORK_ORDER_SQL, params, exc) from exc
        wo_id = cur.fetchone()[0]
    uow.record_change("work_order", wo_id, planned.organization_id, "created")
    return planned.created(wo_id)


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
            from desk_desktop.services.common import NotFound

            raise NotFound(f"Ticket {ticket_id} does not exist in this organization.")
        existing = uow.session.scalar(
            text("SELECT id FROM work_orders WHERE source_ticket_id = :t AND organization_id = :o"),
            {"t": ticket.id, "o": actor.organization_id},
        )
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
            if "source_ticket_id" not in str(exc.orig):
                raise
            uow.commit()
            return None
        uow.commit()
        return result
