"""What the day planner must keep: a visit a dispatcher pinned, and the window a customer booked.

A pinned visit stays with its technician at its time when a day is optimized (as a visit
under way does). A booked window says when the visit may start; the planner starts it
inside. Both are audited and announced to the other workstations like any change of an order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from desk_desktop.db.models import WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.absences import period_text
from desk_desktop.services.assignment.job import organization_timezone
from desk_desktop.services.common import Actor, NotFound, ValidationFailed, audit


def _order(uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrder:
    wo = uow.session.scalar(select(WorkOrder).where(WorkOrder.id == work_order_id,
                                                    WorkOrder.organization_id == actor.organization_id)
                            .with_for_update())
    if wo is None:
        raise NotFound(f"Work order {work_order_number(work_order_id)} does not exist.")
    return wo


def set_pinned(*, uow: UnitOfWork, actor: Actor, work_order_id: int, pinned: bool) -> bool:
    """Pin the visit (the planner leaves it where it is) or release it."""
    with uow:
        wo = _order(uow, actor, work_order_id)
        number = work_order_number(wo.id)
        if pinned and (wo.technician_id is None or wo.scheduled_start is None):
            raise ValidationFailed(f"{number} has no visit to pin: give it a technician and a time first.", "pinned")
        if wo.pinned != pinned:
            wo.pinned = pinned
            wo.updated_at = datetime.now(UTC)
            audit(uow, actor=actor, action="work_order.pinned" if pinned else "work_order.unpinned",
                  entity="work_order", entity_id=wo.id,
                  summary=f"{number} {'pinned: optimizing leaves it where it is' if pinned else 'no longer pinned'}",
                  details={"pinned": pinned})
            uow.record_change("work_order", wo.id, wo.organization_id, "updated")
        uow.commit()
    return pinned


def set_booked_window(*, uow: UnitOfWork, actor: Actor, work_order_id: int, start: datetime | None,
                      end: datetime | None) -> tuple[datetime, datetime] | None:
    """The customer's booked window (the visit starts inside it), or none (both None)."""
    if (start is None) != (end is None):
        raise ValidationFailed("Give both ends of the booked window, or neither.", "window")
    if start is not None and (start.tzinfo is None or end.tzinfo is None):
        raise ValidationFailed("The booked window needs a time zone.", "window")
    if start is not None and end <= start:
        raise ValidationFailed("The booked window must end after it starts.", "window")
    with uow:
        wo = _order(uow, actor, work_order_id)
        tz_name = organization_timezone(uow, actor.organization_id)
        text = "none" if start is None else period_text(start, end, tz_name)
        wo.window_start, wo.window_end = start, end
        wo.updated_at = datetime.now(UTC)
        audit(uow, actor=actor, action="work_order.window_changed", entity="work_order", entity_id=wo.id,
              summary=f"{work_order_number(wo.id)}: booked window {text}",
              details={"start": start.isoformat() if start else None, "end": end.isoformat() if end else None})
        uow.record_change("work_order", wo.id, wo.organization_id, "updated")
        uow.commit()
    return (start, end) if start is not None else None
