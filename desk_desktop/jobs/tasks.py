"""The job functions: each drains one kind of durable work by calling services only.

The work items are rows claimed with ``FOR UPDATE SKIP LOCKED`` inside the services, so
any number of processes can run these at once. A job that cannot do its work (no virus
scanner, a scanner that does not answer) raises ``JobUnavailable`` or ``JobFailedPartly``
— it never reports success for work it did not do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from desk_desktop.config import Settings
from desk_desktop.db.session import UnitOfWorkFactory
from desk_desktop.services import assignment, attachments, notifications
from desk_desktop.services.channels import ChannelRegistry

log = logging.getLogger(__name__)

# Bounds so one run never spins forever (the next tick continues).
MAX_BATCHES = 50


class JobUnavailable(RuntimeError):
    """The service a job needs is missing from this installation."""


@dataclass(frozen=True)
class TaskResult:
    summary: str
    counts: dict[str, int]
    did_work: bool


def run_assign(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None, limit: int = 200,
               speed_kmh: float = assignment.DEFAULT_SPEED_KMH,
               should_stop: Callable[[], bool] = lambda: False) -> TaskResult:
    totals = {"assigned": 0, "unassigned": 0, "errors": 0}
    for _ in range(MAX_BATCHES):
        result = assignment.assign_pending(uow_factory=uow_factory, now=now, limit=limit, speed_kmh=speed_kmh)
        totals["assigned"] += result.assigned
        totals["unassigned"] += result.unassigned
        totals["errors"] += result.errors
        if result.assigned + result.unassigned + result.errors < limit or should_stop():
            break
    summary = f"{totals['assigned']} assigned, {totals['unassigned']} left unassigned"
    if totals["errors"]:
        # Per-order failures are recorded on the orders by the service; surface them too.
        raise JobFailedPartly(summary + f", {totals['errors']} failed (the reasons are on the orders)", totals)
    return TaskResult(summary, totals, did_work=totals["assigned"] + totals["unassigned"] > 0)


class JobFailedPartly(RuntimeError):
    def __init__(self, message: str, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.counts = counts


def run_notify(*, uow_factory: UnitOfWorkFactory, channel_registry: ChannelRegistry, now: datetime | None = None,
               limit: int = 50, worker_id: str | None = None,
               lease_seconds: float = notifications.DEFAULT_LEASE_SECONDS,
               should_stop: Callable[[], bool] = lambda: False) -> TaskResult:
    total = notifications.SendReport()
    for _ in range(MAX_BATCHES):
        report = notifications.send_due(uow_factory=uow_factory, channel_registry=channel_registry, now=now,
                                        limit=limit, worker_id=worker_id, lease_seconds=lease_seconds)
        total += report
        if report.claimed < limit or should_stop():
            break
    counts = {"sent": total.sent, "failed": total.failed, "dead": total.dead, "lost_lease": total.lost_lease}
    summary = f"{total.sent} sent, {total.failed} to retry, {total.dead} dead"
    if "email" not in channel_registry.names:
        with uow_factory() as uow:
            waiting = uow.session.execute(
                text("SELECT count(*) FROM notifications WHERE status = 'pending' AND channel = 'email'")
            ).scalar_one()
        if waiting:
            counts["email_waiting"] = waiting
            summary += f"; email is not configured here (DESK_SMTP_URL): {waiting} email(s) wait for a sender"
    return TaskResult(summary, counts, did_work=total.claimed > 0)


def run_rescan(*, uow_factory: UnitOfWorkFactory, scanner: Any, limit: int = 20,
               should_stop: Callable[[], bool] = lambda: False) -> TaskResult:
    if scanner is None:
        raise JobUnavailable("Attachment scanning is not available: no virus scanner is configured")
    total = 0
    for _ in range(MAX_BATCHES):
        n = attachments.rescan_pending(uow_factory=uow_factory, scanner=scanner, limit=limit)
        total += n
        if n < limit or should_stop():
            break
    if total == 0:
        # rescan_pending scans nothing while the scanner is down: say so if files are waiting.
        with uow_factory() as uow:
            waiting = uow.session.execute(
                text("SELECT count(*) FROM blobs WHERE scan_status = 'pending' AND sha256 NOT LIKE '~%'")
            ).scalar_one()
        ping = getattr(scanner, "ping", None)
        if waiting and ping is not None and not ping():
            where = getattr(scanner, "address", None) or "the configured clamd"
            raise JobFailedPartly(f"{waiting} file(s) wait for a virus scan, but the scanner ({where}) "
                                  "is not reachable", {"scanned": 0, "waiting": waiting})
    return TaskResult(f"{total} file(s) scanned", {"scanned": total}, did_work=total > 0)


def run_plan(*, uow_factory: UnitOfWorkFactory, settings: Settings, now: datetime | None = None) -> TaskResult:
    """The evening's plan of the next day, for the organizations that asked for it."""
    from desk_desktop.services.dayplan.nightly import plan_next_days

    r = plan_next_days(uow_factory=uow_factory, now=now or datetime.now(UTC), seconds=settings.optimize_seconds,
                       speed_kmh=settings.travel_speed_kmh, road_factor=settings.road_factor)
    counts = {"planned": r.planned, "changed": r.changed, "skipped": r.skipped}
    summary = f"{r.planned} next day(s) planned, {r.changed} order(s) changed"
    if r.skipped:
        summary += f", {r.skipped} plan(s) refused because the day changed meanwhile (tried again next run)"
    return TaskResult(summary, counts, did_work=bool(r.planned or r.skipped))


SENT_RETENTION_DAYS = 180


def run_housekeeping(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None,
                     retention_days: int = SENT_RETENTION_DAYS) -> TaskResult:
    """Dead-letter notifications whose sender kept dying; drop delivered outbox rows past retention;
    remove stored files that no attachment refers to any more."""
    expired = notifications.expire_abandoned(uow_factory=uow_factory, now=now)
    uow = uow_factory()
    with uow:
        trimmed = uow.session.execute(
            text("DELETE FROM notifications WHERE status IN ('sent','skipped') "
                 "AND created_at < coalesce(CAST(:now AS timestamptz), now()) - make_interval(days => :days)"),
            {"now": now, "days": retention_days},
        ).rowcount
        uow.commit()
    from desk_desktop.services.attachments import purge_unreferenced_blobs

    purged = purge_unreferenced_blobs(uow_factory=uow_factory)
    counts = {"expired": expired, "trimmed": trimmed or 0, "purged_blobs": purged}
    return TaskResult(f"{expired} abandoned notification(s) dead-lettered, {counts['trimmed']} old row(s) trimmed, "
                      f"{purged} unreferenced file(s) removed",
                      counts, did_work=bool(expired or trimmed or purged))
