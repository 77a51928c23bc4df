"""A technician's busy time — booked visits and absences: reading it, and a clash in words a dispatcher can act on.

A visit is an order's ``[scheduled_start, scheduled_end)`` for its technician
(``BUSY_WHERE``: what the exclusion constraint of migration 0011 covers, and the visits a
dispatcher booked anyway). The reads go through the partial index of open orders by
technician (every status the constraint covers is open; ``OPEN_SQL`` writes them out).
An absence (migration 0012) is busy time too: the same reads return it, labelled
"absence (Holiday)", so the free-slot search never places a visit inside one. A visit comes
with its place (its ticket's location, else its site's), for the drives around it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from desk_desktop.db import sql
from desk_desktop.db.models.workorders import BUSY_WHERE, NO_OVERLAP, work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.absences import away_text
from desk_desktop.domain.slots import Visit
from desk_desktop.services.assignment.candidates import OPEN_SQL, ORDER_LAT_LON
from desk_desktop.services.assignment.types import VisitClash

# The visits with their places (``ORDER_LAT_LON``: the ticket's location, else its site's).
_VISIT_ROWS = f"""SELECT technician_id, id, scheduled_start AS starts, scheduled_end AS ends, NULL AS reason,
       p.lat, p.lon
  FROM work_orders w LEFT JOIN LATERAL (
       SELECT {ORDER_LAT_LON} FROM tickets t
         LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = t.organization_id
        WHERE t.id = w.source_ticket_id AND t.organization_id = w.organization_id) p ON true
 WHERE status IN {OPEN_SQL} AND {BUSY_WHERE}"""

_VISITS = f"""SELECT id, starts, ends, reason, lat, lon FROM ({_VISIT_ROWS}
   AND technician_id = :tech
   AND tstzrange(scheduled_start, scheduled_end) && tstzrange(CAST(:start AS timestamptz), CAST(:end AS timestamptz))
   ) v
UNION ALL
SELECT id, starts_at, ends_at, reason, NULL, NULL FROM technician_absences
 WHERE technician_id = :tech
   AND tstzrange(starts_at, ends_at) && tstzrange(CAST(:start AS timestamptz), CAST(:end AS timestamptz))
 ORDER BY 2, 1"""


def _busy(i: int, start: datetime, end: datetime, reason: str | None, lat: float | None = None,
          lon: float | None = None) -> Visit:
    if reason is None:
        return Visit(start, end, work_order_number(i), where=(lat, lon) if lat is not None else None)
    return Visit(start, end, f"absence ({reason})", reason)


def visits_of(uow: UnitOfWork, technician_id: int, *, start: datetime, end: datetime | None = None,
              excluding: int | None = None) -> list[Visit]:
    """The technician's visits and absences that overlap ``[start, end)`` (``end`` None: from
    ``start`` on), without the order ``excluding``; each visit labelled with its work order
    number, each absence "absence (reason)"."""
    return [_busy(r.id, r.starts, r.ends, r.reason, r.lat, r.lon)
            for r in sql.hot_rows(uow, _VISITS, {"tech": technician_id, "start": start, "end": end})
            if r.reason is not None or r.id != excluding]


# The same, for many technicians at once (the batch's candidates): one row per technician
# with visits or absences, as arrays (in the same order, in no particular order: the slot
# search sorts); ``reasons`` is NULL for a visit.
_VISITS_OF_MANY = f"""SELECT technician_id, array_agg(id) AS ids, array_agg(starts) AS starts,
       array_agg(ends) AS ends, array_agg(reason) AS reasons, array_agg(lat) AS lats, array_agg(lon) AS lons
  FROM ({_VISIT_ROWS}
           AND technician_id = ANY(CAST(:techs AS bigint[])) AND scheduled_end > :start
        UNION ALL
        SELECT technician_id, id, starts_at, ends_at, reason, NULL, NULL FROM technician_absences
         WHERE technician_id = ANY(CAST(:techs AS bigint[])) AND ends_at > :start) busy
 GROUP BY technician_id"""


def visits_of_many(uow: UnitOfWork, technician_ids: list[int], *, start: datetime) -> dict[int, tuple]:
    """Per technician who has any, their visits and absences from ``start`` on, unconverted
    ``(ids, starts, ends, reasons, lats, lons)`` (``as_visits`` converts them when they are needed)."""
    return {r.technician_id: (r.ids, r.starts, r.ends, r.reasons, r.lats, r.lons)
            for r in sql.hot_rows(uow, _VISITS_OF_MANY, {"techs": technician_ids, "start": start})}


def as_visits(raw: tuple) -> list[Visit]:
    return [_busy(*row) for row in zip(*raw, strict=True)]


def clash_text(technician_name: str, visit: Visit, tz_name: str) -> str:
    """'Ann Lee already has WO-000045 from 10:00 to 11:00 on Tue 8 Dec', or for an absence
    'Ann Lee is away (Holiday) from Mon 7 Dec to Wed 9 Dec' (organization time)."""
    if visit.absence:
        return away_text(technician_name, visit.reason, visit.start, visit.end, tz_name)
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
