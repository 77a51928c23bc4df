"""The first free slot of a technician: working hours and the visits they already have — pure, no database.

A visit is ``[start, end)``; two visits overlap when each starts before the other ends
(the database's exclusion constraint, migration 0011, says the same with ``&&``). The
search starts at the requested time, fits the visit into the working hours
(``scoring.fit_into_working_hours``, in the organization's time zone) and, while the
fitted slot overlaps a visit, starts again at that visit's end. Every step starts after
one more visit's end, so it ends after at most one step per visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from desk_desktop.domain.scoring import ScheduleFit, fit_into_working_hours


@dataclass(frozen=True)
class Visit:
    """One of the technician's booked visits."""

    start: datetime
    end: datetime
    label: str = ""  # what a dispatcher calls it, e.g. its work order number


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def first_clash(start: datetime, end: datetime, visits: Sequence[Visit]) -> Visit | None:
    """The earliest-starting visit that overlaps ``[start, end)``, or None."""
    clashes = [v for v in visits if overlaps(start, end, v.start, v.end)]
    return min(clashes, key=lambda v: (v.start, v.end)) if clashes else None


def first_free_slot(requested_start: datetime, duration_minutes: int, working_hours: Mapping | None,
                    tz_name: str, visits: Sequence[Visit]) -> ScheduleFit:
    """The earliest slot of ``duration_minutes`` at or after ``requested_start`` that fits the
    working hours (as ``fit_into_working_hours`` fits it) and overlaps none of ``visits``."""
    at = requested_start
    pushed: Visit | None = None
    while True:  # each round starts after one more visit's end (see the module's docstring)
        fit = fit_into_working_hours(at, duration_minutes, working_hours, tz_name)
        clash = first_clash(fit.start, fit.end, visits)
        if clash is None:
            moved = fit.start != requested_start
            note = fit.note
            if pushed is not None:
                note = f"first free slot after {pushed.label or 'another visit'} ({note})"
            return replace(fit, requested_start=requested_start, moved=moved, note=note)
        at, pushed = clash.end, clash
