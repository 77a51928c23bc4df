"""Tickets: edits of an existing ticket and its status changes (numbers never change)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from desk_desktop.db import sql
from desk_desktop.db.models import Customer, Ticket
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import Priority, TicketStatus
from desk_desktop.domain.lifecycle import status_words
from desk_desktop.services.audit import audit
from desk_desktop.services.catalogs import load_catalogs
from desk_desktop.services.common import Actor
from desk_desktop.services.lifecycle import cancel_locked, unfinished_orders
from desk_desktop.services.tickets.fields import (
    category_key,
    clean_category,
    clean_coords,
    clean_description,
    clean_enum,
    clean_subject,
    clean_tags,
    point,
)
from desk_desktop.services.tickets.reads import get_ticket_or_raise
from desk_desktop.services.tickets.types import (
    InvalidStatusTransition,
    TicketHasOpenWorkOrders,
    TicketInvalid,
    TicketNotFound,
    TicketSummary,
)

# What to do with a resolved or closed ticket's unfinished work orders.
OPEN_ORDER_CHOICES = ("cancel", "leave")

_SITE_SQL = """SELECT id, ref, customer_id, name, address, ST_Y(location::geometry) AS lat,
       ST_X(location::geometry) AS lon
  FROM sites WHERE organization_id = :org AND (id = :site_id OR ref = :site_ref)"""


def _find_site(uow: UnitOfWork, org: int, customer, site_id: int | None, site_ref: str | None):
    if site_id is None and (site_ref is None or not str(site_ref).strip()):
        return None
    ref = str(site_ref).strip() if site_id is None else None
    label = f"#{site_id}" if site_id is not None else f"'{ref}'"
    row = sql.one_or_none(uow, _SITE_SQL, {"org": org, "site_id": site_id, "site_ref": ref})
    if row is None:
        raise TicketInvalid(f"No site {label} in this organization.", "site")
    if row.customer_id != customer.id:
        raise TicketInvalid(f"Site {label} belongs to another customer, not {customer.name}.", "site")
    return row


# --------------------------------------------------------------------------- changes

_UPDATABLE = {"subject", "description", "category", "priority", "tags", "site_id", "site_ref", "lat", "lon"}


def _lock_ticket(uow: UnitOfWork, actor: Actor, ticket_id: int) -> Ticket:
    ticket = uow.session.scalars(
        select(Ticket)
        .where(Ticket.organization_id == actor.organization_id, Ticket.id == ticket_id)
        .with_for_update()
    ).one_or_none()
    if ticket is None:
        raise TicketNotFound(f"Ticket #{ticket_id} was not found in this organization.")
    return ticket


def update_ticket(*, uow: UnitOfWork, actor: Actor, ticket_id: int, **fields: Any) -> TicketSummary:
    """Change subject, description, category, priority, tags, site (site_id/site_ref) or
    map position (lat/lon). Only the fields given change. Numbers never change."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        name = sorted(unknown)[0]
        raise TicketInvalid(f"'{name}' cannot be changed here.", name)
    clean: dict[str, Any] = {}
    if "subject" in fields:
        clean["subject"] = clean_subject(fields["subject"])
    if "description" in fields:
        clean["description"] = clean_description(fields["description"])
    if "category" in fields:
        clean["category"] = clean_category(fields["category"])
    if "priority" in fields:
        clean["priority"] = clean_enum(fields["priority"], Priority, "priority", "priority")
    if "tags" in fields:
        clean["tags"] = list(clean_tags(fields["tags"]))
    coords = clean_coords(fields.get("lat"), fields.get("lon")) if ("lat" in fields or "lon" in fields) else None
    site_given = "site_id" in fields or "site_ref" in fields
    if coords is not None and site_given and (fields.get("site_id") is not None or fields.get("site_ref")):
        raise TicketInvalid("Give either a site or a map position, not both.", "site")

    with uow:
        ticket = _lock_ticket(uow, actor, ticket_id)
        if "category" in clean:
            clean["category"] = category_key(load_catalogs(uow=uow, actor=actor), clean["category"], keep=ticket.category)
        changes: dict[str, list[Any]] = {}
        for name, value in clean.items():
            old = getattr(ticket, name)
            if (list(old) if name == "tags" else old) != value:
                changes[name] = [list(old) if name == "tags" else old, value]
                setattr(ticket, name, value)
        if site_given:
            customer = uow.session.get(Customer, ticket.customer_id)
            site = _find_site(uow, actor.organization_id, customer, fields.get("site_id"), fields.get("site_ref"))
            new_site_id = site.id if site is not None else None
            if new_site_id != ticket.site_id:
                changes["site_id"] = [ticket.site_id, new_site_id]
                ticket.site_id = new_site_id
                if coords is None:
                    ticket.location = point(site.lat, site.lon) if site is not None and site.lat is not None else None
        if coords is not None:
            changes["location"] = [None, list(coords)]
            ticket.location = point(*coords)
        if changes:
            ticket.updated_at = func.now()  # type: ignore[assignment]
            uow.session.flush()
            audit(
                uow,
                actor=actor,
                action="ticket.updated",
                entity="ticket",
                entity_id=ticket.id,
                summary="Changed " + ", ".join(sorted(changes)),
                details={"changes": changes},
            )
            uow.record_change("ticket", ticket.id, actor.organization_id, "updated")
        uow.commit()
    return get_ticket_or_raise(uow=uow, actor=actor, ticket_id=ticket_id).summary()


