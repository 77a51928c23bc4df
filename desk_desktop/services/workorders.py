"""Work orders created by hand (for a ticket no rule picked up, or for work without a ticket).

A ticket has at most one work order: the unique constraint on ``source_ticket_id`` decides,
even when two dispatchers try at the same moment; the loser gets ``WorkOrderAlreadyExists``
naming the existing order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk_desktop.db import sql
from desk_desktop.db.models import Ticket, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.catalogs import SKILLS, WORK_ORDER_TYPES
from desk_desktop.domain.enums import AssignmentLogic, Priority, WorkOrderSource, values
from desk_desktop.services.automation import ONE_ORDER_PER_TICKET, WorkOrderCreated
from desk_desktop.services.catalogs import load_catalogs, resolve_key
from desk_desktop.services.common import Actor, DeskError, NotFound, ValidationFailed, audit


class WorkOrderAlreadyExists(DeskError):
    def __init__(self, message: str, work_order_id: int | None) -> None:
        super().__init__(message)
        self.work_order_id = work_order_id


def _existing_for_ticket(uow: UnitOfWork, org_id: int, ticket_id: int) -> int | None:
    return uow.session.scalar(
        select(WorkOrder.id).where(WorkOrder.organization_id == org_id, WorkOrder.source_ticket_id == ticket_id)
    )


def create_work_order(
    *,
    uow: UnitOfWork,
    actor: Actor,
    work_type: str,
    priority: str,
    ticket_id: int | None = None,
    ticket_number: str | None = None,
    duration_minutes: int = 60,
    required_skills: Iterable[str] = (),
    auto_assign: bool = False,
    assignment_logic: str = AssignmentLogic.NEAREST.value,
    scheduled_start: datetime | None = None,
    notify_customer: bool = False,
    notify_technician: bool = False,
    now: datetime | None = None,
) -> WorkOrderCreated:
    """Create a manual work order. Refused clearly when the ticket already has one."""
    now = now or datetime.now(UTC)
    if priority not in values(Priority):
        raise ValidationFailed(f"Unknown priority '{priority}'. Known priorities: "
                               + ", ".join(values(Priority)) + ".", "priority")
    if not isinstance(duration_minutes, int) or not 15 <= duration_minutes <= 1440:
        raise ValidationFailed("The duration must be between 15 minutes and 24 hours.", "duration_minutes")
    skills = [s.strip() for s in required_skills if s and s.strip()]
    if assignment_logic not in values(AssignmentLogic):
        raise ValidationFailed(f"Unknown assignment logic '{assignment_logic}'.", "assignment_logic")
    if scheduled_start is not None and scheduled_start.tzinfo is None:
        raise ValidationFailed("The start time needs a time zone.", "scheduled_start")
    with uow:
        catalogs = load_catalogs(uow=uow, actor=actor)
        types = catalogs.choices(WORK_ORDER_TYPES)
        asked, work_type = work_type, resolve_key(types, work_type or "")
        if work_type is None:
            raise ValidationFailed(f"Unknown work-order type '{asked}'; choose one of: "
                                   + ", ".join(e.name for e in types) + ".", "work_type")
        offered = catalogs.choices(SKILLS)
        keys = [resolve_key(offered, s) for s in skills]
        bad = [s for s, k in zip(skills, keys, strict=True) if k is None]
        if bad:
            raise ValidationFailed(f"Unknown skill: {', '.join(bad)} — not among the organization's active skills. "
                                   "See: desk-desktop catalog list skills", "required_skills")
        skills = list(dict.fromkeys(keys))
        ticket = None
        if ticket_id is not None or ticket_number is not None:
            stmt = select(Ticket).where(Ticket.organization_id == actor.organization_id)
            stmt = stmt.where(Ticket.id == ticket_id) if ticket_id is not None else stmt.where(
                Ticket.number == ticket_number.strip())
            ticket = uow.session.scalar(stmt)
            if ticket is None:
                raise NotFound(f"Ticket {ticket_number or ticket_id} does not exist in this organization.")
            existing = _existing_for_ticket(uow, actor.organization_id, ticket.id)
            if existing is not None:
                raise WorkOrderAlreadyExists(
                    f"Ticket {ticket.number} already has work order {work_order_number(existing)}; "
                    "a ticket can have only one work order.", existing)
        wo = WorkOrder(
            organization_id=actor.organization_id,
            source_ticket_id=ticket.id if ticket is not None else None,
            source=WorkOrderSource.MANUAL.value,
            work_type=work_type,
            priority=priority,
            status="unassigned",
            duration_minutes=duration_minutes,
            assignment_logic=assignment_logic,
            required_skills=skills,
            auto_schedule=False,
            notify_customer=notify_customer,
            notify_technician=notify_technician,
            needs_assignment=bool(auto_assign),
            next_assign_at=now if auto_assign else None,
            scheduled_start=scheduled_start,
            scheduled_end=scheduled_start + timedelta(minutes=duration_minutes) if scheduled_start else None,
            created_at=now,
            updated_at=now,
        )
        savepoint = uow.session.begin_nested()
        try:
            uow.session.add(wo)
            uow.session.flush()
            savepoint.commit()
        except IntegrityError as exc:
            savepoint.rollback()
            if sql.constraint_name(exc) != ONE_ORDER_PER_TICKET or ticket is None:
                raise
            existing = _existing_for_ticket(uow, actor.organization_id, ticket.id)
            raise WorkOrderAlreadyExists(
                f"Ticket {ticket.number} already has work order "
                f"{work_order_number(existing) if existing else '(created a moment ago)'}; "
                "a ticket can have only one work order.", existing) from None
        number = work_order_number(wo.id)
        audit(uow, actor=actor, action="work_order.created", entity="work_order", entity_id=wo.id,
              summary=f"{number} created by hand" + (f" for ticket {ticket.number}" if ticket else ""),
              details={"source": "manual", "ticket_id": ticket.id if ticket else None, "work_type": work_type,
                       "priority": priority, "duration_minutes": duration_minutes, "required_skills": skills,
                       "auto_assign": bool(auto_assign)})
        uow.record_change("work_order", wo.id, actor.organization_id, "created")
        uow.commit()
        return WorkOrderCreated(work_order_id=wo.id, number=number, rule_id=None, rule_name=None,
                                work_type=work_type, priority=priority, auto_assign=bool(auto_assign),
                                assignment_logic=assignment_logic if auto_assign else None,
                                scheduled_start=wo.scheduled_start, scheduled_end=wo.scheduled_end)
