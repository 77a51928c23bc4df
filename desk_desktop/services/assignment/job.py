"""The assign job: assign (and schedule) the due orders that want automatic assignment.

Per organization one transaction takes a transaction-level advisory lock (so concurrent
assigners — several workstations, a server scheduler — see each other's load and the
round-robin pointer) and claims due orders with ``FOR UPDATE SKIP LOCKED``, in queue
order. The claimed orders are decided one after the other against one ``Batch`` (their
candidates fetched together at the start) and written together at the end.

If anything fails, the transaction is rolled back and the orders are done again one at a
time, each written right after its decision, which names the order at fault: that one is
put aside with the error as its reason and a backoff, and the next run does the others.
An order nobody can take stays unassigned with the reason and is tried again after a
backoff (1, 2, 4 … 60 minutes).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from desk_desktop.db import sql
from desk_desktop.db.models import WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork, UnitOfWorkFactory
from desk_desktop.domain.absences import period_text
from desk_desktop.domain.enums import AssignmentLogic
from desk_desktop.domain.scoring import Ranked, no_eligible_reason, rank_candidates, why_winner
from desk_desktop.services.assignment import decision
from desk_desktop.services.assignment.batch import Batch
from desk_desktop.services.assignment.candidates import (
    DEFAULT_RADIUS_KM,
    DEFAULT_SPEED_KMH,
    ORDER_LAT_LON,
    prepare_transaction,
)
from desk_desktop.services.assignment.types import AssignBatchResult
from desk_desktop.services.assignment.visits import is_clash
from desk_desktop.services.common import Actor, audit

log = logging.getLogger(__name__)

LOCK_NAMESPACE = "desk.assign"
RACE_RETRIES = 5  # a batch whose slot was taken meanwhile is done again, with the next free slots

_DUE_ORGANIZATIONS = """SELECT o.id FROM organizations o
 WHERE EXISTS (SELECT 1 FROM work_orders w WHERE w.organization_id = o.id AND w.needs_assignment
                  AND (w.next_assign_at IS NULL OR w.next_assign_at <= :now))
 ORDER BY o.id"""

_CLAIM = f"""SELECT w.id, {ORDER_LAT_LON}
  FROM work_orders w
  LEFT JOIN tickets t ON t.id = w.source_ticket_id AND t.organization_id = w.organization_id
  LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = w.organization_id
 WHERE w.organization_id = :org AND w.needs_assignment
   AND (w.next_assign_at IS NULL OR w.next_assign_at <= :now)
   AND w.status NOT IN ('completed', 'cancelled')
 ORDER BY w.next_assign_at NULLS FIRST, w.id
 LIMIT :limit FOR UPDATE OF w SKIP LOCKED"""


def lock_organization(uow: UnitOfWork, organization_id: int) -> None:
    """Serialize the assignment decisions of one organization until the transaction ends."""
    sql.execute(uow, "SELECT pg_advisory_xact_lock(hashtext(:ns), CAST(:org AS integer))",
                {"ns": LOCK_NAMESPACE, "org": organization_id})


def organization_timezone(uow: UnitOfWork, organization_id: int) -> str:
    return sql.scalar(uow, "SELECT timezone FROM organizations WHERE id = :id", {"id": organization_id}) or "UTC"


def assign_pending(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None, limit: int = 200,
                   radius_km: float = DEFAULT_RADIUS_KM, speed_kmh: float = DEFAULT_SPEED_KMH) -> AssignBatchResult:
    """Assign (and schedule) up to ``limit`` due orders. Safe to run in many processes at once.
    ``speed_kmh``: the travel speed of the drives left around each visit."""
    now = now or datetime.now(UTC)
    with uow_factory() as uow:
        orgs = sql.scalars(uow, _DUE_ORGANIZATIONS, {"now": now})
    assigned = unassigned = errors = 0
    ids: list[int] = []
    for org_id in orgs:
        remaining = limit - assigned - unassigned - errors
        if remaining <= 0:
            break
        a, u, e, done = _assign_organization(uow_factory, org_id, now=now, limit=remaining, radius_km=radius_km,
                                             speed_kmh=speed_kmh)
        assigned, unassigned, errors = assigned + a, unassigned + u, errors + e
        ids.extend(done)
    return AssignBatchResult(assigned=assigned, unassigned=unassigned, errors=errors, work_order_ids=tuple(ids))


def assign_automatically(uow: UnitOfWork, batch: Batch, wo: WorkOrder, *, radius_km: float,
                         location: tuple[float, float] | None) -> bool:
    """Decide one order under its own strategy and apply the outcome; True if assigned."""
    d = decision.decide(uow, batch, wo, strategy=None, radius_km=radius_km, location=location)
    eligible = [r for r in d.ranked if r.eligible]
    # The first of them with a free slot inside the customer's booked window (all, without one).
    winner = next((r for r in eligible if decision.fits_booked_window(uow, batch, wo, r.facts.technician_id)), None)
    if eligible and winner is None:
        decision.leave_unassigned(uow, batch, wo, d, radius_km=radius_km, reason=_no_slot_in_window(batch, wo, eligible))
        return False
    if winner is None:
        # For the reason, look at everybody nearby (not only the eligible ones).
        everyone = batch.fetch(uow, organization_id=wo.organization_id, location=location,
                                    required_skills=d.required, strategy=d.strategy, now=batch.now,
                                    radius_km=radius_km, eligible_only=False, k=200)
        d.ranked = rank_candidates(d.strategy, decision.mark_unavailable_now(uow, batch, wo, everyone), d.required,
                                   last_technician_id=d.pointer_id)
        reason = no_eligible_reason(d.ranked, radius_km=radius_km, located=location is not None,
                                    required_skills=d.required)
        decision.leave_unassigned(uow, batch, wo, d, radius_km=radius_km, reason=reason)
        return False
    why = why_winner(d.strategy, d.ranked, d.required, pointer_name=d.pointer_name)
    if winner is not eligible[0]:
        passed = [r.facts.name for r in eligible[:eligible.index(winner)]]
        why = (f"{winner.facts.name}: the first with a free slot inside the customer's booked window "
               f"({_names(passed)} had none). " + why)
    record = d.explanation(radius_km=radius_km, now=batch.now, winner=winner, why=why)
    if d.strategy == AssignmentLogic.ROUND_ROBIN:
        batch.move_pointer(wo.rule_id, winner.facts.technician_id, winner.facts.name)
    decision.assign(uow, batch, wo, winner.facts.technician_id, record, schedule=True, manual=False)
    return True


def _no_slot_in_window(batch: Batch, wo: WorkOrder, eligible: list[Ranked]) -> str:
    """Why an order with a booked window waits although technicians could take it."""
    booked = period_text(wo.window_start, wo.window_end, batch.tz_name)
    if wo.window_end <= batch.now:
        return f"The customer's booked window ({booked}) has passed: agree a new one or schedule the visit by hand."
    return (f"No eligible technician has a free slot inside the customer's booked window ({booked}). "
            f"Eligible but busy or off then: {_names([r.facts.name for r in eligible])}.")


def _names(names: list[str]) -> str:
    """'Ann', 'Ann and Bob', 'Ann, Bob and 3 others'."""
    if len(names) > 3:
        return f"{names[0]}, {names[1]} and {len(names) - 2} others"
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def _assign_organization(uow_factory: UnitOfWorkFactory, org_id: int, *, now: datetime, limit: int,
                         radius_km: float, speed_kmh: float, one_by_one: bool = False,
                         races: int = 0) -> tuple[int, int, int, list[int]]:
    """One transaction: claim, decide, write, commit — ``one_by_one``: each order written
    right after its decision, without fetching candidates ahead. Returns (assigned, left
    unassigned, failed, ids done).

    A visit booked by someone who does not take the organization's lock (another
    workstation's write that committed after this batch read the technician's visits) makes
    the no-overlap constraint refuse the write: the batch is done again (``races``), reading
    the visits afresh, so the order takes the next free slot — no error, no order lost."""
    actor = Actor.system(org_id, name="assign job")
    assigned = unassigned = 0
    done: list[int] = []
    current: int | None = None
    uow = uow_factory()
    with uow:
        try:
            lock_organization(uow, org_id)
            prepare_transaction(uow)
            batch = Batch(actor=actor, now=now, tz_name=organization_timezone(uow, org_id), speed_kmh=speed_kmh)
            claimed = sql.rows(uow, _CLAIM, {"org": org_id, "now": now, "limit": limit})
            orders = _load(uow, [c.id for c in claimed])
            locations = {c.id: (float(c.lat), float(c.lon)) if c.lat is not None else None for c in claimed}
            batch.places.update(locations)
            batch.rotation(uow, sorted({wo.rule_id for wo in orders.values() if wo.rule_id is not None
                                        and wo.assignment_logic == AssignmentLogic.ROUND_ROBIN}))
            if not one_by_one:
                batch.prefetch(uow, [(c.id, orders[c.id].assignment_logic or AssignmentLogic.NEAREST.value,
                                      list(orders[c.id].required_skills or ()), locations[c.id]) for c in claimed],
                               radius_km=radius_km)
            with uow.session.no_autoflush:  # the batch writes when it chooses to
                for c in claimed:
                    current = c.id
                    if assign_automatically(uow, batch, orders[c.id], radius_km=radius_km, location=locations[c.id]):
                        assigned += 1
                    else:
                        unassigned += 1
                    done.append(c.id)
                    if one_by_one:
                        batch.write(uow)
                current = None
                batch.write(uow)
        except Exception as exc:  # noqa: BLE001 — the transaction is rolled back; see below
            failed: tuple[int | None, Exception] | None = (current, exc)
        else:
            failed = None
            uow.commit()
    if failed is None:
        return assigned, unassigned, 0, done
    wo_id, exc = failed
    if is_clash(exc) and races < RACE_RETRIES:
        log.info("a slot was booked meanwhile (%s); assigning the batch again", exc)
        return _assign_organization(uow_factory, org_id, now=now, limit=limit, radius_km=radius_km,
                                    speed_kmh=speed_kmh, one_by_one=one_by_one, races=races + 1)
    if not one_by_one:
        log.warning("assignment batch failed (%r); redoing it order by order", exc)
        return _assign_organization(uow_factory, org_id, now=now, limit=limit, radius_km=radius_km,
                                    speed_kmh=speed_kmh, one_by_one=True)
    # One bad order must not block the others: the transaction is rolled back, the bad order
    # is put aside with its reason and a backoff, and the next run does the rest again.
    log.error("assigning %s failed: %r", work_order_number(wo_id) if wo_id else "a batch", exc, exc_info=exc)
    if wo_id is not None:
        _put_aside(uow_factory, org_id, wo_id, exc, now)
    return 0, 0, 1, []


def _load(uow: UnitOfWork, ids: list[int]) -> dict[int, WorkOrder]:
    return {wo.id: wo for wo in uow.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))}


def _put_aside(uow_factory: UnitOfWorkFactory, org_id: int, wo_id: int, exc: Exception, now: datetime) -> None:
    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, wo_id, with_for_update=True)
        if wo is not None and wo.organization_id == org_id:
            wo.assign_attempts = (wo.assign_attempts or 0) + 1
            wo.next_assign_at = now + decision.backoff(wo.assign_attempts)
            wo.unassigned_reason = f"Automatic assignment failed: {exc}"[:1000]
            uow.session.flush()
            audit(uow, actor=Actor.system(org_id, name="assign job"), action="work_order.assignment_failed",
                  entity="work_order", entity_id=wo_id, organization_id=org_id,
                  summary=f"{work_order_number(wo_id)}: automatic assignment failed ({exc}); retrying later.")
            uow.record_change("work_order", wo_id, org_id, "updated")
        uow.commit()
