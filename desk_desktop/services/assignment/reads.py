"""Reading work orders as the dispatcher sees them (``WorkOrderView``)."""

from __future__ import annotations

from typing import Any

from desk_desktop.db import sql
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import WorkOrderStatus
from desk_desktop.services.assignment.candidates import OPEN_STATUSES
from desk_desktop.services.assignment.types import WorkOrderNotFound, WorkOrderView
from desk_desktop.services.common import Actor

_VIEW_SQL = """
SELECT w.id, w.status, w.work_type, w.priority, w.duration_minutes, w.technician_id, tech.name AS technician_name,
       w.scheduled_start, w.scheduled_end, w.assignment_logic, w.required_skills, w.needs_assignment,
       w.assign_attempts, w.next_assign_at, w.unassigned_reason, w.assignment_explanation, w.assigned_at,
       w.source, w.rule_id, w.source_ticket_id AS ticket_id, t.number AS ticket_number, t.subject AS ticket_subject,
       t.customer_name, w.created_at,
       ST_Y(CAST(coalesce(t.location, s.location) AS geometry)) AS lat,
       ST_X(CAST(coalesce(t.location, s.location) AS geometry)) AS lon
  FROM work_orders w
  LEFT JOIN technicians tech ON tech.id = w.technician_id AND tech.organization_id = w.organization_id
  LEFT JOIN tickets t ON t.id = w.source_ticket_id AND t.organization_id = w.organization_id
  LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = w.organization_id
 WHERE w.organization_id = :org
"""

_URGENCY = "CASE w.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"


def _view(r) -> WorkOrderView:
    return WorkOrderView(
        id=r.id, number=work_order_number(r.id), status=r.status, work_type=r.work_type, priority=r.priority,
        duration_minutes=r.duration_minutes, technician_id=r.technician_id, technician_name=r.technician_name,
        scheduled_start=r.scheduled_start, scheduled_end=r.scheduled_end, assignment_logic=r.assignment_logic,
        required_skills=tuple(r.required_skills or ()), needs_assignment=r.needs_assignment,
        assign_attempts=r.assign_attempts, next_assign_at=r.next_assign_at, unassigned_reason=r.unassigned_reason,
        assignment_explanation=r.assignment_explanation, assigned_at=r.assigned_at, source=r.source,
        rule_id=r.rule_id, ticket_id=r.ticket_id, ticket_number=r.ticket_number, ticket_subject=r.ticket_subject,
        customer_name=r.customer_name, lat=r.lat, lon=r.lon, created_at=r.created_at,
    )


def view_of(uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrderView:
    """The order as it stands in this transaction."""
    row = sql.one_or_none(uow, _VIEW_SQL + " AND w.id = :id", {"org": actor.organization_id, "id": work_order_id})
    if row is None:
        raise WorkOrderNotFound(f"Work order {work_order_number(work_order_id)} does not exist.")
    return _view(row)


def get_work_order_or_raise(*, uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrderView:
    with uow:
        view = view_of(uow, actor, work_order_id)
        uow.commit()
        return view


def list_open_work_orders(*, uow: UnitOfWork, actor: Actor, unassigned_only: bool = False,
                          limit: int | None = None) -> tuple[WorkOrderView, ...]:
    """Orders still to be done (unassigned or open), most urgent first."""
    statuses = [WorkOrderStatus.UNASSIGNED.value] + ([] if unassigned_only else OPEN_STATUSES)
    params: dict[str, Any] = {"org": actor.organization_id, "st": statuses, "lim": limit}
    with uow:
        rows = sql.rows(uow, _VIEW_SQL + f" AND w.status = ANY(CAST(:st AS text[])) ORDER BY {_URGENCY}, w.id "
                                         "LIMIT :lim", params)
        uow.commit()
        return tuple(_view(r) for r in rows)
