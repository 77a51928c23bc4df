"""The evening run: every organization that asked for it (``organizations.nightly_optimize``)
gets its next day optimized and applied once, after ``NIGHTLY_HOUR`` in its own time zone.

Each applied plan leaves an audit row ``day_plan.applied`` naming the day; an organization
whose next day already has one from the evening run is left alone. Two schedulers that run
at once both solve, but only one applies: the other's plan is refused as outdated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWorkFactory
from desk_desktop.services.common import Actor
from desk_desktop.services.dayplan.service import PlanOutdated, apply_proposal, optimize_day

log = logging.getLogger(__name__)

NIGHTLY_HOUR = 20  # local time from which the next day is planned
NIGHTLY_NOTE = "the evening run"

_ASKING = "SELECT id, timezone FROM organizations WHERE nightly_optimize ORDER BY id"
_DONE = """SELECT EXISTS (SELECT 1 FROM audit_log WHERE organization_id = :org AND action = 'day_plan.applied'
                            AND details ->> 'day' = :day AND details ->> 'note' = :note)"""


@dataclass(frozen=True)
class NightlyResult:
    planned: int  # organizations whose next day was optimized and applied
    changed: int  # orders changed, all of them together
    skipped: int  # plans refused because the day changed meanwhile (the next run tries again)


def plan_next_days(*, uow_factory: UnitOfWorkFactory, now: datetime, seconds: float, speed_kmh: float,
                   road_factor: float) -> NightlyResult:
    """Optimize and apply the next day of every organization whose evening it is."""
    with uow_factory() as uow:
        asking = sql.rows(uow, _ASKING)
    planned = changed = skipped = 0
    for org in asking:
        local = now.astimezone(ZoneInfo(org.timezone or "UTC"))
        if local.hour < NIGHTLY_HOUR:
            continue
        day = local.date() + timedelta(days=1)
        with uow_factory() as uow:
            done = sql.scalar(uow, _DONE, {"org": org.id, "day": day.isoformat(), "note": NIGHTLY_NOTE})
        if done:
            continue
        actor = Actor.system(org.id, "evening plan")
        proposal = optimize_day(uow=uow_factory(), actor=actor, day=day, seconds=seconds, speed_kmh=speed_kmh,
                                road_factor=road_factor, now=now)
        try:
            applied = apply_proposal(uow=uow_factory(), actor=actor, proposal=proposal, now=now, note=NIGHTLY_NOTE)
        except PlanOutdated as exc:
            log.info("evening plan of organization %s for %s not applied: %s", org.id, day, exc)
            skipped += 1
            continue
        planned += 1
        changed += applied.changed
    return NightlyResult(planned, changed, skipped)
