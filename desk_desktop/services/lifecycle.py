"""Carrying a work order to the end: start, arrive, hold, resume, complete, cancel, reopen.

Each transition is one unit of work on the order's row locked ``FOR UPDATE``: of two
workstations completing (or cancelling) one order at once, the second waits for the first
and is then refused with the status it finds ("WO-000123 is completed; it can only be
reopened."). Each writes an audit row naming who and why and records the change for live
updates. Completed and cancelled orders stop counting as open at once (the load and the
capacity limit count open statuses live).

Completing a ticket's last unfinished order either resolves the ticket in the same
transaction (the organization's ``auto_resolve_tickets``) or says that it can be resolved
now. The customer is told the visit is completed (outbox event ``work_order.completed``)
when the order's ``notify_customer`` is set — copied from the rule for automatic orders,
chosen when a manual order is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from desk_desktop.db import sql
from desk_desktop.db.models import Organization, Ticket, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import TicketStatus, WorkOrderStatus
from desk_desktop.domain.lifecycle import (
    DONE_WORDS,
    FINISHED,
    NEEDS_REASON,
    Action,
    allowed_actions,
    refusal,
    status_words,
)
from desk_desktop.services.assignment.job import lock_organization
from desk_desktop.services.assignment.visits import visits_of
from desk_desktop.services.common import Actor, DeskError, NotFound, ValidationFailed, audit
from desk_desktop.services.notifications import enqueue_work_order_event
from desk_desktop.services.notifications.model import EVENT_CANCELLED, EVENT_COMPLETED, EVENT_SCHEDULED

REASON_MAX = 500
NOTE_MAX = 4000
# A ticket in one of these may be resolved (services/tickets/changes.py has the full table).
RESOLVABLE_TICKET_STATUSES = (TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.PENDING.value)


class TransitionRefused(DeskError):
    """The order's status does not allow the action (perhaps changed elsewhere meanwhile)."""

    def __init__(self, message: str, status: str, action: str) -> None:
        super().__init__(message)
        self.status = status
        self.action = action


@dataclass(frozen=True)
class TransitionResult:
    work_order_id: int
    number: str
    action: str
    previous_status: str
    status: str
    ticket_id: int | None
    ticket_number: str | None
    # The ticket has no unfinished order left and may be resolved (not done automatically).
    ticket_can_be_resolved: bool = False
    # The organization resolves tickets automatically and this completion did.
    ticket_resolved: bool = False
    notifications: int = 0


@dataclass(frozen=True)
class WorkOrderState:
    """One order as the lifecycle sees it: status, what it allows, what the steps recorded."""

    id: int
    number: str
    status: str
    allowed: tuple[str, ...]
    work_type: str
    priority: str
    technician_id: int | None
    technician_name: str | None
    ticket_id: int | None
    ticket_number: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    held_from: str | None
    hold_reason: str | None
    on_site_at: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    resolution_note: str | None
    cancel_reason: str | None
    auto_resolve_tickets: bool


def parse_number(number: str | int) -> int:
    """``WO-000123``, ``wo-123`` or ``123`` → 123."""
    text = str(number).strip().upper()
    digits = text[3:] if text.startswith("WO-") else text
    if not digits.isdigit() or int(digits) == 0:
        raise ValidationFailed(f"'{number}' is not a work-order number (like WO-000123).", "number")
    return int(digits)


_STATE_SQL = """
SELECT w.id, w.status, w.work_type, w.priority, w.technician_id, tech.name AS technician_name,
       w.source_ticket_id AS ticket_id, tk.number AS ticket_number, w.scheduled_start, w.scheduled_end,
       w.held_from, w.hold_reason, w.on_site_at, w.actual_start, w.actual_end, w.resolution_note,
       w.cancel_reason, o.auto_resolve_tickets
  FROM work_orders w
  JOIN organizations o ON o.id = w.organization_id
  LEFT JOIN technicians tech ON tech.id = w.technician_id
  LEFT JOIN tickets tk ON tk.id = w.source_ticket_id
 WHERE w.organization_id = :org AND w.id = :id"""


