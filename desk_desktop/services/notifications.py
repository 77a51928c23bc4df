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
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, and_, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from desk_desktop.db.models import Customer, Notification, Organization, Site, Technician, Ticket, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork, UnitOfWorkFactory
from desk_desktop.domain.enums import NotificationChannel, NotificationStatus
from desk_desktop.services.channels import ChannelRegistry, DeliveryFailed, OutgoingMessage
from desk_desktop.services.common import Actor, DeskError, NotFound, audit, insert_json_rows_sql
from desk_desktop.services.notification_templates import MessageContext, render_customer, render_technician

log = logging.getLogger(__name__)

EVENT_ASSIGNED = "work_order.assigned"
EVENT_SCHEDULED = "work_order.scheduled"
EVENT_RESCHEDULED = "work_order.rescheduled"
EVENT_UNASSIGNED = "work_order.unassigned"
EVENTS = (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED, EVENT_UNASSIGNED)

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


# ---------------------------------------------------------------- enqueue


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ") if value else "none"


_INSERT_NOTIFICATION = (
    pg_insert(Notification)
    .on_conflict_do_nothing(index_elements=["organization_id", "idempotency_key"])
    .returning(Notification.id)
)
# Many rows in one statement whose text never changes: the rows as one JSON document (one
# parameter, encoded by the C json module, instead of arrays escaped value by value).
_BULK_COLUMNS = (("organization_id", "bigint"), ("idempotency_key", "text"), ("event", "text"),
                 ("channel", "text"), ("recipient_kind", "text"), ("recipient_id", "bigint"),
                 ("recipient_address", "text"), ("work_order_id", "bigint"), ("subject", "text"),
                 ("body_text", "text"), ("body_html", "text"), ("status", "text"), ("last_error", "text"))
_INSERT_NOTIFICATIONS_BULK_SQL = insert_json_rows_sql(
    "notifications", _BULK_COLUMNS,
    tail="ON CONFLICT (organization_id, idempotency_key) DO NOTHING RETURNING work_order_id")
_INSERT_NOTIFICATIONS_BULK = text(_INSERT_NOTIFICATIONS_BULK_SQL)


def enqueue_work_order_event(
    *,
    uow: UnitOfWork,
    work_order_id: int,
    event: str,
    actor: Actor | None = None,
    technician_id: int | None = None,
    version: str | None = None,
) -> int:
    """Queue the notifications for one work-order event in the caller's transaction.

    - ``work_order.assigned``: the technician (email + inbox) and the customer (email).
    - ``work_order.scheduled``: the customer (email).
    - ``work_order.rescheduled``: the customer (email) and the technician (email + inbox).
    - ``work_order.unassigned``: the technician who had it — pass ``technician_id`` when the
      order's technician is already cleared (email + inbox).

    Customers are told only if the order's ``notify_customer`` is set, technicians only if
    ``notify_technician`` is. A recipient without an email address gets a ``skipped`` row
    with the reason. Returns the number of rows written (duplicates are not written).
    """
    if event not in EVENTS:
        raise UnknownNotificationEvent(f"Unknown notification event {event!r}; expected one of {', '.join(EVENTS)}.")
    with uow:
        s = uow.session
        # Everything the messages need in one round trip (this runs inside every assignment).
        r = s.execute(_context_query(technician_id).where(WorkOrder.id == work_order_id)).one_or_none()
        if r is None or (actor is not None and r.organization_id != actor.organization_id):
            raise NotFound(f"Work order {work_order_number(work_order_id)} does not exist.")
        if not (r.notify_customer or r.notify_technician):
            uow.commit()
            return 0
        rows = _event_rows(s, r, event, technician_id, version)
        written = 0
        if rows:
            # One cached statement for any number of rows (executemany with "insertmanyvalues":
            # still one INSERT … VALUES (…), (…) RETURNING round trip), instead of a multi-VALUES
            # construct that SQLAlchemy compiles afresh on every call.
            result = s.execute(_INSERT_NOTIFICATION, rows)
            written = len(result.fetchall())
        if written:
            uow.record_change("notification", r.id, r.organization_id, "queued")
        uow.commit()
    return written


