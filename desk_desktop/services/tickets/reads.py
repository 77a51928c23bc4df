"""Tickets: lists, counts, one ticket's details and history, and the customer and site pickers."""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any

from sqlalchemy import or_, select

from desk_desktop.db import sql
from desk_desktop.db.models import Customer
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.common import Actor, ValidationFailed
from desk_desktop.services.tickets.types import (
    LIST_LIMIT_MAX,
    SORTS,
    AuditItem,
    CustomerInfo,
    SiteInfo,
    TicketDetail,
    TicketFilter,
    TicketNotFound,
    TicketPage,
    TicketSummary,
    WorkOrderDetail,
)

# --------------------------------------------------------------------------- reading

_SUMMARY_COLUMNS = """
    t.id, t.number, t.subject, t.customer_id, t.customer_name, t.category, t.priority, t.status, t.tags,
    t.site_id, s.address AS site_address,
    ST_Y(t.location::geometry) AS lat, ST_X(t.location::geometry) AS lon,
    tech.name AS technician_name, w.id AS work_order_id, w.status AS work_order_status, w.scheduled_start,
    t.created_at, t.updated_at
"""

_FROM = """
    FROM tickets t
    LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = t.organization_id
    LEFT JOIN work_orders w ON w.source_ticket_id = t.id AND w.organization_id = t.organization_id
    LEFT JOIN technicians tech ON tech.id = w.technician_id AND tech.organization_id = t.organization_id
"""