def get_work_order_state(*, uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrderState:
    with uow:
        r = sql.one_or_none(uow, _STATE_SQL, {"org": actor.organization_id, "id": work_order_id})
        uow.commit()
    if r is None:
        raise NotFound(f"Work order {work_order_number(work_order_id)} does not exist in this organization.")
    return WorkOrderState(
        id=r.id, number=work_order_number(r.id), status=r.status,
        allowed=tuple(a.value for a in allowed_actions(r.status)), work_type=r.work_type, priority=r.priority,
        technician_id=r.technician_id, technician_name=r.technician_name, ticket_id=r.ticket_id,
        ticket_number=r.ticket_number, scheduled_start=r.scheduled_start, scheduled_end=r.scheduled_end,
        held_from=r.held_from, hold_reason=r.hold_reason, on_site_at=r.on_site_at, actual_start=r.actual_start,
        actual_end=r.actual_end, resolution_note=r.resolution_note, cancel_reason=r.cancel_reason,
        auto_resolve_tickets=r.auto_resolve_tickets)


# --------------------------------------------------------------------------- the transitions


def _clean_text(value: str | None, what: str, field: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(f"Give a {what}.", field)
    if len(text) > limit:
        raise ValidationFailed(f"The {what} is {len(text)} characters; the limit is {limit}.", field)
    return text


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(f"The {field.replace('_', ' ')} time needs a time zone.", field)
    return value.astimezone(UTC) if value is not None else None


def _lock(uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrder:
    wo = uow.session.scalar(select(WorkOrder).where(WorkOrder.organization_id == actor.organization_id,
                                                    WorkOrder.id == work_order_id).with_for_update())
    if wo is None:
        raise NotFound(f"Work order {work_order_number(work_order_id)} does not exist in this organization.")
    return wo


def _check(wo: WorkOrder, action: Action) -> None:
    if action not in allowed_actions(wo.status):
        raise TransitionRefused(refusal(work_order_number(wo.id), wo.status, action), wo.status, action.value)


def _resume_status(wo: WorkOrder) -> str:
    """Where a held order goes back to: where it was, else scheduled/assigned."""
    if wo.held_from in (WorkOrderStatus.TRAVELLING, WorkOrderStatus.ON_SITE, WorkOrderStatus.ASSIGNED,
                        WorkOrderStatus.SCHEDULED):
        return wo.held_from
    return WorkOrderStatus.SCHEDULED.value if wo.scheduled_start is not None else WorkOrderStatus.ASSIGNED.value


def _reopen_status(uow: UnitOfWork, wo: WorkOrder) -> tuple[str, bool]:
    """(status, needs_assignment) of a reopened order: back to its technician (scheduled when
    it has a time), else unassigned — queued for automatic assignment only when its rule
    still assigns automatically."""
    if wo.technician_id is not None:
        return (WorkOrderStatus.SCHEDULED.value if wo.scheduled_start is not None
                else WorkOrderStatus.ASSIGNED.value), False
    auto = wo.rule_id is not None and bool(sql.scalar(
        uow, "SELECT auto_assign FROM ticket_work_order_rules WHERE id = :id", {"id": wo.rule_id}))
    return WorkOrderStatus.UNASSIGNED.value, auto


def _old_time_taken(uow: UnitOfWork, wo: WorkOrder) -> str | None:
    """The work order that has a reopened visit's old time now (the no-overlap rule of
    migration 0011 covers open visits only, so the time may have been given away)."""
    if wo.status != WorkOrderStatus.SCHEDULED or wo.booked_anyway:
        return None
    taken = visits_of(uow, wo.technician_id, start=wo.scheduled_start, end=wo.scheduled_end, excluding=wo.id)
    return taken[0].label if taken else None


def cancel_locked(uow: UnitOfWork, actor: Actor, wo: WorkOrder, reason: str, now: datetime) -> str:
    """Cancel an order already locked in the caller's transaction (the ticket service cancels a
    resolved ticket's orders this way). Returns the previous status."""
    _check(wo, Action.CANCEL)
    previous = wo.status
    wo.status = WorkOrderStatus.CANCELLED.value
    wo.cancel_reason = reason
    wo.needs_assignment = False
    wo.next_assign_at = None
    wo.updated_at = now
    _record(uow, actor, wo, Action.CANCEL, previous, f"cancelled: {reason}", {"reason": reason})
    if wo.technician_id is not None:  # their calendar drops the visit (a CANCEL invitation)
        enqueue_work_order_event(uow=uow, work_order_id=wo.id, event=EVENT_CANCELLED, actor=actor)
    return previous


def _record(uow: UnitOfWork, actor: Actor, wo: WorkOrder, action: Action, previous: str, why: str,
            details: dict) -> None:
    number = work_order_number(wo.id)
    uow.session.flush()
    audit(uow, actor=actor, action=f"work_order.{DONE_WORDS[action].replace(' ', '_')}", entity="work_order",
          entity_id=wo.id, summary=f"{number} {status_words(previous)} → {status_words(wo.status)}"
          + (f" ({why})" if why else ""),
          details={"from": previous, "to": wo.status, **details})
    uow.record_change("work_order", wo.id, wo.organization_id, action.value)


def unfinished_orders(uow: UnitOfWork, organization_id: int, ticket_id: int, *, lock: bool = False) -> list[WorkOrder]:
    """The ticket's orders that are neither completed nor cancelled (locked when asked)."""
    stmt = (select(WorkOrder).where(WorkOrder.organization_id == organization_id,
                                    WorkOrder.source_ticket_id == ticket_id, WorkOrder.status.not_in(FINISHED))
            .order_by(WorkOrder.id))
    return list(uow.session.scalars(stmt.with_for_update() if lock else stmt))


def transition(
    *,
    uow: UnitOfWork,
    actor: Actor,
    work_order_id: int,
    action: str,
    reason: str | None = None,
    note: str | None = None,
    started: datetime | None = None,
    ended: datetime | None = None,
    now: datetime | None = None,
) -> TransitionResult:
    """Carry the order one step: ``action`` is one of ``domain.lifecycle.Action``.

    ``reason``: required to hold and to cancel. ``complete``: ``note`` (the resolution, required),
    ``started`` (default: when it went on site, else its scheduled start, else its duration
    before the end) and ``ended`` (default now); the end after the start, neither in the future.
    Refused transitions raise ``TransitionRefused`` naming the status and what it allows."""
    try:
        act = Action(str(action).strip().lower())
    except ValueError:
        raise ValidationFailed(f"Unknown action '{action}'; choose one of: "
                               + ", ".join(a.value for a in Action) + ".", "action") from None
    now = (now or datetime.now(UTC)).astimezone(UTC)
    reason = _clean_text(reason, "reason", "reason", REASON_MAX, required=act in NEEDS_REASON)
    started, ended = _aware(started, "started"), _aware(ended, "ended")
    if act == Action.COMPLETE:
        note = _clean_text(note, "resolution note", "note", NOTE_MAX, required=True)
        if ended is not None and ended > now + timedelta(minutes=1):
            raise ValidationFailed("The end of the work cannot be in the future.", "ended")
        if started is not None and started > now + timedelta(minutes=1):
            raise ValidationFailed("The start of the work cannot be in the future.", "started")
    with uow:
        if act == Action.REOPEN:  # it may book its old time again: under the lock every booking takes, taken first
            lock_organization(uow, actor.organization_id)
        wo = _lock(uow, actor, work_order_id)
        _check(wo, act)
        previous = wo.status
        number = work_order_number(wo.id)
        why, details = reason, {"reason": reason} if reason else {}
        ticket_can_be_resolved = ticket_resolved = False
        notifications = 0
        if act == Action.START:
            wo.status = WorkOrderStatus.TRAVELLING.value
        elif act == Action.ARRIVE:
            wo.status = WorkOrderStatus.ON_SITE.value
            wo.on_site_at = now
        elif act == Action.HOLD:
            wo.held_from = previous
            wo.hold_reason = reason
            wo.status = WorkOrderStatus.ON_HOLD.value
        elif act == Action.RESUME:
            wo.status = _resume_status(wo)
            wo.held_from = wo.hold_reason = None
        elif act == Action.CANCEL:
            cancel_locked(uow, actor, wo, reason, now)
        elif act == Action.REOPEN:
            wo.status, wo.needs_assignment = _reopen_status(uow, wo)
            taken = _old_time_taken(uow, wo)
            if taken is not None:
                # Another visit has its old time now: back to its technician, to be rescheduled.
                wo.status = WorkOrderStatus.ASSIGNED.value
                wo.scheduled_start = wo.scheduled_end = None
                details["old_time_taken_by"] = taken
                why = f"its old time now belongs to {taken}; reschedule it"
            wo.next_assign_at = now if wo.needs_assignment else None
            wo.assign_attempts = 0
            if wo.technician_id is None:
                wo.unassigned_reason = f"Reopened by {actor.name}" + ("" if wo.needs_assignment
                                                                      else "; waiting for a dispatcher to assign it")
            details["was"] = {"resolution_note": wo.resolution_note, "cancel_reason": wo.cancel_reason,
                              "actual_start": wo.actual_start.isoformat() if wo.actual_start else None,
                              "actual_end": wo.actual_end.isoformat() if wo.actual_end else None}
            wo.resolution_note = wo.cancel_reason = wo.hold_reason = wo.held_from = None
            wo.actual_start = wo.actual_end = wo.on_site_at = None
        elif act == Action.COMPLETE:
            end = ended or now
            start = started or wo.on_site_at or (
                wo.scheduled_start if wo.scheduled_start is not None and wo.scheduled_start < end
                else end - timedelta(minutes=wo.duration_minutes))
            if end <= start:
                raise ValidationFailed(f"The work must end after it started ({start:%Y-%m-%d %H:%M} UTC).", "ended")
            wo.status = WorkOrderStatus.COMPLETED.value
            wo.actual_start, wo.actual_end, wo.resolution_note = start, end, note
            wo.held_from = wo.hold_reason = None
            why = note if len(note) <= 80 else note[:79] + "…"
            details = {"resolution_note": note, "actual_start": start.isoformat(), "actual_end": end.isoformat()}
        if act != Action.CANCEL:
            wo.updated_at = now
            _record(uow, actor, wo, act, previous, why, details)
        if act == Action.REOPEN and wo.technician_id is not None and wo.scheduled_start is not None:
            # Its cancellation took it out of the technician's calendar: the invitation puts it back.
            enqueue_work_order_event(uow=uow, work_order_id=wo.id, event=EVENT_SCHEDULED, actor=actor)
        if act == Action.COMPLETE:
            notifications = enqueue_work_order_event(uow=uow, work_order_id=wo.id, event=EVENT_COMPLETED,
                                                     actor=actor, version=f"done@{wo.actual_end.isoformat()}")
            if wo.source_ticket_id is not None and not unfinished_orders(uow, wo.organization_id, wo.source_ticket_id):
                ticket = uow.session.scalar(select(Ticket).where(Ticket.id == wo.source_ticket_id).with_for_update())
                if ticket.status in RESOLVABLE_TICKET_STATUSES:
                    auto = uow.session.scalar(select(Organization.auto_resolve_tickets)
                                              .where(Organization.id == wo.organization_id))
                    if auto:
                        _resolve_ticket(uow, actor, ticket, number)
                        ticket_resolved = True
                    else:
                        ticket_can_be_resolved = True
        ticket_number = sql.scalar(uow, "SELECT number FROM tickets WHERE id = :id", {"id": wo.source_ticket_id}) \
            if wo.source_ticket_id is not None else None
        result = TransitionResult(work_order_id=wo.id, number=number, action=act.value, previous_status=previous,
                                  status=wo.status, ticket_id=wo.source_ticket_id, ticket_number=ticket_number,
                                  ticket_can_be_resolved=ticket_can_be_resolved, ticket_resolved=ticket_resolved,
                                  notifications=notifications)
        uow.commit()
    return result


def _resolve_ticket(uow: UnitOfWork, actor: Actor, ticket: Ticket, number: str) -> None:
    previous = ticket.status
    ticket.status = TicketStatus.RESOLVED.value
    ticket.updated_at = func.now()  # type: ignore[assignment]
    uow.session.flush()
    audit(uow, actor=actor, action="ticket.status_changed", entity="ticket", entity_id=ticket.id,
          summary=f"Status {previous} → resolved (its last work order {number} was completed; "
                  "the organization resolves tickets automatically)",
          details={"from": previous, "to": TicketStatus.RESOLVED.value, "work_order": number, "automatic": True})
    uow.record_change("ticket", ticket.id, ticket.organization_id, "updated")