def enqueue_work_order_events(
    *,
    uow: UnitOfWork,
    events: Sequence[tuple[int, str, int | None]],
    actor: Actor | None = None,
) -> int:
    """``enqueue_work_order_event`` for many ``(work_order_id, event, technician_id)`` at
    once — the same rows (recipients, content, idempotency keys), written with one query for
    the work orders' facts and one insert, in the caller's transaction. Events are queued in
    the order given. Returns the number of rows written (duplicates are not written)."""
    if not events:
        return 0
    with uow:
        s = uow.session
        ids = sorted({wo_id for wo_id, _, _ in events})
        facts = {r.id: r for r in s.execute(_context_query(None).where(WorkOrder.id.in_(ids)))}
        rows = outbox_rows(facts=facts, events=events, actor=actor, session=s)
        written = 0
        if rows:
            queued = list(s.execute(_INSERT_NOTIFICATIONS_BULK, {"rows": encode_outbox_rows(rows)}).scalars())
            written = len(queued)
            orgs = {r.id: r.organization_id for r in facts.values()}
            for wo_id in dict.fromkeys(queued):
                uow.record_change("notification", wo_id, orgs[wo_id], "queued")
        uow.commit()
    return written


def outbox_rows(*, facts: dict[int, Any], events: Sequence[tuple[int, str, int | None]], actor: Actor | None,
                session=None) -> list[dict]:
    """The outbox rows of ``events`` from the orders' facts (rows of ``work_order_facts_sql``).
    An event about a given technician, and ``unassigned``, need ``session`` (the former
    technician's facts and the transaction id are read then)."""
    for _, event, _ in events:
        if event not in EVENTS:
            raise UnknownNotificationEvent(f"Unknown notification event {event!r}; expected one of {', '.join(EVENTS)}.")
    rows: list[dict] = []
    for wo_id, event, technician_id in events:
        r = facts.get(wo_id)
        if r is None or (actor is not None and r.organization_id != actor.organization_id):
            raise NotFound(f"Work order {work_order_number(wo_id)} does not exist.")
        if not (r.notify_customer or r.notify_technician):
            continue
        if session is None and (event == EVENT_UNASSIGNED or technician_id is not None):
            raise ValueError(f"{event} for a given technician needs a session")
        if technician_id is not None and technician_id != r.technician_id:
            # About a technician the order no longer has (unassigned): their own facts.
            r = session.execute(_context_query(technician_id).where(WorkOrder.id == wo_id)).one()
        rows.extend(_event_rows(session, r, event, technician_id, None))
    return rows


def encode_outbox_rows(rows: list[dict]) -> str:
    return json.dumps([{c: _plain(row[c]) for c, _ in _BULK_COLUMNS} for row in rows])


def _plain(value):
    """Enum members as their values (the arrays are bound as plain text)."""
    return value.value if hasattr(value, "value") else value


def _context_query(technician_id: int | None):
    """The work order, its organization, ticket, customer, site and technician (the one
    given, else the order's) — what the messages say."""
    tech_ref = literal(technician_id, BigInteger) if technician_id is not None else WorkOrder.technician_id
    return (
        select(
            WorkOrder.id, WorkOrder.organization_id, WorkOrder.technician_id, WorkOrder.scheduled_start,
            WorkOrder.scheduled_end, WorkOrder.work_type, WorkOrder.priority, WorkOrder.notify_customer,
            WorkOrder.notify_technician, WorkOrder.assigned_at,
            Organization.name.label("org_name"), Organization.timezone.label("org_tz"),
            Ticket.id.label("ticket_id"), Ticket.number.label("ticket_number"),
            Ticket.subject.label("ticket_subject"), Ticket.customer_id.label("ticket_customer_id"),
            Ticket.customer_name.label("ticket_customer_name"),
            Customer.id.label("customer_id"), Customer.name.label("customer_name"),
            Customer.email.label("customer_email"), Site.address.label("site_address"),
            Technician.id.label("tech_id"), Technician.name.label("tech_name"),
            Technician.email.label("tech_email"),
        )
        .join(Organization, Organization.id == WorkOrder.organization_id)
        .outerjoin(Ticket, and_(Ticket.id == WorkOrder.source_ticket_id,
                                Ticket.organization_id == WorkOrder.organization_id))
        .outerjoin(Customer, and_(Customer.id == Ticket.customer_id,
                                  Customer.organization_id == WorkOrder.organization_id))
        .outerjoin(Site, and_(Site.id == Ticket.site_id, Site.organization_id == WorkOrder.organization_id))
        .outerjoin(Technician, and_(Technician.id == tech_ref,
                                    Technician.organization_id == WorkOrder.organization_id))
    )


