"""A technician's booked visits: reading them, and a clash in words a dispatcher can act on.

A visit is an order's ``[scheduled_start, scheduled_end)`` for its technician
(``BUSY_WHERE``: what the exclusion constraint of migration 0011 covers, and the visits a
dispatcher booked anyway). The reads go through the partial index of open orders by
technician (every status the constraint covers is open; ``OPEN_SQL`` writes them out).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from desk_desktop.db import sql
from desk_desktop.db.models.workorders import BUSY_WHERE, NO_OVERLAP, work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.slots import Visit
from desk_desktop.services.assignment.candidates import OPEN_SQL
from desk_desktop.services.assignment.types import VisitClash

_VISITS = f"""SELECT id, scheduled_start, scheduled_end FROM work_orders
 WHERE technician_id = :tech AND status IN {OPEN_SQL} AND {BUSY_WHERE}
   AND tstzrange(scheduled_start, scheduled_end) && tstzrange(CAST(:start AS timestamptz), CAST(:end AS timestamptz))
 ORDER BY scheduled_start, id"""


def visits_of(uow: UnitOfWork, technician_id: int, *, start: datetime, end: datetime | None = None,
              excluding: int | None = None) -> list[Visit]:
    """The technician's visits that overlap ``[start, end)`` (``end`` None: from ``start`` on),
    without the order ``excluding``; each labelled with its work order number."""
    return [Visit(r.scheduled_start, r.scheduled_end, work_order_number(r.id))
            for r in sql.hot_rows(uow, _VISITS, {"tech": technician_id, "start": start, "end": end})
            if r.id != excluding]


# The same, for many technicians at once (the batch's candidates): one row per technician
# with visits, as arrays (in the same order, in no particular order: the slot search sorts).
_VISITS_OF_MANY = f"""SELECT technician_id, array_agg(id) AS ids, array_agg(scheduled_start) AS starts,
       array_agg(scheduled_end) AS ends
  FROM work_orders
 WHERE technician_id = ANY(CAST(:techs AS bigint[])) AND status IN {OPEN_SQL} AND {BUSY_WHERE}
   AND scheduled_end > :start
 GROUP BY technician_id"""


def visits_of_many(uow: UnitOfWork, technician_ids: list[int], *, start: datetime) -> dict[int, tuple]:
    """Per technician who has any, their visits from ``start`` on, unconverted
    ``(ids, starts, ends)`` (``as_visits`` converts them when they are needed)."""
    return {r.technician_id: (r.ids, r.starts, r.ends)
            for r in sql.hot_rows(uow, _VISITS_OF_MANY, {"techs": technician_ids, "start": start})}


def as_visits(raw: tuple) -> list[Visit]:
    ids, starts, ends = raw
    return [Visit(a, b, work_order_number(i)) for i, a, b in zip(ids, starts, ends, strict=True)]


def clash_text(technician_name: str, visit: Visit, tz_name: str) -> str:
    """'Ann Lee already has WO-000045 from 10:00 to 11:00 on Tue 8 Dec' (organization time)."""
    tz = ZoneInfo(tz_name or "UTC")
    a, b = visit.start.astimezone(tz), visit.end.astimezone(tz)
    until = f"{b:%H:%M}" if b.date() == a.date() else f"{b:%H:%M} on {b:%a} {b.day} {b:%b}"
    return f"{technician_name} already has {visit.label} from {a:%H:%M} to {until} on {a:%a} {a.day} {a:%b}"


def clash_violation(technician_name: str | None, start: datetime | None, end: datetime | None,
                    tz_name: str) -> dict:
    """``violations=`` for a write of a visit: the constraint fired because another
    workstation booked an overlapping visit after this one looked."""

    def clash() -> VisitClash:
        tz = ZoneInfo(tz_name or "UTC")
        a, b = start.astimezone(tz), end.astimezone(tz)
        return VisitClash(f"{technician_name} was booked a moment ago for another visit overlapping {a:%H:%M} to "
                          f"{b:%H:%M} on {a:%a} {a.day} {a:%b}; choose another time.")

    return {NO_OVERLAP: clash}


def is_clash(exc: BaseException) -> bool:
    """Whether a database error is the no-overlap constraint firing."""
    return sql.constraint_name(exc) == NO_OVERLAP
