"""What a dispatcher does by hand: list an order's candidates, assign, unassign, reschedule.

Each operation is one unit of work: it decides against a ``Batch`` and writes through it,
the same path the assign job takes, so the order, its audit row and its notifications are
written the same way whoever assigns.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from desk_desktop.db import sql
from desk_desktop.db.models import WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import WorkOrderStatus
from desk_desktop.domain.scoring import Ranked, eligibility, no_eligible_reason, why_winner
from desk_desktop.services.assignment import decision
from desk_desktop.services.assignment.batch import Batch
from desk_desktop.services.assignment.candidates import (
    DEFAULT_RADIUS_KM,
    DEFAULT_SPEED_KMH,
    order_location,
    prepare_transaction,
    technician_facts,
)
from desk_desktop.services.assignment.explanation import to_candidate
from desk_desktop.services.assignment.job import lock_organization, organization_timezone
from desk_desktop.services.assignment.reads import view_of
from desk_desktop.services.assignment.types import (
    CandidateList,
    NotAssigned,
    TechnicianNotEligible,
    TechnicianNotFound,
    VisitClash,
    WorkOrderClosed,
    WorkOrderNotFound,
    WorkOrderView,
)
from desk_desktop.services.assignment.visits import clash_text, clash_violation, visits_of
from desk_desktop.services.common import Actor, ValidationFailed

CLOSED_STATUSES = (WorkOrderStatus.COMPLETED.value, WorkOrderStatus.CANCELLED.value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _load_order(uow: UnitOfWork, actor: Actor, work_order_id: int, *, doing: str | None = None) -> WorkOrder:
    """The order, locked for the change ``doing`` (refused when the order is closed)."""
    stmt = select(WorkOrder).where(WorkOrder.id == work_order_id, WorkOrder.organization_id == actor.organization_id)
    wo = uow.session.scalar(stmt.with_for_update() if doing else stmt)
    if wo is None:
        raise WorkOrderNotFound(f"Work order {work_order_number(work_order_id)} does not exist.")
    if doing and wo.status in CLOSED_STATUSES:
        raise WorkOrderClosed(f"{work_order_number(wo.id)} is {wo.status}; it cannot be {doing}.")
    return wo


def list_candidates(*, uow: UnitOfWork, actor: Actor, work_order_id: int, strategy: str | None = None,
                    limit: int = 10, now: datetime | None = None,
                    radius_km: float = DEFAULT_RADIUS_KM) -> CandidateList:
    """Ranked technicians for an order under any strategy: eligible ones first (rank 1 would
    win), then nearby ones that are not eligible, with the reason."""
    with uow:
        prepare_transaction(uow)
        wo = _load_order(uow, actor, work_order_id)
        location = order_location(uow, organization_id=actor.organization_id, ticket_id=wo.source_ticket_id)
        batch = Batch(actor=actor, now=now or _utcnow(), tz_name=organization_timezone(uow, actor.organization_id))
        d = decision.decide(uow, batch, wo, strategy=strategy, radius_km=radius_km, location=location,
                            eligible_only=False)
        if any(r.eligible for r in d.ranked):
            text = why_winner(d.strategy, d.ranked, d.required, pointer_name=d.pointer_name)
        else:
            text = no_eligible_reason(d.ranked, radius_km=radius_km, located=location is not None,
                                      required_skills=d.required)
        if d.fallback:
            text = d.fallback + " " + text
        uow.commit()
        return CandidateList(work_order_id=wo.id, strategy=d.strategy, explanation=text,
                             candidates=tuple(to_candidate(r, d.required) for r in d.ranked[:limit]))


def assign_work_order(*, uow: UnitOfWork, actor: Actor, work_order_id: int, technician_id: int,
                      strategy: str | None = None, schedule: bool = True, now: datetime | None = None,
                      force: bool = False, radius_km: float = DEFAULT_RADIUS_KM,
                      speed_kmh: float = DEFAULT_SPEED_KMH, start: datetime | None = None) -> WorkOrderView:
    """A dispatcher assigns a technician by hand. The explanation records where the chosen
    technician ranked under the strategy. A technician who is not eligible (inactive,
    missing a skill, at capacity, out of range) is refused unless ``force`` is set.
    ``start``: the visit gets this time too, in the same transaction (a drop on the schedule
    board); a time the technician has taken is refused, naming the other visit."""
    if start is not None and start.tzinfo is None:
        raise ValidationFailed("The start time needs a time zone.", "start")
    org = actor.organization_id
    with uow:
        lock_organization(uow, org)
        prepare_transaction(uow)
        wo = _load_order(uow, actor, work_order_id, doing="assigned")
        tech_name = sql.scalar(uow, "SELECT name FROM technicians WHERE id = :id AND organization_id = :org",
                               {"id": technician_id, "org": org})
        if tech_name is None:
            raise TechnicianNotFound(f"Technician {technician_id} does not exist in this organization.")
        location = order_location(uow, organization_id=org, ticket_id=wo.source_ticket_id)
        batch = Batch(actor=actor, now=now or _utcnow(), tz_name=organization_timezone(uow, org),
                      speed_kmh=speed_kmh, places={wo.id: location})
        d = decision.decide(uow, batch, wo, strategy=strategy, radius_km=radius_km, location=location,
                            eligible_only=False)

        # Where the chosen technician stands: ranked among the candidates, or judged on their own.
        chosen = next((r for r in d.ranked if r.facts.technician_id == technician_id), None)
        if chosen is None or wo.technician_id == technician_id:
            facts = chosen.facts if chosen else technician_facts(
                uow, organization_id=org, technician_id=technician_id, location=location, now=batch.now,
                radius_km=radius_km)
            if wo.technician_id == technician_id:  # already theirs: it does not count against their limit
                facts = replace(facts, open_jobs=max(0, facts.open_jobs - 1))
            ok, reason = eligibility(facts, d.required)
            chosen = Ranked(facts, ok, reason, chosen.rank if chosen else None, chosen.skill_score if chosen else None)
        off_shift, absent = chosen.facts.off_shift, chosen.facts.absent
        not_now = None
        if off_shift or absent:  # no automatic choice, but a dispatcher's may be (told in the explanation)
            not_now = eligibility(chosen.facts, ())[1]
            ok, reason = eligibility(replace(chosen.facts, off_shift=False, absent=False), d.required)
            chosen = replace(chosen, eligible=ok, reason=reason)
        if not chosen.eligible and not force:
            raise TechnicianNotEligible(f"{tech_name} cannot take {work_order_number(wo.id)}: {chosen.reason}.")

        best = next((r for r in d.ranked if r.eligible), None)
        if chosen.rank:
            rank_text = f"ranked #{chosen.rank} under {d.strategy}"
        elif not_now and chosen.eligible:
            rank_text = f"{not_now}, so not ranked under {d.strategy}; assigned anyway"
        else:
            rank_text = f"not eligible under {d.strategy} ({chosen.reason}); assigned anyway"
        why = f"Chosen by {actor.name}: {tech_name}, {rank_text}."
        if best is not None and best.facts.technician_id != technician_id:
            why += f" The strategy's first choice was {best.facts.name}."
        record = d.explanation(radius_km=radius_km, now=batch.now, winner=chosen, why=why,
                               extra={"manual": True, "by": actor.name, "off_shift": off_shift, "absent": absent,
                                      "forced": bool(force and not chosen.eligible)})
        # The time and the technician change together: nothing is flushed in between, so the
        # order is never stored at its new time for its former technician.
        with uow.session.no_autoflush:
            if start is not None:
                wo.scheduled_start = start.astimezone(UTC)
                wo.scheduled_end = wo.scheduled_start + timedelta(minutes=wo.duration_minutes)
            decision.assign(uow, batch, wo, technician_id, record, schedule=schedule and start is None, manual=True)
        with sql.translated(clash_violation(tech_name, wo.scheduled_start, wo.scheduled_end, batch.tz_name)):
            batch.write(uow)
        view = view_of(uow, actor, wo.id)
        uow.commit()
        return view


def unassign_work_order(*, uow: UnitOfWork, actor: Actor, work_order_id: int, reason: str = "",
                        reassign: bool = False) -> WorkOrderView:
    """Take the order away from its technician (they are told). It stays unassigned until a
    dispatcher assigns it, or — with ``reassign`` — the assign job picks it up again."""
    with uow:
        lock_organization(uow, actor.organization_id)
        wo = _load_order(uow, actor, work_order_id, doing="unassigned")
        if wo.technician_id is None:
            raise NotAssigned(f"{work_order_number(wo.id)} is not assigned to anyone.")
        batch = Batch(actor=actor, now=_utcnow())
        decision.take_back(uow, batch, wo, reason=(reason or "").strip(), reassign=reassign)
        batch.write(uow)
        view = view_of(uow, actor, wo.id)
        uow.commit()
        return view


def reschedule_work_order(*, uow: UnitOfWork, actor: Actor, work_order_id: int, start: datetime,
                          duration_minutes: int | None = None, book_anyway: bool = False) -> WorkOrderView:
    """Move the visit to ``start`` (kept as given — the dispatcher's decision); the end
    follows from the duration. The customer and the technician are told. A time at which
    the technician already has another visit is refused, naming it (``VisitClash``) — unless
    ``book_anyway``: then the visit is stored over the other one, marked (outside the
    no-overlap constraint) and the audit row names what it overlaps. A time inside one of
    the technician's absences is always refused, ``book_anyway`` or not: they are not
    there (change the absence first if they will be)."""
    if start is None:
        raise ValidationFailed("Give a start time.", "start")
    if start.tzinfo is None:
        raise ValidationFailed("The start time needs a time zone.", "start")
    if duration_minutes is not None and not 15 <= int(duration_minutes) <= 1440:
        raise ValidationFailed("The duration must be between 15 minutes and 24 hours.", "duration_minutes")
    with uow:
        lock_organization(uow, actor.organization_id)  # the assign job books under the same lock
        wo = _load_order(uow, actor, work_order_id, doing="rescheduled")
        batch = Batch(actor=actor, now=_utcnow(), tz_name=organization_timezone(uow, actor.organization_id))
        if duration_minutes is not None:
            wo.duration_minutes = int(duration_minutes)
        before = wo.scheduled_start
        wo.scheduled_start = start.astimezone(UTC)
        wo.scheduled_end = wo.scheduled_start + timedelta(minutes=wo.duration_minutes)
        tech_name, taken = None, []
        if wo.technician_id is not None:
            tech_name = sql.scalar(uow, "SELECT name FROM technicians WHERE id = :id", {"id": wo.technician_id})
            taken = visits_of(uow, wo.technician_id, start=wo.scheduled_start, end=wo.scheduled_end, excluding=wo.id)
            away = next((v for v in taken if v.absence), None)
            if away is not None:
                raise VisitClash(clash_text(tech_name, away, batch.tz_name)
                                 + "; choose another time, another technician, or change the absence first.")
            if taken and not book_anyway:
                raise VisitClash(clash_text(tech_name, taken[0], batch.tz_name) + "; choose another time.")
        overlaps = [v.label for v in taken]
        wo.booked_anyway = bool(overlaps)
        if wo.technician_id is not None and wo.status == WorkOrderStatus.ASSIGNED:
            wo.status = WorkOrderStatus.SCHEDULED.value
        wo.updated_at = batch.now
        if wo.notify_customer or wo.notify_technician:
            batch.notify(wo.id, "work_order.rescheduled" if before is not None else "work_order.scheduled")
        number = work_order_number(wo.id)
        batch.audit(action="work_order.rescheduled", entity_id=wo.id,
                    summary=(f"{number} moved from {before:%Y-%m-%d %H:%M} to {wo.scheduled_start:%Y-%m-%d %H:%M} UTC"
                             if before else f"{number} scheduled for {wo.scheduled_start:%Y-%m-%d %H:%M} UTC")
                    + (f", booked anyway over {', '.join(overlaps)} by {actor.name}" if overlaps else ""),
                    details={"from": before.isoformat() if before else None, "to": wo.scheduled_start.isoformat(),
                             "duration_minutes": wo.duration_minutes, "booked_anyway_over": overlaps})
        uow.record_change("work_order", wo.id, wo.organization_id, "rescheduled")
        with sql.translated(clash_violation(tech_name, wo.scheduled_start, wo.scheduled_end, batch.tz_name)):
            batch.write(uow)
        view = view_of(uow, actor, wo.id)
        uow.commit()
        return view
