"""Calendar invitations of visits: the iCalendar (RFC 5545) bytes a technician's calendar reads, from plain facts.

One work order is one event: its UID never changes (``visit_uid``), its SEQUENCE is the
order's ``calendar_sequence`` (raised by the database on every change the calendar must
see). ``REQUEST`` adds or updates the event, ``CANCEL`` (STATUS:CANCELLED) removes it.
Times are written in the organization's time zone with its VTIMEZONE, so a calendar in
another zone shows the visit at the right moment across a daylight-saving change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, Timezone, vCalAddress

METHOD_REQUEST = "REQUEST"
METHOD_CANCEL = "CANCEL"
METHODS = (METHOD_REQUEST, METHOD_CANCEL)
PRODID = "-//Desk Dispatcher//Visit invitations//EN"
DOMAIN = "desk-dispatcher"


@dataclass(frozen=True)
class Invitation:
    """What the event says. ``start``/``end``/``stamp`` are aware datetimes (any zone);
    ``timezone`` is the IANA zone the times are written in."""

    method: str
    uid: str
    sequence: int
    stamp: datetime
    start: datetime
    end: datetime
    timezone: str
    summary: str
    description: str
    location: str | None
    lat: float | None
    lon: float | None
    organizer_name: str
    organizer_email: str
    attendee_name: str | None
    attendee_email: str | None


def visit_uid(work_order_id: int, organization_slug: str) -> str:
    """The event's UID: one per work order, the same for its whole life."""
    return f"wo-{work_order_id}@{organization_slug}.{DOMAIN}"


def organizer_email(organization_slug: str) -> str:
    """The organization's calendar identity (ORGANIZER). The e-mail's sender is a setting of
    the process that sends it; the invitation is fixed when the message is queued, so it
    names the organization by an address that never changes (and never receives replies:
    attendees are asked for no RSVP)."""
    return f"dispatch@{organization_slug}.{DOMAIN}"


def geo_uri(lat: float, lon: float) -> str:
    """RFC 5870 ``geo:`` link (phones open it in their map app)."""
    return f"geo:{lat:.6f},{lon:.6f}"


def map_url(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"


def zone(name: str | None) -> ZoneInfo:
    """The organization's zone; an unknown name falls back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=512)
def _vtimezone(tzid: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE of ``tzid`` with the observances in effect from ``first`` to ``last``
    (what RFC 5545 asks for the times the event uses: usually one, two on a change day —
    each line costs, and a visit's days are few). Built once per zone and days."""
    return Timezone.from_tzid(tzid, first_date=first, last_date=last + timedelta(days=1))


def _address(email: str, name: str | None, **params: str) -> vCalAddress:
    addr = vCalAddress(f"mailto:{email}")
    if name:
        addr.params["CN"] = name
    addr.params.update(params)
    return addr


FOLD_OCTETS = 75  # RFC 5545 3.1: longer content lines are folded


def to_bytes(cal: Calendar) -> bytes:
    """``cal.to_ical()`` — byte for byte — without icalendar's character-by-character folding
    of the lines that need none (most lines; that loop was most of an invitation's cost, and
    the assign job writes one per order). Longer lines are folded by icalendar itself."""
    out = []
    for line in cal.content_lines():
        if line:
            raw = line.encode()
            out.append(raw if len(raw) < FOLD_OCTETS else line.to_ical())
    return b"\r\n".join(out) + b"\r\n"


def render(inv: Invitation) -> bytes:
    """The VCALENDAR of one invitation (CRLF lines, folded at 75 octets)."""
    if inv.method not in METHODS:
        raise ValueError(f"unknown iCalendar method {inv.method!r}")
    if inv.end <= inv.start:
        raise ValueError("an invitation's end must be after its start")
    tz = zone(inv.timezone)
    start, end = inv.start.astimezone(tz), inv.end.astimezone(tz)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", inv.method)
    if tz.key != "UTC":  # UTC times are written as such (…Z) and need no VTIMEZONE
        cal.add_component(_vtimezone(tz.key, start.date(), end.date()))
    ev = Event()
    ev.add("uid", inv.uid)
    ev.add("sequence", inv.sequence)
    ev.add("dtstamp", inv.stamp.astimezone(ZoneInfo("UTC")))
    ev.add("dtstart", start)
    ev.add("dtend", end)
    ev.add("summary", inv.summary)
    description = inv.description
    if inv.lat is not None and inv.lon is not None:
        ev.add("geo", (inv.lat, inv.lon))
        ev.add("url", geo_uri(inv.lat, inv.lon))
        description += f"\nMap: {map_url(inv.lat, inv.lon)}"
    ev.add("description", description)
    if inv.location:
        ev.add("location", inv.location)
    ev.add("status", "CANCELLED" if inv.method == METHOD_CANCEL else "CONFIRMED")
    ev.add("organizer", _address(inv.organizer_email, inv.organizer_name))
    if inv.attendee_email:
        ev.add("attendee", _address(inv.attendee_email, inv.attendee_name, ROLE="REQ-PARTICIPANT",
                                    PARTSTAT="NEEDS-ACTION", RSVP="FALSE"))
    cal.add_component(ev)
    return to_bytes(cal)
