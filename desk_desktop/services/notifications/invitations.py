"""The calendar invitation a technician's message about a visit carries: which one (request, cancel or
none) and its bytes, from the work order's facts (a ``context_query`` row)."""

from __future__ import annotations

from datetime import datetime

from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.domain import calendar
from desk_desktop.domain.enums import WorkOrderStatus
from desk_desktop.services.notifications.model import (
    EVENT_ASSIGNED,
    EVENT_CANCELLED,
    EVENT_RESCHEDULED,
    EVENT_SCHEDULED,
    EVENT_UNASSIGNED,
)

# What the technician's e-mail says about its invitation (notification_templates shows it).
UNSCHEDULED = "unscheduled"


def invitation_method(event: str, r) -> str | None:
    """REQUEST when the event gives the technician the visit (assigned, scheduled, rescheduled),
    CANCEL when it takes it away (unassigned, cancelled); ``UNSCHEDULED`` for an order that has
    no time yet (nothing a calendar can hold: the invitation comes with the time); None for
    events that carry none."""
    if event not in (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED, EVENT_UNASSIGNED, EVENT_CANCELLED):
        return None
    if r.scheduled_start is None or r.scheduled_end is None:
        return UNSCHEDULED if event in (EVENT_ASSIGNED, EVENT_SCHEDULED, EVENT_RESCHEDULED) else None
    if event in (EVENT_UNASSIGNED, EVENT_CANCELLED) or r.status == WorkOrderStatus.CANCELLED:
        return calendar.METHOD_CANCEL
    return calendar.METHOD_REQUEST


def render_invitation(r, method: str, stamp: datetime) -> str:
    """The VCALENDAR text of ``method`` for the order of row ``r`` (its technician as attendee)."""
    number = work_order_number(r.id)
    what = r.ticket_subject or r.work_type.replace("_", " ")
    lines = []
    if method == calendar.METHOD_CANCEL:
        lines += [f"{number} is no longer on your schedule: you do not need to attend.", ""]
    customer = r.customer_name or r.ticket_customer_name
    lines.append(f"{number}" + (f" (ticket {r.ticket_number})" if r.ticket_number else "")
                 + f", {r.priority} priority" + (f", for {customer}" if customer else "") + ".")
    ics = calendar.render(calendar.Invitation(
        method=method, uid=calendar.visit_uid(r.id, r.org_slug), sequence=r.calendar_sequence, stamp=stamp,
        start=r.scheduled_start, end=r.scheduled_end, timezone=r.org_tz, summary=f"{number} — {what}",
        description="\n".join(lines), location=r.site_address, lat=r.lat, lon=r.lon,
        organizer_name=f"{r.org_name} dispatch", organizer_email=calendar.organizer_email(r.org_slug),
        attendee_name=r.tech_name, attendee_email=(r.tech_email or "").strip() or None))
    return ics.decode()
