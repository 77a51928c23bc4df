"""Optimize a day: read it, solve it in a child process, show the difference; apply a
proposal in one transaction through the assignment write path, refused when another
workstation changed what the plan relies on.

``optimize_day`` reads the day in a short transaction (nothing stays locked while the solver
works). ``apply_proposal`` takes the organization's assignment lock, reads the day again and
compares (``changed_since``): anything the plan relies on that changed is named and nothing
is written (``PlanOutdated``: optimize again). Otherwise each change is written as a manual
assignment is — the order, its audit row ("optimized plan: saves N km"), the technician's
and the customer's notifications with the calendar update — and the no-overlap constraint
is checked at the commit, on the final day (visits swap places within one transaction).
An applied plan comes back with its undo (``proposal.undo_of``): a proposal that puts each
order it changed back, made from the day as just written — applied like any other, so it is
refused when another workstation changed the day since.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from desk_desktop.db import sql
from desk_desktop.db.models import WorkOrder
from desk_desktop.db.models.workorders import NO_OVERLAP
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.slots import Visit
from desk_desktop.services.assignment import decision
from desk_desktop.services.assignment.batch import Batch
from desk_desktop.services.assignment.job import lock_organization
from desk_desktop.services.audit import audit
from desk_desktop.services.common import Actor, DeskError, ValidationFailed
from desk_desktop.services.dayplan.problem import changed_since, read_day
from desk_desktop.services.dayplan.proposal import NO_TIME, DayProposal, day_text, propose, undo_of
from desk_desktop.services.dayplan.solver import solve_apart

MAX_SECONDS = 600.0


class PlanOutdated(DeskError):
    """Something the proposal relies on changed since it was made."""


@dataclass(frozen=True)
class AppliedPlan:
    day: date
    changed: int
    saves_km: float
    undo: DayProposal | None = None  # applying it puts the day back (None: this was an undo)


def optimize_day(*, uow: UnitOfWork, actor: Actor, day: date, seconds: float = 10.0, speed_kmh: float = 40.0,
                 road_factor: float = 1.3, technician_ids: Sequence[int] | None = None, now: datetime | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> DayProposal:
    """The best plan for ``day`` the solver finds within ``seconds``, as a proposal (nothing
    is written). ``cancelled`` stops the solve (``PlanCancelled``)."""
    if not 1 <= seconds <= MAX_SECONDS:
        raise ValidationFailed(f"The time to optimize must be between 1 and {MAX_SECONDS:.0f} seconds.", "seconds")
    now = now or datetime.now(UTC)
    with uow:
        found = read_day(uow, actor, day=day, now=now, speed_kmh=speed_kmh, road_factor=road_factor,
                         technician_ids=technician_ids)
        uow.commit()
    if found.start + timedelta(days=1) <= now:
        raise ValidationFailed(f"{day_text(day)} {day.year} is over; choose today or a later day.", "day")
    began = time.monotonic()
    plan = solve_apart(found.problem, seconds=seconds, cancelled=cancelled)
    return propose(found, plan, solve_seconds=time.monotonic() - began)


def apply_proposal(*, uow: UnitOfWork, actor: Actor, proposal: DayProposal, now: datetime | None = None,
                   note: str = "") -> AppliedPlan:
    """Write the proposal, all of it or nothing; refused (``PlanOutdated``) when another
    workstation changed what it relies on."""
    now = now or datetime.now(UTC)
    day = proposal.day
    with uow:
        lock_organization(uow, actor.organization_id)
        again = read_day(uow, actor, day=day.day, now=now, speed_kmh=day.speed_kmh, road_factor=day.road_factor,
                         technician_ids=day.technician_ids)
        changed = changed_since(day, again)
        if changed:
            raise PlanOutdated("Since this plan was made, " + "; ".join(changed[:4])
                               + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
                               + ". Nothing was changed; optimize again.")
        # Visits trade places: the constraint is checked on the final day, at the commit.
        sql.execute(uow, f"SET CONSTRAINTS {NO_OVERLAP} DEFERRED")
        batch = Batch(actor=actor, now=now, tz_name=day.timezone)
        for technician_id, visits in proposal.visits_after().items():  # the day as the plan leaves it
            batch.visits[technician_id] = [Visit(s, e, day.order(o).number) for o, s, e in visits]
        why = proposal.reason(note)
        ids = [c.order.id for c in proposal.changes]
        orders = {wo.id: wo for wo in uow.session.scalars(
            select(WorkOrder).where(WorkOrder.id.in_(ids), WorkOrder.organization_id == actor.organization_id)
            .with_for_update())}
        with uow.session.no_autoflush:
            for c in proposal.changes:
                wo = orders[c.order.id]
                if c.technician_id is None:
                    if proposal.undoes:  # back to waiting as it was, with the time it asked for (if any)
                        wo.scheduled_start, wo.scheduled_end = c.start, c.end
                    decision.take_back(uow, batch, wo, reassign=False, reason=why if proposal.undoes else
                                       f"Optimized plan for {day_text(day.day)}: {NO_TIME}")
                    continue
                wo.scheduled_start, wo.scheduled_end = c.start, c.end  # no time: assigned without a visit (an undo)
                record = {"strategy": "optimized", "why": why, "by": actor.name, "candidates": [], "at": now.isoformat()}
                if c.start is not None:
                    record["schedule"] = {"start": c.start.isoformat(), "timezone": day.timezone, "note": ""}
                decision.assign(uow, batch, wo, c.technician_id, record, schedule=False, manual=False)
        batch.write(uow)
        audit(uow, actor=actor, action="day_plan.undone" if proposal.undoes else "day_plan.applied",
              entity="organization", entity_id=actor.organization_id,
              summary=f"{why[:-1]}: {len(proposal.changes)} orders changed",
              details={"day": day.day.isoformat(), "changes": len(proposal.changes), "km_before": proposal.km_before,
                       "km_after": proposal.km_after, "note": note})
        undo = None
        if not proposal.undoes:  # the day as written, still under the lock: what an undo must find unchanged
            uow.session.flush()
            undo = undo_of(proposal, read_day(uow, actor, day=day.day, now=now, speed_kmh=day.speed_kmh,
                                              road_factor=day.road_factor, technician_ids=day.technician_ids))
        uow.commit()
    return AppliedPlan(day.day, len(proposal.changes), proposal.saves_km, undo)
