"""Deciding one order: rank its candidates under a strategy, then apply the outcome.

``decide`` ranks the candidates the batch reports (``domain.scoring`` per strategy), with
the fallbacks a dispatcher is told about: ``nearest`` without a location ranks by
workload, ``round_robin`` for an order no rule created ranks by workload. ``assign`` gives
the order to a technician (scheduling it into their working hours when asked) and
``leave_unassigned`` records why nobody could take it and when it is tried again; both
only change the order and leave their audit row and notifications in the batch, which
writes them (``Batch.write``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from desk_desktop.db import sql
from desk_desktop.db.models import WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import AssignmentLogic, WorkOrderStatus, values
from desk_desktop.domain.scoring import Ranked, ScheduleFit, TechFacts, due_now, rank_candidates
from desk_desktop.domain.slots import Visit, first_clash, first_free_in_windows
from desk_desktop.services.assignment import explanation
from desk_desktop.services.assignment.batch import Batch
from desk_desktop.services.assignment.candidates import MAX_CANDIDATES, NEAREST_K, NEAREST_K_ALL, OPEN_STATUSES
from desk_desktop.services.assignment.types import VisitClash
from desk_desktop.services.assignment.visits import clash_text
from desk_desktop.services.common import ValidationFailed

BACKOFF_CAP_MINUTES = 60


@dataclass
class Decision:
    strategy: str  # the one that ranked
    requested: str
    fallback: str | None  # why the strategy differs from the requested one
    ranked: list[Ranked]
    located: bool
    required: list[str]
    pointer_id: int | None  # round robin: the rotation's last step
    pointer_name: str | None

    def explanation(self, *, radius_km: float, now: datetime, winner: Ranked | None, why: str | None,
                    reason: str | None = None, extra: dict | None = None) -> dict:
        rotation = ({"technician_id": self.pointer_id, "name": self.pointer_name}
                    if self.strategy == AssignmentLogic.ROUND_ROBIN else None)
        return explanation.record(strategy=self.strategy, requested=self.requested, fallback=self.fallback,
                                  ranked=self.ranked, located=self.located, required=self.required,
                                  radius_km=radius_km, now=now, winner=winner, why=why, reason=reason,
                                  rotation_after=rotation, extra=extra)


def decide(uow: UnitOfWork, batch: Batch, wo: WorkOrder, *, strategy: str | None, radius_km: float,
           location: tuple[float, float] | None, eligible_only: bool = True, k: int = MAX_CANDIDATES) -> Decision:
    """Rank the order's candidates under ``strategy`` (default: the order's own)."""
    requested = strategy or wo.assignment_logic or AssignmentLogic.NEAREST.value
    if requested not in values(AssignmentLogic):
        raise ValidationFailed(f"Unknown assignment strategy '{requested}'. Choose one of "
                               + ", ".join(s.value for s in AssignmentLogic) + ".", "strategy")
    effective, fallback = requested, None
    if requested == AssignmentLogic.NEAREST and location is None:
        effective = AssignmentLogic.WORKLOAD.value
        fallback = ("The ticket has no location, so 'nearest' fell back to 'workload' "
                    "(fewest open work orders).")
    if effective == AssignmentLogic.ROUND_ROBIN and wo.rule_id is None:
        effective = AssignmentLogic.WORKLOAD.value
        fallback = ("This order was not created by a rule, so there is no rotation to follow; "
                    "'round_robin' fell back to 'workload' (fewest open work orders).")
    pointer_id = pointer_name = None
    if effective == AssignmentLogic.ROUND_ROBIN:
        batch.rotation(uow, [wo.rule_id])
        pointer_id, pointer_name = batch.pointers[wo.rule_id]
    required = list(wo.required_skills or ())
    if effective == AssignmentLogic.NEAREST:
        k = min(k, NEAREST_K if eligible_only else NEAREST_K_ALL)  # the winner plus the ones listed
    facts = batch.fetch(uow, wo.id, organization_id=wo.organization_id, location=location,
                             required_skills=required, strategy=effective, now=batch.now, radius_km=radius_km,
                             eligible_only=eligible_only, k=k, last_technician_id=pointer_id)
    ranked = rank_candidates(effective, mark_unavailable_now(uow, batch, wo, facts), required, last_technician_id=pointer_id)
    return Decision(effective, requested, fallback, ranked, location is not None, required, pointer_id, pointer_name)


def mark_unavailable_now(uow: UnitOfWork, batch: Batch, wo: WorkOrder, facts: list[TechFacts]) -> list[TechFacts]:
    """For work due now (``scoring.due_now``), the technicians outside their working hours
    now are marked off shift, and those in an absence now absent (not eligible; still listed)."""
    if not due_now(requested_start(wo, batch.now), batch.now):
        return facts
    out = []
    for f in facts:
        reason = batch.away_now(uow, f.technician_id)
        if reason is not None:
            f = replace(f, absent=True, absence_reason=reason)
        if not batch.on_shift(f.technician_id):
            f = replace(f, off_shift=True)
        out.append(f)
    return out


def requested_start(wo: WorkOrder, now: datetime) -> datetime | None:
    """When the order wants its visit: its own start (never in the past), else now plus the
    rule's offset when it is scheduled automatically — and not before the customer's booked
    window opens; None when it is not scheduled."""
    if wo.scheduled_start is not None:
        return max(wo.scheduled_start, now)
    if wo.auto_schedule:
        wanted = now + timedelta(minutes=wo.schedule_offset_minutes or 0)
        return max(wanted, wo.window_start) if wo.window_start is not None else wanted
    return None


def first_slot(uow: UnitOfWork, batch: Batch, wo: WorkOrder, technician_id: int) -> ScheduleFit | None:
    """The technician's first free slot for ``wo`` at or after its requested start
    (``domain.slots``), between their other visits and the drives to and from them; None
    when the order is not scheduled."""
    requested = requested_start(wo, batch.now)
    if requested is None:
        return None
    number = work_order_number(wo.id)
    visits = [v for v in batch.visits_for(uow, technician_id) if v.label != number]
    return first_free_in_windows(requested, wo.duration_minutes, batch.working_windows(technician_id),
                                 batch.tz_name, visits, here=batch.places.get(wo.id), speed_kmh=batch.speed_kmh)


def fits_booked_window(uow: UnitOfWork, batch: Batch, wo: WorkOrder, technician_id: int) -> bool:
    """Whether the technician's first free slot for ``wo`` starts inside the customer's booked
    window, as the optimizer keeps it (True when the order has no window or is not scheduled
    automatically)."""
    if wo.window_end is None or wo.scheduled_start is not None:
        return True
    fit = first_slot(uow, batch, wo, technician_id)
    return fit is None or fit.start <= wo.window_end


def _schedule(uow: UnitOfWork, batch: Batch, wo: WorkOrder, technician_id: int) -> dict | None:
    """Set scheduled_start/end when the order asks for it (``first_slot``); returns the
    schedule part of the explanation, or None when the order is not scheduled."""
    fit = first_slot(uow, batch, wo, technician_id)
    if fit is None:
        return None
    wo.scheduled_start, wo.scheduled_end = fit.start, fit.end
    return {"requested_start": fit.requested_start.isoformat(), "start": fit.start.isoformat(),
            "end": fit.end.isoformat(), "moved": fit.moved, "note": fit.note, "timezone": batch.tz_name}


def _notifies(wo: WorkOrder) -> bool:
    return bool(wo.notify_customer or wo.notify_technician)


STARTED_STATUSES = (WorkOrderStatus.TRAVELLING, WorkOrderStatus.ON_SITE, WorkOrderStatus.ON_HOLD)


def start_over(wo: WorkOrder) -> str | None:
    """The order goes (back) to the plan — another technician, or none: what the previous one
    recorded on the way (on site since, on hold and why) no longer applies. Returns the status
    it left when that was one of a started visit (for the audit row), else None."""
    was = wo.status if wo.status in STARTED_STATUSES else None
    wo.on_site_at = wo.held_from = wo.hold_reason = None
    return was


def assign(uow: UnitOfWork, batch: Batch, wo: WorkOrder, technician_id: int, record: dict, *,
           schedule: bool, manual: bool) -> None:
    """Give ``wo`` to the technician: status, schedule, explanation ``record``; the audit row
    and the notifications (the former technician is told it was taken from them)."""
    now = batch.now
    previous = wo.technician_id
    if previous is not None and previous != technician_id and _notifies(wo):
        batch.notify(wo.id, "work_order.unassigned", previous)
    if previous is not None and wo.status in OPEN_STATUSES:
        batch.add_load(previous, -1)
    batch.add_load(technician_id, +1)
    name = next((c["name"] for c in record.get("candidates", ()) if c.get("technician_id") == technician_id), None)
    if name is None or technician_id not in batch.hours:
        row = sql.one_or_none(uow, "SELECT name, working_hours FROM technicians WHERE id = :id",
                              {"id": technician_id})
        name, batch.hours[technician_id] = (row.name, row.working_hours) if row else (f"technician {technician_id}",
                                                                                      None)
    number = work_order_number(wo.id)
    sched = _schedule(uow, batch, wo, technician_id) if schedule else None
    if sched is not None:
        record["schedule"] = sched
        if sched["moved"]:
            record["why"] = (record.get("why") or "") + f" Start {sched['note']}."
    if wo.scheduled_start is not None:
        if sched is None:  # kept at its time (not scheduled here): refused when that is taken
            if wo.scheduled_end is None:
                wo.scheduled_end = wo.scheduled_start + timedelta(minutes=wo.duration_minutes)
            visits = [v for v in batch.visits_for(uow, technician_id) if v.label != number]
            clash = first_clash(wo.scheduled_start, wo.scheduled_end, visits)
            if clash is not None:
                raise VisitClash(clash_text(name, clash, batch.tz_name) + "; reschedule the order first.")
        batch.book(uow, technician_id, Visit(wo.scheduled_start, wo.scheduled_end, number,
                                             where=batch.places.get(wo.id)))
        wo.booked_anyway = False  # the slot is free: the constraint covers the visit again
    was = start_over(wo)
    wo.technician_id = technician_id
    wo.status = WorkOrderStatus.SCHEDULED.value if wo.scheduled_start is not None else WorkOrderStatus.ASSIGNED.value
    wo.assigned_at = now
    wo.needs_assignment = False
    wo.next_assign_at = None
    wo.unassigned_reason = None
    wo.assignment_explanation = record
    wo.updated_at = now
    summary = (f"{number} assigned to {name} by hand" if manual
               else f"{number} assigned to {name} ({record.get('strategy')})")
    if wo.scheduled_start is not None:
        summary += f", scheduled {wo.scheduled_start:%Y-%m-%d %H:%M} UTC"
    if was is not None:
        summary += f" (it was {was.replace('_', ' ')}; the visit starts over)"
    batch.audit(action="work_order.assigned", entity_id=wo.id, summary=summary,
                details={"technician_id": technician_id, "previous_technician_id": previous, "explanation": record,
                         "was": was})
    # "assigned" tells the technician and announces the visit (who and when) to the customer;
    # a separate "scheduled" would announce the same visit again.
    if _notifies(wo):
        batch.notify(wo.id, "work_order.assigned")
    uow.record_change("work_order", wo.id, wo.organization_id, "assigned")


def take_back(uow: UnitOfWork, batch: Batch, wo: WorkOrder, *, reason: str, reassign: bool) -> None:
    """Take ``wo`` from its technician (they are told): unassigned with ``reason``, waiting
    for a dispatcher — or, with ``reassign``, for the assign job."""
    previous = wo.technician_id
    prev_name = sql.scalar(uow, "SELECT name FROM technicians WHERE id = :id", {"id": previous})
    was = start_over(wo)
    wo.technician_id = None
    wo.status = WorkOrderStatus.UNASSIGNED.value
    wo.assigned_at = None
    wo.unassigned_reason = reason or f"Unassigned by {batch.actor.name}"
    wo.needs_assignment = bool(reassign)
    wo.next_assign_at = batch.now if reassign else None
    wo.assign_attempts = 0
    wo.updated_at = batch.now
    if _notifies(wo):
        batch.notify(wo.id, "work_order.unassigned", previous)
    batch.audit(action="work_order.unassigned", entity_id=wo.id,
                summary=f"{work_order_number(wo.id)} taken from {prev_name}" + (f": {reason}" if reason else "")
                + (f" (it was {was.replace('_', ' ')})" if was else ""),
                details={"previous_technician_id": previous, "reason": reason, "reassign": bool(reassign),
                         "was": was})
    uow.record_change("work_order", wo.id, wo.organization_id, "unassigned")


def backoff(attempts: int) -> timedelta:
    """How long an order nobody could take waits: 1, 2, 4 … 60 minutes."""
    return timedelta(minutes=min(BACKOFF_CAP_MINUTES, 2 ** max(0, attempts - 1)))


def leave_unassigned(uow: UnitOfWork, batch: Batch, wo: WorkOrder, d: Decision, *, radius_km: float,
                     reason: str) -> None:
    """Nobody could take ``wo``: the reason, one more attempt, the next try after a backoff."""
    now = batch.now
    wo.assign_attempts = (wo.assign_attempts or 0) + 1
    wo.next_assign_at = now + backoff(wo.assign_attempts)
    changed = wo.unassigned_reason != reason
    wo.unassigned_reason = reason
    wo.assignment_explanation = d.explanation(radius_km=radius_km, now=now, winner=None, why=None, reason=reason,
                                              extra={"attempts": wo.assign_attempts,
                                                     "retry_at": wo.next_assign_at.isoformat()})
    wo.updated_at = now
    if changed:  # the same reason again is not news
        batch.audit(action="work_order.assignment_failed", entity_id=wo.id,
                    summary=f"{work_order_number(wo.id)} could not be assigned: {reason} Retrying later.",
                    details={"explanation": wo.assignment_explanation})
    uow.record_change("work_order", wo.id, wo.organization_id, "unassigned")
