"""Notification texts: one plain-text and one HTML body per event and audience.

Pure functions over a ``MessageContext`` (no database, no I/O), so they are easy to test and
to translate later. Every message names the work order, the ticket, the site address, the
time window and greets the technician by first name. A technician's e-mail says what its
calendar invitation does (``CALENDAR_NOTES``), or why it has none.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class MessageContext:
    event: str
    work_order_number: str
    ticket_number: str | None
    ticket_subject: str | None
    site_address: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    timezone: str
    technician_name: str | None
    customer_name: str | None
    work_type: str
    priority: str
    organization_name: str
    # The technician's e-mail only: REQUEST, CANCEL or "unscheduled" (no invitation yet).
    calendar: str | None = None

    @property
    def technician_first_name(self) -> str:
        return first_name(self.technician_name)

    @property
    def time_window(self) -> str:
        return format_time_window(self.scheduled_start, self.scheduled_end, self.timezone)


# (The same text goes to the in-app inbox: it speaks of "the e-mail".)
CALENDAR_NOTES = {
    "REQUEST": "the e-mail carries an invitation — open it to put the visit in your calendar",
    "CANCEL": "the e-mail carries a cancellation — open it to take the visit out of your calendar",
    "unscheduled": "no invitation yet: the visit has no time; the invitation comes when it is scheduled",
}


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body_text: str
    body_html: str


def first_name(name: str | None) -> str:
    if not name or not name.strip():
        return "there"
    return name.strip().split()[0]


def format_time_window(start: datetime | None, end: datetime | None, tz_name: str) -> str:
    if start is None:
        return "not scheduled yet"
    try:
        tz = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    s = start.astimezone(tz)
    text = f"{s:%a %d %b %Y}, {s:%H:%M}"
    if end is not None:
        e = end.astimezone(tz)
        text += f"–{e:%H:%M}" if e.date() == s.date() else f" – {e:%a %d %b %Y}, {e:%H:%M}"
    return f"{text} ({tz.key})"


def _facts(ctx: MessageContext, *, for_customer: bool) -> list[tuple[str, str]]:
    rows = [("Work order", ctx.work_order_number)]
    if ctx.ticket_number:
        rows.append(("Ticket", ctx.ticket_number))
    if ctx.ticket_subject:
        rows.append(("Subject", ctx.ticket_subject))
    rows.append(("Site address", ctx.site_address or "no site address on file"))
    rows.append(("Time window", ctx.time_window))
    if for_customer:
        rows.append(("Technician", ctx.technician_first_name if ctx.technician_name else "to be confirmed"))
    else:
        rows.append(("Type", f"{ctx.work_type} · {ctx.priority} priority"))
        if ctx.customer_name:
            rows.append(("Customer", ctx.customer_name))
        if ctx.calendar in CALENDAR_NOTES:
            rows.append(("Calendar", CALENDAR_NOTES[ctx.calendar]))
    return rows


def _render(subject: str, greeting: str, lead: str, facts: list[tuple[str, str]], closing: str) -> RenderedMessage:
    width = max(len(k) for k, _ in facts)
    text_lines = [greeting, "", lead, ""]
    text_lines += [f"  {k + ':':<{width + 1}} {v}" for k, v in facts]
    text_lines += ["", closing, ""]
    rows_html = "".join(
        f"<tr><th style=\"text-align:left;padding:2px 12px 2px 0\">{html.escape(k)}</th>"
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in facts
    )
    body_html = (
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">"
        f"<p>{html.escape(greeting)}</p><p>{html.escape(lead)}</p>"
        f"<table>{rows_html}</table><p>{html.escape(closing)}</p></body></html>"
    )
    return RenderedMessage(subject=subject, body_text="\n".join(text_lines), body_html=body_html)


def render_technician(ctx: MessageContext) -> RenderedMessage:
    hello = f"Hello {ctx.technician_first_name},"
    ref = f"{ctx.work_order_number}" + (f" (ticket {ctx.ticket_number})" if ctx.ticket_number else "")
    if ctx.event == "work_order.unassigned":
        return _render(
            f"Unassigned: {ref}",
            hello,
            f"Work order {ctx.work_order_number} is no longer assigned to you. You do not need to attend.",
            _facts(ctx, for_customer=False),
            f"— {ctx.organization_name} dispatch",
        )
    if ctx.event == "work_order.cancelled":
        return _render(
            f"Cancelled: {ref}",
            hello,
            f"Work order {ctx.work_order_number} has been cancelled. You do not need to attend.",
            _facts(ctx, for_customer=False),
            f"— {ctx.organization_name} dispatch",
        )
    if ctx.event == "work_order.rescheduled":
        lead = f"Work order {ctx.work_order_number} has been moved to a new time."
        subject = f"Rescheduled: {ref}"
    elif ctx.event == "work_order.scheduled":
        lead = f"Work order {ctx.work_order_number} has been given a time."
        subject = f"Scheduled: {ref}"
    else:
        lead = f"You have been assigned work order {ctx.work_order_number}."
        subject = f"New job: {ref}"
    return _render(subject, hello, lead, _facts(ctx, for_customer=False), f"— {ctx.organization_name} dispatch")


def render_customer(ctx: MessageContext) -> RenderedMessage:
    hello = f"Dear {ctx.customer_name}," if ctx.customer_name else "Hello,"
    ref = ctx.ticket_number or ctx.work_order_number
    tech = ctx.technician_first_name if ctx.technician_name else "a technician"
    if ctx.event == "work_order.completed":
        subject = f"Your visit is complete ({ref})"
        lead = f"{tech} has finished the work on your request. Thank you for having us."
    elif ctx.event == "work_order.rescheduled":
        subject = f"Your visit has been rescheduled ({ref})"
        lead = f"We have moved your visit. {tech} will now come during the time window below."
    elif ctx.scheduled_start is None:
        subject = f"A technician has been assigned ({ref})"
        lead = f"{tech} will look after your request. We will confirm the time of the visit."
    else:
        subject = f"Your visit is booked ({ref})"
        lead = f"{tech} will visit you during the time window below."
    return _render(subject, hello, lead, _facts(ctx, for_customer=True),
                   f"Kind regards,\n{ctx.organization_name}" if ctx.organization_name else "Kind regards")
