"""Writing outbox rows for work-order events, in the caller's transaction (one row per event,
recipient and channel; the idempotency key keeps an event from being queued twice)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, and_, cast, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from desk_desktop.db.models import Customer, Notification, Organization, Site, Technician, Ticket, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import NotificationChannel, NotificationStatus
from desk_desktop.services.common import Actor, NotFound, insert_json_rows_sql
from desk_desktop.services.notification_templates import MessageContext, render_customer, render_technician
from desk_desktop.services.notifications.invitations import UNSCHEDULED, invitation_method, render_invitation
from desk_desktop.services.notifications.model import (
    EVENT_ASSIGNED,
    EVENT_CANCELLED,
    EVENT_COMPLETED,
    EVENT_RESCHEDULED,
    EVENT_SCHEDULED,
    EVENT_UNASSIGNED,
    EVENTS,
    UnknownNotificationEvent,
)

log = logging.getLogger(__name__)


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
                 ("body_text", "text"), ("body_html", "text"), ("status", "text"), ("last_error", "text"),
                 ("calendar_method", "text"), ("calendar_ics", "text"))
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
    - ``work_order.scheduled``: the customer (email) and the technician (email + inbox).
    - ``work_order.rescheduled``: the customer (email) and the technician (email + inbox).
    - ``work_order.unassigned``: the technician who had it — pass ``technician_id`` when the
      order's technician is already cleared (email + inbox).
    - ``work_order.completed``: the customer (email); ``version`` names the completion (a
      reopened order completed again is told again).
    - ``work_order.cancelled``: the technician (email + inbox).

    The technician's email of a visit with a time carries its calendar invitation
    (``invitations``): REQUEST when given the visit, CANCEL when it is taken away; rendered
    now and stored with the row, so every retry sends the same bytes.

    Customers are told only if the order's ``notify_customer`` is set, technicians only if
    ``notify_technician`` is. A recipient without an email address gets a ``skipped`` row
    with the reason. Returns the number of rows written (duplicates are not written).
    """
    if event not in EVENTS:
        raise UnknownNotificationEvent(f"Unknown notification event {event!r}; expected one of {', '.join(EVENTS)}.")
    with uow:
        s = uow.session
        # Everything the messages need in one round trip (this runs inside every assignment).
        r = s.execute(context_query(technician_id).where(WorkOrder.id == work_order_id)).one_or_none()
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
        facts = {r.id: r for r in s.execute(context_query(None).where(WorkOrder.id.in_(ids)))}
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
    """The outbox rows of ``events`` from the orders' facts (rows of ``context_query``).
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
            r = session.execute(context_query(technician_id).where(WorkOrder.id == wo_id)).one()
        rows.extend(_event_rows(session, r, event, technician_id, None))
    return rows


def encode_outbox_rows(rows: list[dict]) -> str:
    return json.dumps([{c: _plain(row[c]) for c, _ in _BULK_COLUMNS} for row in rows])


def _plain(value):
    """Enum members as their values (the arrays are bound as plain text)."""
    return value.value if hasattr(value, "value") else value


def context_query(technician_id: int | None):
    """The work order, its organization, ticket, customer, site and technician (the one
    given, else the order's) — what the messages and the calendar invitation say."""
    tech_ref = literal(technician_id, BigInteger) if technician_id is not None else WorkOrder.technician_id
    point = cast(func.coalesce(Ticket.location, Site.location), Geometry)
    return (
        select(
            WorkOrder.id, WorkOrder.organization_id, WorkOrder.technician_id, WorkOrder.scheduled_start,
            WorkOrder.scheduled_end, WorkOrder.work_type, WorkOrder.priority, WorkOrder.notify_customer,
            WorkOrder.notify_technician, WorkOrder.assigned_at, WorkOrder.status, WorkOrder.calendar_sequence,
            Organization.name.label("org_name"), Organization.timezone.label("org_tz"),
            Organization.slug.label("org_slug"),
            Ticket.id.label("ticket_id"), Ticket.number.label("ticket_number"),
            Ticket.subject.label("ticket_subject"), Ticket.customer_id.label("ticket_customer_id"),
            Ticket.customer_name.label("ticket_customer_name"),
            Customer.id.label("customer_id"), Customer.name.label("customer_name"),
            Customer.email.label("customer_email"), Site.address.label("site_address"),
            func.ST_Y(point).label("lat"), func.ST_X(point).label("lon"),
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
    """The outbox rows for one event of one work order, from its ``context_query`` row."""
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
            missing_reason: str | None = None, calendar_ics: str | None = None,
            calendar_method: str | None = None) -> None:
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
            calendar_method=calendar_method if calendar_ics is not None else None,
            calendar_ics=calendar_ics,
        ))

    # The state the event announces: the same state announced twice is one notification.
    if version is not None:
        tech_version = version
    elif event == EVENT_ASSIGNED:
        tech_version = f"t{tech_id}@{_iso(wo.assigned_at)}"
    elif event in (EVENT_SCHEDULED, EVENT_RESCHEDULED):  # a reopened visit at its old time is news again
        tech_version = f"t{tech_id}@{_iso(wo.scheduled_start)}-{_iso(wo.scheduled_end)}@seq{r.calendar_sequence}"
    elif event == EVENT_COMPLETED:
        tech_version = "none"  # technicians are not told of their own completion
    elif event == EVENT_CANCELLED:  # each cancellation raises the order's calendar sequence
        tech_version = f"t{tech_id}@seq{r.calendar_sequence}"
    else:  # unassigned: each unassignment is its own event
        tech_version = f"t{tech_id}@tx{s.execute(text('SELECT txid_current()')).scalar_one()}"

    if wo.notify_technician and tech is not None and event in (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED,
                                                                EVENT_UNASSIGNED, EVENT_CANCELLED):
        # The e-mail carries the invitation; both messages say what it does (or why there is none).
        method = invitation_method(event, r)
        ics = (render_invitation(r, method, datetime.now(UTC)) if method not in (None, UNSCHEDULED) else None)
        rendered = render_technician(replace(ctx, calendar=method))
        base = f"{event}:wo{wo.id}:{tech_version}:technician{tech.id}"
        add("technician", tech.id, (tech.email or "").strip() or None, NotificationChannel.EMAIL,
            f"{base}:email", rendered, f"Technician {tech.name} has no email address", ics, method)
        add("technician", tech.id, None, NotificationChannel.INBOX, f"{base}:inbox", rendered)

    # Customers hear about the visit: who comes and when. Assigned and scheduled in one
    # transaction announce the same visit, so they share the key and make one email.
    if wo.notify_customer and event in (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED, EVENT_COMPLETED) \
            and ticket:
        cust_version = version or f"t{tech_id}@{_iso(wo.scheduled_start)}-{_iso(wo.scheduled_end)}"
        rendered = render_customer(ctx)
        kind_event = {EVENT_RESCHEDULED: EVENT_RESCHEDULED, EVENT_COMPLETED: EVENT_COMPLETED}.get(
            event, "work_order.visit")
        cust_id = customer.id if customer else ticket.customer_id
        address = (customer.email or "").strip() or None if customer else None
        add("customer", cust_id, address, NotificationChannel.EMAIL,
            f"{kind_event}:wo{wo.id}:{cust_version}:customer{cust_id}:email", rendered,
            f"Customer {ctx.customer_name} has no email address")
    return rows
