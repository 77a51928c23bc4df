"""A technician's time off in the organization's time zone: whole days, periods in words — pure, no database.

An absence is ``[start, end)``. Whole days are stored as local midnight of the first day
to local midnight after the last (so a day of 23 or 25 hours at a clock change is still
one day); a period that runs from a local midnight to a local midnight is read back as
whole days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_REASON = 80
MAX_DAYS = 366  # one absence at most a year long: a longer one is a typo or a leaver


def zone(tz_name: str | None) -> ZoneInfo:
    return ZoneInfo(tz_name or "UTC")


def whole_days(first: date, last: date, tz_name: str) -> tuple[datetime, datetime]:
    """Local midnight of ``first`` to local midnight after ``last``."""
    tz = zone(tz_name)
    return (datetime.combine(first, time(), tzinfo=tz), datetime.combine(last + timedelta(days=1), time(), tzinfo=tz))


def local(value: datetime, tz_name: str) -> datetime:
    """An aware time as is; a naive one is read in the organization's time zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=zone(tz_name))


def is_whole_days(start: datetime, end: datetime, tz_name: str) -> bool:
    tz = zone(tz_name)
    return start.astimezone(tz).time() == time() and end.astimezone(tz).time() == time()


def period_text(start: datetime, end: datetime, tz_name: str) -> str:
    """'from Mon 7 Dec to Wed 9 Dec' (whole days, the last day named), 'on Tue 8 Dec from
    10:00 to 12:00', or 'from Tue 8 Dec 14:00 to Wed 9 Dec 10:00' (organization time)."""
    tz = zone(tz_name)
    a, b = start.astimezone(tz), end.astimezone(tz)
    if is_whole_days(start, end, tz_name):
        last = (b - timedelta(days=1)).date()
        if last == a.date():
            return f"on {_day(a.date())}"
        return f"from {_day(a.date())} to {_day(last)}"
    if a.date() == b.date():
        return f"on {_day(a.date())} from {a:%H:%M} to {b:%H:%M}"
    return f"from {_day(a.date())} {a:%H:%M} to {_day(b.date())} {b:%H:%M}"


def _day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def away_text(technician_name: str, reason: str, start: datetime, end: datetime, tz_name: str) -> str:
    """'Ann Lee is away (Holiday) from Mon 7 Dec to Wed 9 Dec'."""
    return f"{technician_name} is away ({reason}) {period_text(start, end, tz_name)}"


def period_problems(start: datetime | None, end: datetime | None) -> dict[str, str]:
    """What is wrong with a period (both ends aware)."""
    if start is None:
        return {"start": "Give the first day or the start time of the absence."}
    if end is None:
        return {"end": "Give the last day or the end time of the absence."}
    if end <= start:
        return {"end": "The absence ends before it starts; the end must be after the start."}
    if end - start > timedelta(days=MAX_DAYS):
        return {"end": f"An absence is at most {MAX_DAYS} days long; split a longer one."}
    return {}


def reason_problem(reason: str | None) -> str | None:
    text = (reason or "").strip()
    if not text:
        return "Give a reason (e.g. Holiday, Sick, Training)."
    if len(text) > MAX_REASON:
        return f"The reason is {len(text)} characters long; at most {MAX_REASON}."
    return None


def parse_when(text: str) -> date | datetime:
    """'2026-12-08' → a day; '2026-12-08 09:00' (or ISO with 'T' and an offset) → a time."""
    t = (text or "").strip()
    try:
        return date.fromisoformat(t) if len(t) == 10 else datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"'{t}' is neither a day (YYYY-MM-DD) nor a time (YYYY-MM-DD HH:MM)") from None


def parse_period(start: str, end: str, all_day: bool | None = None) -> tuple[date | datetime, date | datetime]:
    """Both ends as days (whole days, ``end`` the last day) or both as times; ``all_day``
    True/False says which is wanted (None: whatever was written). ``ValueError`` otherwise."""
    a = parse_when(start)
    if not (end or "").strip():
        if isinstance(a, datetime) or all_day is False:
            raise ValueError("give the end time of the absence (YYYY-MM-DD HH:MM)")
        end = start  # one whole day
    b = parse_when(end)
    days = [not isinstance(x, datetime) for x in (a, b)]
    if days[0] != days[1]:
        raise ValueError("give both ends as days (YYYY-MM-DD) or both as times (YYYY-MM-DD HH:MM)")
    if all_day is True and not days[0]:
        raise ValueError("a whole-day absence takes days (YYYY-MM-DD), not times")
    if all_day is False and days[0]:
        raise ValueError("an absence of hours takes times (YYYY-MM-DD HH:MM), not days")
    return a, b
