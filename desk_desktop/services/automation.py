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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db.models import Customer, Ticket, TicketToWorkOrderRule, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import WorkOrderSource, WorkOrderStatus
from desk_desktop.domain.rules import MatchRule, TicketFacts, find_match
from desk_desktop.services.common import Actor, audit


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


def on_ticket_created(
    *, uow: UnitOfWork, actor: Actor, ticket: Ticket, customer_type: str | None, now: datetime | None = None
) -> WorkOrderCreated | None:
    """Evaluate the active rules for a freshly flushed ticket; create the work order of the
    first matching rule (or nothing). Runs inside the caller's transaction."""
    with uow:
        winner = find_match(load_match_rules(uow, ticket.organization_id), ticket_facts(ticket, customer_type))
        if winner is None:
            uow.commit()
            return None
        rule = uow.session.get(TicketToWorkOrderRule, winner.id)
        result = create_work_order_from_rule(uow=uow, actor=actor, ticket=ticket, rule=rule, now=now)
        uow.commit()
        return result


def create_work_order_from_rule(
    *, uow: UnitOfWork, actor: Actor, ticket: Ticket, rule: TicketToWorkOrderRule, now: datetime | None = None
) -> WorkOrderCreated:
    """Insert the work order the rule's template describes for this ticket (same transaction)."""
    now = now or _utcnow()
    scheduled_start = scheduled_end = None
    if rule.auto_schedule:
        # The anchor is the moment the ticket came in; when a technician is assigned the
        # start is moved into their working hours (see services.assignment).
        scheduled_start = now + timedelta(minutes=rule.schedule_offset_minutes)
        scheduled_end = scheduled_start + timedelta(minutes=rule.wo_duration_minutes)
    wo = WorkOrder(
        organization_id=ticket.organization_id,
        source_ticket_id=ticket.id,
        source=WorkOrderSource.AUTO_RULE.value,
        rule_id=rule.id,
        work_type=rule.wo_type,
        priority=rule.wo_priority,
        status=WorkOrderStatus.UNASSIGNED.value,
        duration_minutes=rule.wo_duration_minutes,
        assignment_logic=rule.assignment_logic,
        required_skills=list(rule.required_skills or ()),
        auto_schedule=rule.auto_schedule,
        schedule_offset_minutes=rule.schedule_offset_minutes,
        notify_customer=rule.notify_customer,
        notify_technician=rule.notify_technician,
        needs_assignment=bool(rule.auto_assign),
        assign_attempts=0,
        next_assign_at=now if rule.auto_assign else None,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(wo)
    uow.session.flush()
    number = work_order_number(wo.id)
    # The ticket service gives the ticket its real number last (after this runs), so a
    # provisional placeholder is not worth repeating in the summary; the id is in details.
    known_number = ticket.number if ticket.number and not ticket.number.startswith("~") and len(ticket.number) < 40 \
        else None
    source_text = f"ticket {known_number}" if known_number else "a new ticket"
    audit(
        uow,
        actor=actor,
        action="work_order.created",
        entity="work_order",
        entity_id=wo.id,
        organization_id=ticket.organization_id,
        summary=f"{number} created from {source_text} by rule '{rule.name}'",
        details={
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
        },
    )
    uow.record_change("work_order", wo.id, ticket.organization_id, "created")
    return WorkOrderCreated(
        work_order_id=wo.id,
        number=number,
        rule_id=rule.id,
        rule_name=rule.name,
        work_type=rule.wo_type,
        priority=rule.wo_priority,
        auto_assign=bool(rule.auto_assign),
        assignment_logic=rule.assignment_logic if rule.auto_assign else None,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
    )


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
