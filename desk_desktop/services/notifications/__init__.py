"""The notification outbox.

``enqueue_work_order_event`` writes outbox rows in the caller's transaction (so a rolled
back assignment never notifies anyone). Each row has a unique idempotency key built from
the event, the state it announces, the recipient and the channel; inserting is
``ON CONFLICT DO NOTHING``, so the same event is never queued twice.

``send_due`` is the ``notify`` job: it claims due rows with ``FOR UPDATE SKIP LOCKED`` and
puts a lease on them (``claimed_by``/``claimed_until``) in a short transaction, sends
them outside any transaction, and marks each one sent (only if it still holds the lease).
A process that dies while sending loses its lease when it expires and another process
sends the message. Failures back off exponentially with jitter; after ``MAX_ATTEMPTS``
the row is dead and shows in the dispatchers' attention list, where it can be retried.

Delivery is *at least once*: a process that dies after the mail server accepted a message
but before its "sent" commit leaves the row to be sent again when the lease expires. Every
attempt of one outbox row carries the same ``Message-ID`` (derived from its idempotency
key, ``channels.OutgoingMessage.message_id``), so a receiving system that de-duplicates
by Message-ID shows it once; nothing here can promise exactly once.

A technician's e-mail about a visit carries its calendar invitation (``invitations``:
REQUEST or CANCEL, one UID per work order, the SEQUENCE the database keeps), rendered when
the row is written and stored with it (``calendar_ics``), so every attempt sends the same
bytes. ``calendar_file`` gives the current invitation of an order (Save .ics…).
"""

from __future__ import annotations

from desk_desktop.services.notifications.actions import list_notifications, retry_notification
from desk_desktop.services.notifications.calendar_file import CalendarFile, NoInvitation, calendar_file
from desk_desktop.services.notifications.enqueue import (
    encode_outbox_rows,
    enqueue_work_order_event,
    enqueue_work_order_events,
    outbox_rows,
)
from desk_desktop.services.notifications.model import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    CLAIM_CHUNK,
    DEFAULT_LEASE_SECONDS,
    EVENT_ASSIGNED,
    EVENT_CANCELLED,
    EVENT_COMPLETED,
    EVENT_RESCHEDULED,
    EVENT_SCHEDULED,
    EVENT_UNASSIGNED,
    EVENTS,
    MAX_ATTEMPTS,
    NotificationNotFound,
    NotificationNotRetryable,
    NotificationView,
    SendReport,
    UnknownNotificationEvent,
)
from desk_desktop.services.notifications.sending import backoff_seconds, default_worker_id, expire_abandoned, send_due

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "CLAIM_CHUNK",
    "CalendarFile",
    "DEFAULT_LEASE_SECONDS",
    "EVENTS",
    "EVENT_ASSIGNED",
    "EVENT_CANCELLED",
    "EVENT_COMPLETED",
    "EVENT_RESCHEDULED",
    "EVENT_SCHEDULED",
    "EVENT_UNASSIGNED",
    "MAX_ATTEMPTS",
    "NoInvitation",
    "NotificationNotFound",
    "NotificationNotRetryable",
    "NotificationView",
    "SendReport",
    "UnknownNotificationEvent",
    "backoff_seconds",
    "calendar_file",
    "default_worker_id",
    "encode_outbox_rows",
    "enqueue_work_order_event",
    "enqueue_work_order_events",
    "expire_abandoned",
    "list_notifications",
    "outbox_rows",
    "retry_notification",
    "send_due",
]
