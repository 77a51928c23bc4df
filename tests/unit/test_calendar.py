"""Calendar invitations (domain/calendar.py): what a technician's calendar reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from desk_desktop.domain import calendar

PARIS = ZoneInfo("Europe/Paris")


def invitation(**kw) -> calendar.Invitation:
    start = kw.pop("start", datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    base = dict(method=calendar.METHOD_REQUEST, uid=calendar.visit_uid(123, "acme"), sequence=4,
                stamp=datetime(2026, 11, 30, 12, 0, tzinfo=UTC), start=start, end=start + timedelta(minutes=90),
                timezone="Europe/Paris", summary="WO-000123 — Air conditioning is down",
                description="WO-000123: Air conditioning is down", location="100 N Clark St, Chicago, IL 60602",
                lat=41.8837, lon=-87.6289, organizer_name="Acme dispatch",
                organizer_email=calendar.organizer_email("acme"), attendee_name="Grace Hopper",
                attendee_email="grace@techs.example")
    base.update(kw)
    return calendar.Invitation(**base)


def parse(data: bytes):
    cal = Calendar.from_ical(data)
    (event,) = cal.walk("VEVENT")
    return cal, event


def test_request_carries_uid_sequence_organizer_attendee_and_place():
    cal, ev = parse(calendar.render(invitation()))
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(ev["UID"]) == "wo-123@acme.desk-dispatcher"
    assert ev.decoded("SEQUENCE") == 4
    assert str(ev["STATUS"]) == "CONFIRMED"
    assert str(ev["LOCATION"]) == "100 N Clark St, Chicago, IL 60602"
    assert ev.decoded("GEO") == (41.8837, -87.6289)
    assert str(ev["URL"]) == "geo:41.883700,-87.628900"
    assert "openstreetmap.org/?mlat=41.883700&mlon=-87.628900" in str(ev["DESCRIPTION"])
    assert str(ev["ORGANIZER"]) == "mailto:dispatch@acme.desk-dispatcher"
    assert ev["ORGANIZER"].params["CN"] == "Acme dispatch"
    assert str(ev["ATTENDEE"]) == "mailto:grace@techs.example"
    assert (ev["ATTENDEE"].params["PARTSTAT"], ev["ATTENDEE"].params["RSVP"]) == ("NEEDS-ACTION", "FALSE")


def test_times_are_in_the_organizations_zone_with_its_vtimezone():
    data = calendar.render(invitation())
    cal, ev = parse(data)
    start = ev.decoded("DTSTART")
    assert start.tzinfo is not None and start.tzinfo.key == "Europe/Paris"
    assert (start.hour, start.minute) == (9, 0)  # 08:00 UTC is 09:00 in Paris in December
    assert start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert ev.decoded("DTEND") - start == timedelta(minutes=90)
    assert b"DTSTART;TZID=Europe/Paris:20261201T090000" in data
    (tz,) = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Paris"


def test_daylight_saving_day_keeps_the_wall_clock_and_the_length():
    """Paris goes to summer time on 29 March 2026 at 02:00: a 01:30 visit of two hours ends
    at 04:30 local (one hour of the wall clock vanished), still 120 minutes long."""
    start = datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)
    data = calendar.render(invitation(start=start.astimezone(UTC), end=start.astimezone(UTC) + timedelta(hours=2)))
    cal, ev = parse(data)
    assert b"DTSTART;TZID=Europe/Paris:20260329T013000" in data
    assert b"DTEND;TZID=Europe/Paris:20260329T043000" in data
    # (Python subtracts times of one zone by the wall clock: compare in UTC.)
    assert ev.decoded("DTEND").astimezone(UTC) - ev.decoded("DTSTART").astimezone(UTC) == timedelta(hours=2)
    (tz,) = cal.walk("VTIMEZONE")
    daylight = [c for c in tz.walk("DAYLIGHT") if c.decoded("DTSTART").date().isoformat() == "2026-03-29"]
    assert daylight, "the VTIMEZONE must carry the spring change of the visit's year"


def test_a_zone_without_name_or_unknown_is_written_in_utc():
    for name in ("UTC", "Not/A_Zone"):
        data = calendar.render(invitation(timezone=name))
        cal, ev = parse(data)
        assert b"DTSTART:20261201T080000Z" in data
        assert cal.walk("VTIMEZONE") == []


def test_commas_semicolons_and_newlines_are_escaped_and_read_back():
    summary = "WO-000123 — Boiler; leaking, badly\nsecond line \\ backslash"
    location = "Flat 2, 10 Rue de Rivoli; 75004 Paris"
    data = calendar.render(invitation(summary=summary, location=location, description="a,b;c\nd"))
    assert b"Flat 2\\, 10 Rue de Rivoli\\; 75004 Paris" in data
    assert b"\\n" in data and b"\r\n" in data
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded lines
    _, ev = parse(data)
    assert str(ev["SUMMARY"]) == summary
    assert str(ev["LOCATION"]) == location
    assert str(ev["DESCRIPTION"]).startswith("a,b;c\nd")


def test_cancel_is_cancelled_and_keeps_the_uid():
    cal, ev = parse(calendar.render(invitation(method=calendar.METHOD_CANCEL, sequence=5)))
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(ev["STATUS"]) == "CANCELLED"
    assert str(ev["UID"]) == "wo-123@acme.desk-dispatcher"
    assert ev.decoded("SEQUENCE") == 5


def test_without_place_or_attendee_address_those_lines_are_left_out():
    _, ev = parse(calendar.render(invitation(location=None, lat=None, lon=None, attendee_email=None)))
    for prop in ("LOCATION", "GEO", "URL", "ATTENDEE"):
        assert prop not in ev


def test_refuses_an_unknown_method_and_an_empty_visit():
    with pytest.raises(ValueError):
        calendar.render(invitation(method="PUBLISH"))
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        calendar.render(invitation(start=start, end=start))


def test_the_bytes_are_icalendars_own_serialization():
    """``to_bytes`` skips the folding of short lines only: the same bytes as ``to_ical``,
    long and multi-byte lines (folded between characters) included."""
    long_text = "Réparer la climatisation — " * 12 + "€"
    for inv in (invitation(), invitation(summary=long_text, location=long_text, description=long_text,
                                         attendee_name="Zoë Ångström-Ñúñez " * 4, timezone="UTC")):
        data = calendar.render(inv)
        assert data == Calendar.from_ical(data).to_ical()
        assert any(line.startswith(b" ") for line in data.split(b"\r\n"))  # some lines were folded
