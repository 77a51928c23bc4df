"""What needs a person: the dispatchers' attention list.

- work orders that could not be assigned (and why), or that wait for a manual assignment;
- notifications that are dead (gave up after retries or refused) — each can be retried
  with ``notifications.retry_notification``;
- quarantined files: attachments whose content was found infected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text

from desk_desktop.db.models import Attachment, Blob, Notification, Ticket, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import NotificationStatus, ScanStatus, WorkOrderStatus
from desk_desktop.services.common import Actor

MANUAL_ASSIGNMENT_REASON = "Waiting for a dispatcher: its rule does not assign automatically."


@dataclass(frozen=True)
class UnassignedOrder:
    work_order_id: int
    number: str
    ticket_id: int | None
    ticket_number: str | None
    subject: str | None
    priority: str
    reason: str
    attempts: int
    next_try_at: datetime | None
    retrying: bool
    created_at: datetime


@dataclass(frozen=True)
class DeadNotification:
    notification_id: int
    event: str
    channel: str
    recipient_kind: str
    recipient_address: str | None
    work_order_id: int | None
    work_order_number: str | None
    subject: str
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True)
class QuarantinedFile:
    attachment_id: int
    ticket_id: int
    ticket_number: str | None
    original_name: str
    signature: str | None
    scanned_at: datetime | None
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class AttentionList:
    unassigned: tuple[UnassignedOrder, ...]
    dead_notifications: tuple[DeadNotification, ...]
    quarantined: tuple[QuarantinedFile, ...]
    total: int
    # Emails nobody has tried to send for a while: usually no running workstation or
    # scheduler has SMTP configured. Not counted in ``total`` (no single item to act on).
    waiting_emails: int = 0
    oldest_waiting_email_at: datetime | None = None


def list_attention(*, uow: UnitOfWork, actor: Actor, limit: int = 200) -> AttentionList:
    org = actor.organization_id
    with uow:
        s = uow.session
        wo_rows = s.execute(
            select(WorkOrder, Ticket.number, Ticket.subject)
            .outerjoin(Ticket, and_(Ticket.id == WorkOrder.source_ticket_id, Ticket.organization_id == org))
            .where(
                WorkOrder.organization_id == org,
                WorkOrder.status == WorkOrderStatus.UNASSIGNED,
                or_(WorkOrder.unassigned_reason.is_not(None), WorkOrder.needs_assignment.is_(False)),
            )
            .order_by(WorkOrder.created_at, WorkOrder.id)
            .limit(limit)
        ).all()
        unassigned = tuple(
            UnassignedOrder(
                work_order_id=wo.id, number=work_order_number(wo.id), ticket_id=wo.source_ticket_id,
                ticket_number=number, subject=subject, priority=wo.priority,
                reason=wo.unassigned_reason or MANUAL_ASSIGNMENT_REASON,
                attempts=wo.assign_attempts, next_try_at=wo.next_assign_at if wo.needs_assignment else None,
                retrying=bool(wo.needs_assignment), created_at=wo.created_at,
            )
            for wo, number, subject in wo_rows
        )
        dead = tuple(
            DeadNotification(
                notification_id=n.id, event=n.event, channel=n.channel, recipient_kind=n.recipient_kind,
                recipient_address=n.recipient_address, work_order_id=n.work_order_id,
                work_order_number=work_order_number(n.work_order_id) if n.work_order_id else None,
                subject=n.subject, attempts=n.attempts, last_error=n.last_error, created_at=n.created_at,
            )
            for n in s.scalars(
                select(Notification)
                .where(Notification.organization_id == org, Notification.status == NotificationStatus.DEAD)
                .order_by(Notification.created_at.desc(), Notification.id.desc())
                .limit(limit)
            )
        )
        q_rows = s.execute(
            select(Attachment, Blob.scan_signature, Blob.scanned_at, Ticket.number)
            .join(Blob, Blob.id == Attachment.blob_id)
            .outerjoin(Ticket, Ticket.id == Attachment.ticket_id)
            .where(Attachment.organization_id == org, Blob.organization_id == org,
                   Blob.scan_status == ScanStatus.INFECTED)
            .order_by(Attachment.uploaded_at.desc(), Attachment.id.desc())
            .limit(limit)
        ).all()
        quarantined = tuple(
            QuarantinedFile(
                attachment_id=a.id, ticket_id=a.ticket_id, ticket_number=number, original_name=a.original_name,
                signature=signature, scanned_at=scanned_at, uploaded_by=a.uploaded_by, uploaded_at=a.uploaded_at,
            )
            for a, signature, scanned_at, number in q_rows
        )
        waiting, oldest = s.execute(
            select(func.count(), func.min(Notification.created_at)).where(
                Notification.organization_id == org, Notification.status == NotificationStatus.PENDING,
                Notification.channel == "email", Notification.attempts == 0,
                Notification.created_at < func.now() - text("interval '15 minutes'"),
            )
        ).one()
    return AttentionList(unassigned=unassigned, dead_notifications=dead, quarantined=quarantined,
                         total=len(unassigned) + len(dead) + len(quarantined), waiting_emails=int(waiting or 0),
                         oldest_waiting_email_at=oldest)
