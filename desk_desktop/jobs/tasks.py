"""The job functions: each drains one kind of durable work by calling services only.

The work items are rows claimed with ``FOR UPDATE SKIP LOCKED`` inside the services, so
any number of processes can run these at once. A job whose service is not installed
raises ``JobUnavailable`` — it never reports success for work it did not do.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from desk_desktop.db.session import UnitOfWorkFactory
from desk_desktop.services import notifications
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


def _service(module: str, function: str, what: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise JobUnavailable(f"{what} is not available: {module} cannot be imported ({exc})") from exc
    fn = getattr(mod, function, None)
    if fn is None:
        raise JobUnavailable(f"{what} is not available: {module}.{function} is missing")
    return fn


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return len(value)
    except TypeError:
        return int(value)


def run_assign(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None, limit: int = 200,
               should_stop: Callable[[], bool] = lambda: False) -> TaskResult:
    assign_pending = _service("desk_desktop.services.assignment", "assign_pending", "Automatic assignment")
    totals = {"assigned": 0, "unassigned": 0, "errors": 0}
    error_texts: list[str] = []
    for _ in range(MAX_BATCHES):
        result = assign_pending(uow_factory=uow_factory, now=now, limit=limit)
        assigned = _count(getattr(result, "assigned", 0))
        unassigned = _count(getattr(result, "unassigned", 0))
        errors = getattr(result, "errors", 0)
        n_errors = _count(errors)
        if n_errors and not isinstance(errors, int):
            error_texts.extend(str(e) for e in errors)
        totals["assigned"] += assigned
        totals["unassigned"] += unassigned
        totals["errors"] += n_errors
        if assigned + unassigned + n_errors < limit or should_stop():
            break
    summary = f"{totals['assigned']} assigned, {totals['unassigned']} left unassigned"
    if totals["errors"]:
        # Per-order failures are recorded on the orders by the service; surface them too.
        detail = (": " + "; ".join(error_texts[:3])) if error_texts else " (the reasons are on the orders)"
        raise JobFailedPartly(summary + f", {totals['errors']} failed" + detail, totals)
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
    rescan_pending = _service("desk_desktop.services.attachments", "rescan_pending", "Attachment scanning")
    if scanner is None:
        raise JobUnavailable("Attachment scanning is not available: no virus scanner is configured")
    total = 0
    for _ in range(MAX_BATCHES):
        n = _count(rescan_pending(uow_factory=uow_factory, scanner=scanner, limit=limit))
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