_TRANSITIONS: dict[str, tuple[str, ...]] = {
    TicketStatus.NEW: (TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED),
    TicketStatus.OPEN: (TicketStatus.PENDING, TicketStatus.RESOLVED),
    TicketStatus.PENDING: (TicketStatus.OPEN, TicketStatus.RESOLVED),
    TicketStatus.RESOLVED: (TicketStatus.CLOSED, TicketStatus.OPEN),
    TicketStatus.CLOSED: (TicketStatus.OPEN,),
}


def allowed_status_changes(status: str) -> tuple[str, ...]:
    """Statuses a ticket in ``status`` may move to (reopening = back to open)."""
    return tuple(s.value for s in _TRANSITIONS.get(str(status), ()))


def change_ticket_status(*, uow: UnitOfWork, actor: Actor, ticket_id: int, status: str,
                         open_orders: str | None = None, reason: str | None = None) -> TicketSummary:
    """Move the ticket to ``status``. Resolving or closing a ticket whose work orders are not
    finished needs ``open_orders``: ``"cancel"`` (with ``reason``, in the same transaction)
    or ``"leave"`` (they go on); without it ``TicketHasOpenWorkOrders`` names them."""
    requested = str(status).strip().lower()
    if open_orders not in (None, *OPEN_ORDER_CHOICES):
        raise TicketInvalid(f"Unknown choice '{open_orders}' for the open work orders; choose "
                            + " or ".join(OPEN_ORDER_CHOICES) + ".", "open_orders")
    if open_orders == "cancel" and not (reason or "").strip():
        raise TicketInvalid("Give a reason for cancelling the open work orders.", "reason")
    if requested not in [s.value for s in TicketStatus]:
        raise TicketInvalid(
            f"Unknown status '{status}'; choose one of: {', '.join(s.value for s in TicketStatus)}.", "status"
        )
    with uow:
        ticket = _lock_ticket(uow, actor, ticket_id)
        current = ticket.status
        if requested == current:
            raise InvalidStatusTransition(f"Ticket {ticket.number} is already {current}.", current, requested)
        allowed = allowed_status_changes(current)
        if requested not in allowed:
            raise InvalidStatusTransition(
                f"Ticket {ticket.number} is {current} and cannot become {requested}; "
                f"it can become: {', '.join(allowed) or 'nothing'}.",
                current,
                requested,
            )
        details: dict[str, Any] = {"from": current, "to": requested}
        if requested in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            orders = unfinished_orders(uow, actor.organization_id, ticket.id, lock=True)
            numbers = [work_order_number(wo.id) for wo in orders]
            if orders and open_orders is None:
                raise TicketHasOpenWorkOrders(
                    f"Ticket {ticket.number} still has open work order{'s' if len(orders) > 1 else ''} "
                    f"{', '.join(numbers)} ({', '.join(status_words(wo.status) for wo in orders)}); "
                    f"say whether to cancel {'them' if len(orders) > 1 else 'it'} (with a reason) "
                    f"or leave {'them' if len(orders) > 1 else 'it'} open.", tuple(wo.id for wo in orders))
            if orders and open_orders == "cancel":
                why = f"ticket {ticket.number} {requested}: {reason.strip()}"
                for wo in orders:
                    cancel_locked(uow, actor, wo, why, datetime.now(UTC))
            if orders:
                details["open_work_orders"] = {"numbers": numbers, "choice": open_orders}
        ticket.status = requested
        ticket.updated_at = func.now()  # type: ignore[assignment]
        uow.session.flush()
        reopened = current in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and requested == TicketStatus.OPEN
        audit(
            uow,
            actor=actor,
            action="ticket.reopened" if reopened else "ticket.status_changed",
            entity="ticket",
            entity_id=ticket.id,
            summary=f"Status {current} → {requested}" + (
                f" (open work orders {'cancelled' if open_orders == 'cancel' else 'left open'}: "
                + ", ".join(details["open_work_orders"]["numbers"]) + ")" if "open_work_orders" in details else ""),
            details=details,
        )
        uow.record_change("ticket", ticket.id, actor.organization_id, "updated")
        uow.commit()
    return get_ticket_or_raise(uow=uow, actor=actor, ticket_id=ticket_id).summary()