def _summary(row) -> TicketSummary:
    return TicketSummary(
        id=row.id,
        number=row.number,
        subject=row.subject,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        category=row.category,
        priority=row.priority,
        status=row.status,
        tags=tuple(row.tags or ()),
        site_id=row.site_id,
        site_address=row.site_address,
        lat=row.lat,
        lon=row.lon,
        technician_name=row.technician_name,
        work_order_id=row.work_order_id,
        work_order_status=row.work_order_status,
        scheduled_start=row.scheduled_start,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _like_pattern(needle: str) -> str:
    esc = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def _as_tuple(v) -> tuple | None:
    if v is None:
        return None
    if isinstance(v, str):
        return (v,)
    return tuple(v)


def _where(actor: Actor, filters: TicketFilter) -> tuple[list[str], dict[str, Any]]:
    clauses = ["t.organization_id = :org"]
    params: dict[str, Any] = {"org": actor.organization_id}
    for name in ("status", "priority", "category"):
        values = _as_tuple(getattr(filters, name))
        if values:
            clauses.append(f"t.{name} = ANY(:{name})")
            params[name] = [str(v) for v in values]
    if filters.tag:
        clauses.append("t.tags @> ARRAY[CAST(:tag AS text)]")
        params["tag"] = filters.tag.strip().lower()
    if filters.customer_id is not None:
        clauses.append("t.customer_id = :customer_id")
        params["customer_id"] = filters.customer_id
    if filters.technician_id is not None:
        clauses.append("w.technician_id = :technician_id")
        params["technician_id"] = filters.technician_id
    if filters.unassigned_only:
        clauses.append("w.id IS NOT NULL AND w.technician_id IS NULL AND w.status NOT IN ('completed','cancelled')")
    if filters.text and filters.text.strip():
        clauses.append("t.search_text ILIKE :pattern")
        params["pattern"] = _like_pattern(" ".join(filters.text.split()))
    return clauses, params


NO_FILTER = TicketFilter()

_SORT_SQL = {
    "created_desc": ("t.created_at DESC, t.id DESC", "(t.created_at, t.id) < (:k1, :k2)", "created_at"),
    "created_asc": ("t.created_at ASC, t.id ASC", "(t.created_at, t.id) > (:k1, :k2)", "created_at"),
    "number_asc": ("t.number ASC, t.id ASC", "(t.number, t.id) > (:k1, :k2)", "number"),
    "number_desc": ("t.number DESC, t.id DESC", "(t.number, t.id) < (:k1, :k2)", "number"),
}


def list_tickets(
    *,
    uow: UnitOfWork,
    actor: Actor,
    filters: TicketFilter = NO_FILTER,
    sort: str = "created_desc",
    after: object | None = None,
    limit: int = 200,
) -> TicketPage:
    """One page of tickets. Pass the returned ``next_cursor`` as ``after`` for the next page."""
    if sort not in _SORT_SQL:
        raise ValidationFailed(f"Unknown sort '{sort}'; choose one of: {', '.join(SORTS)}.", "sort")
    limit = max(1, min(int(limit), LIST_LIMIT_MAX))
    order, keyset, key_attr = _SORT_SQL[sort]
    clauses, params = _where(actor, filters)
    if after is not None:
        try:
            cursor_sort, k1, k2 = after  # type: ignore[misc]
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("That page cursor is not valid.", "after") from exc
        if cursor_sort != sort:
            raise ValidationFailed("The page cursor belongs to another sort order.", "after")
        clauses.append(keyset)
        params.update(k1=k1, k2=k2)
    params["limit"] = limit + 1
    statement = f"SELECT {_SUMMARY_COLUMNS} {_FROM} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT :limit"
    with uow:
        rows = sql.rows(uow, statement, params)
        uow.commit()
    items = tuple(_summary(r) for r in rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = (sort, getattr(last, key_attr), last.id)
    return TicketPage(rows=items, next_cursor=next_cursor)


def count_tickets(*, uow: UnitOfWork, actor: Actor, filters: TicketFilter = NO_FILTER) -> int:
    clauses, params = _where(actor, filters)
    needs_wo = filters.technician_id is not None or filters.unassigned_only
    from_sql = (
        "FROM tickets t LEFT JOIN work_orders w ON w.source_ticket_id = t.id AND w.organization_id = t.organization_id"
        if needs_wo
        else "FROM tickets t"
    )
    with uow:
        n = sql.scalar(uow, f"SELECT count(*) {from_sql} WHERE {' AND '.join(clauses)}", params)
        uow.commit()
    return int(n)


def normalize_number(number: str) -> str:
    return "".join(str(number).split()).upper()


_DETAIL_SQL = f"""
    SELECT {_SUMMARY_COLUMNS}, t.description, t.created_by, t.organization_id,
           c.ref AS customer_ref, c.customer_type, c.email AS customer_email, c.phone AS customer_phone,
           s.ref AS site_ref, s.name AS site_name,
           w.source AS wo_source, w.work_type, w.priority AS wo_priority, w.technician_id, w.scheduled_end,
           w.duration_minutes, w.assignment_logic, w.required_skills, w.needs_assignment, w.unassigned_reason,
           w.assignment_explanation, w.assigned_at, w.rule_id, r.name AS rule_name,
           w.hold_reason, w.on_site_at, w.actual_start, w.actual_end, w.resolution_note, w.cancel_reason,
           w.window_start, w.window_end, o.auto_resolve_tickets, o.timezone
    {_FROM}
    JOIN customers c ON c.id = t.customer_id
    JOIN organizations o ON o.id = t.organization_id
    LEFT JOIN ticket_work_order_rules r ON r.id = w.rule_id
    WHERE t.organization_id = :org AND (t.id = :ticket_id OR t.number = :number)
"""


def get_ticket_or_raise(
    *, uow: UnitOfWork, actor: Actor, number: str | None = None, ticket_id: int | None = None
) -> TicketDetail:
    if number is None and ticket_id is None:
        raise ValidationFailed("Give a ticket number or id.", "number")
    if ticket_id is not None:
        params = {"org": actor.organization_id, "ticket_id": ticket_id, "number": None}
        label = f"#{ticket_id}"
    else:
        params = {"org": actor.organization_id, "ticket_id": None, "number": normalize_number(number or "")}
        label = params["number"]
    with uow:
        row = sql.one_or_none(uow, _DETAIL_SQL, params)
        uow.commit()
    if row is None:
        raise TicketNotFound(f"Ticket {label} was not found in this organization.")
    return _detail(row)


def _detail(row) -> TicketDetail:
    wo = None
    if row.work_order_id is not None:
        wo = WorkOrderDetail(
            id=row.work_order_id,
            number=work_order_number(row.work_order_id),
            source=row.wo_source,
            status=row.work_order_status,
            work_type=row.work_type,
            priority=row.wo_priority,
            technician_id=row.technician_id,
            technician_name=row.technician_name,
            scheduled_start=row.scheduled_start,
            scheduled_end=row.scheduled_end,
            duration_minutes=row.duration_minutes,
            assignment_logic=row.assignment_logic,
            required_skills=tuple(row.required_skills or ()),
            needs_assignment=row.needs_assignment,
            unassigned_reason=row.unassigned_reason,
            assignment_explanation=row.assignment_explanation,
            assigned_at=row.assigned_at,
            rule_id=row.rule_id,
            rule_name=row.rule_name,
            hold_reason=row.hold_reason,
            on_site_at=row.on_site_at,
            actual_start=row.actual_start,
            actual_end=row.actual_end,
            resolution_note=row.resolution_note,
            cancel_reason=row.cancel_reason,
            auto_resolve_tickets=row.auto_resolve_tickets,
            window_start=row.window_start,
            window_end=row.window_end,
            timezone=row.timezone or "UTC",
        )
    base = _summary(row)
    return TicketDetail(
        **{f.name: getattr(base, f.name) for f in dc_fields(TicketSummary)},
        description=row.description,
        customer_ref=row.customer_ref,
        customer_type=row.customer_type,
        customer_email=row.customer_email,
        customer_phone=row.customer_phone,
        site_ref=row.site_ref,
        site_name=row.site_name,
        created_by=row.created_by,
        organization_id=row.organization_id,
        work_order=wo,
    )


_HISTORY_SQL = """
SELECT a.at, a.actor, a.action, a.summary, a.details, a.entity FROM audit_log a
 WHERE a.organization_id = :org AND (
       (a.entity = 'ticket' AND a.entity_id = :id)
       OR (a.entity = 'work_order' AND a.entity_id IN (
           SELECT w.id FROM work_orders w WHERE w.organization_id = :org AND w.source_ticket_id = :id)))
 ORDER BY a.at, a.id
"""


def ticket_history(*, uow: UnitOfWork, actor: Actor, ticket_id: int) -> tuple[AuditItem, ...]:
    """The ticket's audit trail and its work order's, oldest first."""
    with uow:
        params = {"org": actor.organization_id, "id": ticket_id}
        if sql.scalar(uow, "SELECT 1 FROM tickets WHERE organization_id = :org AND id = :id", params) is None:
            raise TicketNotFound(f"Ticket #{ticket_id} was not found in this organization.")
        rows = sql.rows(uow, _HISTORY_SQL, params)
        uow.commit()
    return tuple(
        AuditItem(at=r.at, actor=r.actor, action=r.action, summary=r.summary, details=r.details, entity=r.entity)
        for r in rows
    )


# --------------------------------------------------------------------------- pickers


def list_customers(*, uow: UnitOfWork, actor: Actor, text: str | None = None, limit: int = 50) -> tuple[CustomerInfo, ...]:
    stmt = select(Customer).where(Customer.organization_id == actor.organization_id)
    if text and text.strip():
        pattern = _like_pattern(text.strip())
        stmt = stmt.where(or_(Customer.name.ilike(pattern, escape="\\"), Customer.ref.ilike(pattern, escape="\\")))
    stmt = stmt.order_by(Customer.name, Customer.id).limit(max(1, min(int(limit), 500)))
    with uow:
        rows = uow.session.scalars(stmt).all()
        out = tuple(
            CustomerInfo(id=c.id, ref=c.ref, name=c.name, customer_type=c.customer_type, email=c.email, phone=c.phone)
            for c in rows
        )
        uow.commit()
    return out


def list_sites(*, uow: UnitOfWork, actor: Actor, customer_id: int) -> tuple[SiteInfo, ...]:
    with uow:
        rows = sql.rows(
            uow,
            "SELECT id, ref, customer_id, name, address, ST_Y(location::geometry) AS lat, "
            "ST_X(location::geometry) AS lon FROM sites "
            "WHERE organization_id = :org AND customer_id = :cid ORDER BY name, id",
            {"org": actor.organization_id, "cid": customer_id},
        )
        uow.commit()
    return tuple(
        SiteInfo(id=r.id, ref=r.ref, customer_id=r.customer_id, name=r.name, address=r.address, lat=r.lat, lon=r.lon)
        for r in rows
    )