def _event_rows(s, r, event: str, technician_id: int | None, version: str | None) -> list[dict]:
    """The outbox rows for one event of one work order, from its ``_context_query`` row."""
    wo = SimpleNamespace(id=r.id, organization_id=r.organization_id, scheduled_start=r.scheduled_start,
                         scheduled_end=r.scheduled_end, work_type=r.work_type, priority=r.priority,
                         notify_customer=r.notify_customer, notify_technician=r.notify_technician,
                         assigned_at=r.assigned_at)
    org = SimpleNamespace(name=r.org_name, timezone=r.org_tz)
    ticket = (SimpleNamespace(id=r.ticket_id, number=r.ticket_number, subject=r.ticket_subject,
                              customer_id=r.ticket_customer_id, customer_name=r.ticket_customer_name)
              if r.ticket_id is not None else None)
    customer = (SimpleNamespace(id=r.customer_id, name=r.customer_name, email=r.customer_email)
                if r.customer_id is not None else None)
    site = SimpleNamespace(address=r.site_address) if r.site_address is not None else None
    tech_id = technician_id if technician_id is not None else r.technician_id
    tech = SimpleNamespace(id=r.tech_id, name=r.tech_name, email=r.tech_email) if r.tech_id is not None else None

    ctx = MessageContext(
        event=event,
        work_order_number=work_order_number(wo.id),
        ticket_number=ticket.number if ticket else None,
        ticket_subject=ticket.subject if ticket else None,
        site_address=site.address if site else None,
        scheduled_start=wo.scheduled_start,
        scheduled_end=wo.scheduled_end,
        timezone=org.timezone if org else "UTC",
        technician_name=tech.name if tech else None,
        customer_name=customer.name if customer else (ticket.customer_name if ticket else None),
        work_type=wo.work_type,
        priority=wo.priority,
        organization_name=org.name if org else "",
    )
    rows: list[dict] = []

    def add(kind: str, rid: int | None, address: str | None, channel: str, key: str, rendered,
            missing_reason: str | None = None) -> None:
        skipped = channel == NotificationChannel.EMAIL and not address
        rows.append(dict(
            organization_id=wo.organization_id,
            idempotency_key=key[:300],
            event=event,
            channel=channel,
            recipient_kind=kind,
            recipient_id=rid,
            recipient_address=address if channel == NotificationChannel.EMAIL else None,
            work_order_id=wo.id,
            subject=rendered.subject,
            body_text=rendered.body_text,
            body_html=rendered.body_html,
            status=NotificationStatus.SKIPPED if skipped else NotificationStatus.PENDING,
            last_error=(missing_reason or f"{kind.capitalize()} has no email address") if skipped else None,
        ))

    # The state the event announces: the same state announced twice is one notification.
    if version is not None:
        tech_version = version
    elif event == EVENT_ASSIGNED:
        tech_version = f"t{tech_id}@{_iso(wo.assigned_at)}"
    elif event == EVENT_RESCHEDULED:
        tech_version = f"t{tech_id}@{_iso(wo.scheduled_start)}-{_iso(wo.scheduled_end)}"
    else:  # unassigned: each unassignment is its own event
        tech_version = f"t{tech_id}@tx{s.execute(text('SELECT txid_current()')).scalar_one()}"

    if wo.notify_technician and tech is not None and event in (EVENT_ASSIGNED, EVENT_RESCHEDULED,
                                                                EVENT_UNASSIGNED):
        rendered = render_technician(ctx)
        base = f"{event}:wo{wo.id}:{tech_version}:technician{tech.id}"
        add("technician", tech.id, (tech.email or "").strip() or None, NotificationChannel.EMAIL,
            f"{base}:email", rendered, f"Technician {tech.name} has no email address")
        add("technician", tech.id, None, NotificationChannel.INBOX, f"{base}:inbox", rendered)

    # Customers hear about the visit: who comes and when. Assigned and scheduled in one
    # transaction announce the same visit, so they share the key and make one email.
    if wo.notify_customer and event in (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED) and ticket:
        cust_version = version or f"t{tech_id}@{_iso(wo.scheduled_start)}-{_iso(wo.scheduled_end)}"
        rendered = render_customer(ctx)
        kind_event = "work_order.rescheduled" if event == EVENT_RESCHEDULED else "work_order.visit"
        cust_id = customer.id if customer else ticket.customer_id
        address = (customer.email or "").strip() or None if customer else None
        add("customer", cust_id, address, NotificationChannel.EMAIL,
            f"{kind_event}:wo{wo.id}:{cust_version}:customer{cust_id}:email", rendered,
            f"Customer {ctx.customer_name} has no email address")
    return rows


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
                       n.body_text, n.body_html, n.organization_id
                """
            ),
            {"me": worker_id, "at": at, "lease": float(lease_seconds), "channels": list(channels), "limit": limit,
             "max": MAX_ATTEMPTS},
        ).all()
        uow.commit()
    msgs = [OutgoingMessage(notification_id=r.id, idempotency_key=r.idempotency_key, channel=r.channel,
                            recipient_address=r.recipient_address, subject=r.subject, body_text=r.body_text,
                            body_html=r.body_html, organization_id=r.organization_id) for r in rows]
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
