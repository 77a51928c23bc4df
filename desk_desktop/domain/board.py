"""The schedule board's arithmetic: a technician's working windows on the board's days and the
travel before a visit — pure, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.domain.scoring import Windows


def working_windows(hours: Windows | None, tz_name: str, first_day: date, days: int) -> list[tuple[datetime, datetime]]:
    """The technician's working windows on ``days`` days from ``first_day`` (organization time
    zone), as aware datetimes in order; unknown hours (None) give none — the board then shades
    nothing, as automatic scheduling then treats every hour as working time."""
    if hours is None:
        return []
    tz = ZoneInfo(tz_name or "UTC")
    out = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        for start, end in hours.get(day.weekday(), ()):
            out.append((datetime.combine(day, start, tz), datetime.combine(day, end, tz)))
    return out


def travel_minutes(distance_m: float | None, speed_kmh: float) -> int:
    """Straight-line driving time at ``speed_kmh``, whole minutes (rounded up); 0 when unknown."""
    if distance_m is None or speed_kmh <= 0:
        return 0
    return int(-(-distance_m * 60 // (speed_kmh * 1000)))
