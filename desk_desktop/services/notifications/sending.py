"""The ``notify`` job: claim due rows under a lease, send them outside any transaction, mark them
sent (or back off, or dead); abandoned leases expire."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from desk_desktop.db.models import Notification
from desk_desktop.db.session import UnitOfWorkFactory
from desk_desktop.domain.enums import NotificationStatus
from desk_desktop.services.channels import ChannelRegistry, DeliveryFailed, OutgoingMessage
from desk_desktop.services.notifications.model import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    CLAIM_CHUNK,
    DEFAULT_LEASE_SECONDS,
    MAX_ATTEMPTS,
    SendReport,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- sending


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in [50%, 100%] of 30 s · 2^(attempts-1), capped at 1 h."""
    r = rng or random
    raw = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1)))
    return raw * (0.5 + 0.5 * r.random())


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(uow_factory: UnitOfWorkFactory, *, channels: tuple[str, ...], now: datetime | None, limit: int,
           worker_id: str, lease_seconds: float) -> tuple[datetime, list[OutgoingMessage]]:
    uow = uow_factory()
    with uow:
        s = uow.session
        at = now or s.execute(select(func.now())).scalar_one()
        rows = s.execute(
            text(
                """
                UPDATE notifications n
                   SET claimed_by = :me,
                       claimed_until = :at + make_interval(secs => :lease),
                       attempts = n.attempts + 1
                 WHERE n.id IN (
                       SELECT id FROM notifications
                        WHERE status = 'pending'
                          AND next_attempt_at <= :at
                          AND channel = ANY(:channels)
                          AND attempts < :max
                          AND (claimed_until IS NULL OR claimed_until < :at)
                        ORDER BY next_attempt_at, id
                        LIMIT :limit
                        FOR UPDATE SKIP LOCKED)
             RETURNING n.id, n.idempotency_key, n.channel, n.recipient_address, n.subject,
                       n.body_text, n.body_html, n.organization_id, n.calendar_method, n.calendar_ics
                """
            ),
            {"me": worker_id, "at": at, "lease": float(lease_seconds), "channels": list(channels), "limit": limit,
             "max": MAX_ATTEMPTS},
        ).all()
        uow.commit()
    msgs = [OutgoingMessage(notification_id=r.id, idempotency_key=r.idempotency_key, channel=r.channel,
                            recipient_address=r.recipient_address, subject=r.subject, body_text=r.body_text,
                            body_html=r.body_html, organization_id=r.organization_id,
                            calendar_method=r.calendar_method, calendar_ics=r.calendar_ics) for r in rows]
    msgs.sort(key=lambda m: m.notification_id)
    return at, msgs


