"""The schedule board's arithmetic: a technician's working windows on the board's days and
whether a visit may be dropped somewhere — pure, no database (the drive before a visit is
``domain.travel``'s)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.domain.absences import away_text
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


@dataclass(frozen=True)
class DropCheck:
    """What a drop on the board would break: ``hard`` reasons refuse it, ``soft`` ones ask."""

    hard: tuple[str, ...] = ()
    soft: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.hard and not self.soft


def check_drop(*, technician: str, skills: Iterable[str], windows: Sequence[tuple[datetime, datetime]],
               hours_known: bool, busy: Sequence[tuple[datetime, datetime, str]], start: datetime, end: datetime,
               required_skills: Iterable[str], open_jobs: int, max_open: int, new_for_them: bool,
               tz_name: str, absences: Sequence[tuple[datetime, datetime, str]] = ()) -> DropCheck:
    """Whether ``[start, end)`` with ``technician`` (their skills, working windows, other
    visits ``busy`` as (start, end, label), load) is a place a dispatcher may drop the visit.

    Hard (refused): a required skill missing; an overlap with another visit or with one of
    ``absences`` (start, end, reason). Soft (asked):
    outside working hours; at capacity (only when the order is new for them)."""
    tz = ZoneInfo(tz_name or "UTC")
    hard, soft = [], []
    missing = [s for s in required_skills if s not in set(skills)]
    if missing:
        hard.append(f"{technician} lacks {', '.join(missing)}")
    for a, b, reason in sorted(absences):
        if a < end and start < b:
            hard.append(away_text(technician, reason, a, b, tz_name))  # as a reschedule into it is refused
            break
    for a, b, label in sorted(busy):
        if a < end and start < b:
            hard.append(f"overlaps {label} ({a.astimezone(tz):%H:%M}–{b.astimezone(tz):%H:%M})")
            break
    if hours_known and not any(a <= start and end <= b for a, b in windows):
        soft.append(f"outside {technician}'s working hours")
    if new_for_them and open_jobs >= max_open:
        soft.append(f"{technician} is at capacity ({open_jobs}/{max_open} open work orders)")
    return DropCheck(tuple(hard), tuple(soft))

