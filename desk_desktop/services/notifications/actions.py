"""What a dispatcher does with the outbox: list notifications and retry a dead one."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from desk_desktop.db.models import Customer, Notification, Technician
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import NotificationChannel, NotificationStatus
from desk_desktop.services.common import Actor, audit
from desk_desktop.services.notifications.model import NotificationNotFound, NotificationNotRetryable, NotificationView

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- dispatcher actions


def _view(n: Notification) -> NotificationView:
    return NotificationView(
        id=n.id, event=n.event, channel=n.channel, recipient_kind=n.recipient_kind, recipient_id=n.recipient_id,
        recipient_address=n.recipient_address, work_order_id=n.work_order_id,
        work_order_number=work_order_number(n.work_order_id) if n.work_order_id else None,
        subject=n.subject, status=n.status, attempts=n.attempts, next_attempt_at=n.next_attempt_at,
        last_error=n.last_error, sent_at=n.sent_at, read_at=n.read_at, created_at=n.created_at,
        claimed_by=n.claimed_by, claimed_until=n.claimed_until,
    )


def list_notifications(*, uow: UnitOfWork, actor: Actor, status: str | tuple[str, ...] | None = None,
                       limit: int = 100, work_order_id: int | None = None,
                       channel: str | None = None) -> tuple[NotificationView, ...]:
    """Newest first: status, attempts, next attempt and last error of each outbox row."""
    with uow:
        q = select(Notification).where(Notification.organization_id == actor.organization_id)
        if status is not None:
            q = q.where(Notification.status.in_((status,) if isinstance(status, str) else tuple(status)))
        if work_order_id is not None:
            q = q.where(Notification.work_order_id == work_order_id)
        if channel is not None:
            q = q.where(Notification.channel == channel)
        rows = uow.session.scalars(q.order_by(Notification.created_at.desc(), Notification.id.desc())
                                   .limit(limit)).all()
        return tuple(_view(n) for n in rows)


def retry_notification(*, uow: UnitOfWork, actor: Actor, notification_id: int) -> NotificationView:
    """Send a dead (or skipped) notification again, to the recipient's current address."""
    with uow:
        s = uow.session
        n = s.execute(select(Notification).where(Notification.id == notification_id,
                                                 Notification.organization_id == actor.organization_id)
                      .with_for_update()).scalar_one_or_none()
        if n is None:
            raise NotificationNotFound(f"Notification {notification_id} does not exist.")
        if n.status not in (NotificationStatus.DEAD, NotificationStatus.SKIPPED):
            raise NotificationNotRetryable(
                f"Notification {notification_id} is {n.status}; only dead or skipped notifications can be retried.")
        if n.channel == NotificationChannel.EMAIL:
            address = n.recipient_address
            model = {"customer": Customer, "technician": Technician}.get(n.recipient_kind)
            if model is not None and n.recipient_id is not None:
                who = s.get(model, n.recipient_id)
                address = ((who.email or "").strip() or None) if who is not None else None
            if not address:
                raise NotificationNotRetryable(
                    f"The {n.recipient_kind} still has no email address; add one first, then retry.")
            n.recipient_address = address
        previous = (n.status, n.attempts, n.last_error)
        n.status = NotificationStatus.PENDING
        n.attempts = 0
        n.next_attempt_at = s.execute(select(func.now())).scalar_one()
        n.last_error = None
        n.claimed_by = None
        n.claimed_until = None
        audit(uow, actor=actor, action="notification.retry", entity="notification", entity_id=n.id,
              summary=f"Retry {n.channel} to {n.recipient_address or n.recipient_kind} ({n.event})",
              details={"previous_status": previous[0], "previous_attempts": previous[1], "last_error": previous[2]})
        uow.record_change("notification", n.work_order_id, n.organization_id, "retry")
        s.flush()
        view = _view(n)
        uow.commit()
    return view
