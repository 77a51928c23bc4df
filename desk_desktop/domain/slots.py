"""The first free slot of a technician: working hours, the visits they already have and their absences — pure, no database.

A visit is ``[start, end)``; two visits overlap when each starts before the other ends
(the database's exclusion constraint, migration 0011, says the same with ``&&``). The
search starts at the requested time, fits the visit into the working hours
(``scoring.fit_into_working_hours``, in the organization's time zone) and, while the
fitted slot overlaps a block of busy time (visits and absences — an absence is busy time
like a visit, labelled "absence (Holiday)" — merged where they overlap or touch),
starts again at that block's end. Every step starts after one more block's end, so it
ends after at most one step per block.

Given where the new visit is and the travel speed, each booked visit with a place counts
as busy for the drive between the two places too, before and after it (``with_drives``,
``domain.travel``): the new visit starts no sooner than the technician can get there from
the visit before, and ends in time to get to the visit after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from desk_desktop.domain.scoring import ScheduleFit, Windows, fit_into_windows, parse_working_hours
from desk_desktop.domain.travel import km_between, travel_minutes


@dataclass(frozen=True)
class Visit:
    """One of the technician's booked visits, or one of their absences (busy time too)."""

    start: datetime
    end: datetime
    label: str = ""  # what a dispatcher calls it, e.g. its work order number, or "absence (Holiday)"
    reason: str | None = None  # an absence: its reason; a visit: None
    where: tuple[float, float] | None = None  # a visit's place (lat, lon), when known
    drive: int = 0  # minutes of driving counted on each side (``with_drives``)

    @property
    def absence(self) -> bool:
        return self.reason is not None


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def first_clash(start: datetime, end: datetime, visits: Sequence[Visit]) -> Visit | None:
    """The earliest-starting visit that overlaps ``[start, end)``, or None."""
    clashes = [v for v in visits if overlaps(start, end, v.start, v.end)]
    return min(clashes, key=lambda v: (v.start, v.end)) if clashes else None


def busy_blocks(visits: Sequence[Visit]) -> list[Visit]:
    """The visits merged into blocks of busy time (overlapping or back-to-back visits make
    one block, labelled with its last visit), in time order."""
    blocks: list[Visit] = []
    for v in sorted(visits, key=lambda v: (v.start, v.end)):
        if blocks and v.start <= blocks[-1].end:
            if v.end > blocks[-1].end:
                blocks[-1] = replace(v, start=blocks[-1].start)
        else:
            blocks.append(v)
    return blocks


def with_drives(visits: Sequence[Visit], here: tuple[float, float] | None, speed_kmh: float) -> list[Visit]:
    """Each visit with a place widened on both sides by the drive between it and ``here``
    (absences, and everything when ``here`` is unknown, as they are)."""
    if here is None or speed_kmh <= 0:
        return list(visits)
    out = []
    for v in visits:
        minutes = travel_minutes(km_between(v.where, here) * 1000, speed_kmh) if v.where is not None else 0
        drive = timedelta(minutes=minutes)
        out.append(replace(v, start=v.start - drive, end=v.end + drive, drive=minutes) if minutes else v)
    return out


def first_free_slot(requested_start: datetime, duration_minutes: int, working_hours: Mapping | None,
                    tz_name: str, visits: Sequence[Visit]) -> ScheduleFit:
    """The earliest slot of ``duration_minutes`` at or after ``requested_start`` that fits the
    working hours (as ``fit_into_working_hours`` fits it) and overlaps none of ``visits``."""
    return first_free_in_windows(requested_start, duration_minutes, parse_working_hours(working_hours), tz_name,
                                 visits)


def first_free_in_windows(requested_start: datetime, duration_minutes: int, hours: Windows | None, tz_name: str,
                          visits: Sequence[Visit], *, here: tuple[float, float] | None = None,
                          speed_kmh: float = 0.0) -> ScheduleFit:
    """``first_free_slot`` with the working hours already parsed (``parse_working_hours``);
    with ``here`` and ``speed_kmh``, the drives to and from the other visits count as busy."""
    blocks = busy_blocks(with_drives(visits, here, speed_kmh))
    at, i = requested_start, 0
    pushed: Visit | None = None
    while True:  # each round starts after one more block's end (see the module's docstring)
        fit = fit_into_windows(at, duration_minutes, hours, tz_name)
        while i < len(blocks) and blocks[i].end <= fit.start:
            i += 1  # blocks are disjoint and in order: the first one ending after the start is the only candidate
        if i == len(blocks) or blocks[i].start >= fit.end:
            moved = fit.start != requested_start
            note = fit.note
            if pushed is not None:
                after = pushed.label or "another visit"
                if pushed.drive:
                    after += f" and the {pushed.drive} min drive from there"
                note = f"first free slot after {after} ({note})"
            return replace(fit, requested_start=requested_start, moved=moved, note=note)
        at, pushed = blocks[i].end, blocks[i]