def _finish(uow_factory: UnitOfWorkFactory, msg: OutgoingMessage, *, worker_id: str, now: datetime | None,
            error: DeliveryFailed | None) -> str:
    """Record the outcome if we still hold the lease. Returns sent|failed|dead|lost."""
    uow = uow_factory()
    with uow:
        s = uow.session
        if error is None:
            # The common case in one statement; the lease check keeps a process that lost its
            # lease from marking a row another process now owns.
            done = s.execute(
                text("UPDATE notifications SET status = 'sent', sent_at = coalesce(CAST(:now AS timestamptz), now()), "
                     "last_error = NULL, claimed_by = NULL, claimed_until = NULL "
                     "WHERE id = :id AND claimed_by = :me AND status = 'pending'"),
                {"id": msg.notification_id, "me": worker_id, "now": now},
            ).rowcount
            uow.commit()
            return "sent" if done else "lost"
        at = now or s.execute(select(func.now())).scalar_one()
        row = s.execute(
            select(Notification).where(Notification.id == msg.notification_id,
                                       Notification.claimed_by == worker_id).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            uow.commit()
            return "lost"
        row.claimed_by = None
        row.claimed_until = None
        if error.permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = NotificationStatus.DEAD
            row.last_error = str(error) if error.permanent else f"gave up after {row.attempts} attempts: {error}"
            outcome = "dead"
        else:
            row.last_error = str(error)
            row.next_attempt_at = at + timedelta(seconds=backoff_seconds(row.attempts))
            outcome = "failed"
        if outcome == "dead":  # the attention list changes
            uow.record_change("notification", row.work_order_id, row.organization_id, outcome)
        uow.commit()
    return outcome


def send_due(
    *,
    uow_factory: UnitOfWorkFactory,
    channel_registry: ChannelRegistry,
    now: datetime | None = None,
    limit: int = 50,
    worker_id: str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> SendReport:
    """Send up to ``limit`` due notifications through the channels this process has."""
    worker_id = worker_id or default_worker_id()
    channels = channel_registry.names
    report = SendReport()
    if not channels or limit <= 0:
        return report
    try:
        while report.claimed < limit:
            chunk = min(CLAIM_CHUNK, limit - report.claimed)
            claimed_at = time.monotonic()
            _, msgs = _claim(uow_factory, channels=channels, now=now, limit=chunk, worker_id=worker_id,
                             lease_seconds=lease_seconds)
            if not msgs:
                break
            report += SendReport(claimed=len(msgs))
            for i, msg in enumerate(msgs):
                if time.monotonic() - claimed_at > lease_seconds * 0.8:
                    # Too slow: our lease is about to run out and another process may take these.
                    _release(uow_factory, [m.notification_id for m in msgs[i:]], worker_id)
                    report += SendReport(lost_lease=len(msgs) - i)
                    break
                channel = channel_registry.get(msg.channel)
                error: DeliveryFailed | None = None
                try:
                    channel.send(msg)  # type: ignore[union-attr]
                except DeliveryFailed as exc:
                    error = exc
                except Exception as exc:  # noqa: BLE001 - a channel bug must not strand the row
                    log.exception("channel %s failed on notification %s", msg.channel, msg.notification_id)
                    error = DeliveryFailed(f"unexpected error: {exc}")
                outcome = _finish(uow_factory, msg, worker_id=worker_id, now=now, error=error)
                if outcome == "lost":
                    log.warning("notification %s: lease lost before it was marked sent", msg.notification_id)
                report += SendReport(sent=outcome == "sent", failed=outcome == "failed", dead=outcome == "dead",
                                     lost_lease=outcome == "lost")
            if len(msgs) < chunk:
                break
    finally:
        channel_registry.close()
    return report


def _release(uow_factory: UnitOfWorkFactory, ids: list[int], worker_id: str) -> None:
    """Give back claimed rows we did not try (the attempt does not count)."""
    uow = uow_factory()
    with uow:
        uow.session.execute(
            text("UPDATE notifications SET claimed_by = NULL, claimed_until = NULL, attempts = attempts - 1 "
                 "WHERE id = ANY(:ids) AND claimed_by = :me"),
            {"ids": ids, "me": worker_id},
        )
        uow.commit()


def expire_abandoned(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None) -> int:
    """Housekeeping: rows whose sender died ``MAX_ATTEMPTS`` times become dead instead of looping."""
    uow = uow_factory()
    with uow:
        result = uow.session.execute(
            text(
                """
                UPDATE notifications
                   SET status = 'dead', claimed_by = NULL, claimed_until = NULL,
                       last_error = coalesce(last_error || '; ', '') ||
                                    'sending was interrupted ' || attempts || ' times'
                 WHERE status = 'pending' AND attempts >= :max
                   AND claimed_until < coalesce(CAST(:now AS timestamptz), now())
                RETURNING id, work_order_id, organization_id
                """
            ),
            {"max": MAX_ATTEMPTS, "now": now},
        ).all()
        for r in result:
            uow.record_change("notification", r.work_order_id, r.organization_id, "dead")
        uow.commit()
    return len(result)
