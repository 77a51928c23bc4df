"""What the outbox shares: its events, limits, errors and the plain results it returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from desk_desktop.services.common import DeskError, NotFound

log = logging.getLogger(__name__)


EVENT_ASSIGNED = "work_order.assigned"
EVENT_SCHEDULED = "work_order.scheduled"
EVENT_RESCHEDULED = "work_order.rescheduled"
EVENT_UNASSIGNED = "work_order.unassigned"
EVENT_COMPLETED = "work_order.completed"  # the customer: the visit is done
EVENT_CANCELLED = "work_order.cancelled"  # the technician: the visit is off their calendar
EVENTS = (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED, EVENT_UNASSIGNED, EVENT_COMPLETED, EVENT_CANCELLED)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
DEFAULT_LEASE_SECONDS = 300.0
CLAIM_CHUNK = 10


class UnknownNotificationEvent(DeskError):
    pass


class NotificationNotFound(NotFound):
    pass


class NotificationNotRetryable(DeskError):
    pass


@dataclass(frozen=True)
class SendReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0  # will be retried
    dead: int = 0
    lost_lease: int = 0

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.dead

    def __add__(self, other: SendReport) -> SendReport:
        return SendReport(*(a + b for a, b in zip(self._t(), other._t(), strict=True)))

    def _t(self) -> tuple[int, ...]:
        return (self.claimed, self.sent, self.failed, self.dead, self.lost_lease)


@dataclass(frozen=True)
class NotificationView:
    id: int
    event: str
    channel: str
    recipient_kind: str
    recipient_id: int | None
    recipient_address: str | None
    work_order_id: int | None
    work_order_number: str | None
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    read_at: datetime | None
    created_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
