"""Plain data for the dispatch map: technicians, open work orders, and routes.

``load_map_arrays`` answers "what is drawn" as the page's compact data arrays, built by the
database in one statement (``string_agg``): the text goes to the page as it is, with no
per-row work in Python. ``load_map_data`` answers the same with plain rows (names,
addresses, skills: the side list, tooltips and candidate details), one query for the
technicians and one for the work orders. ``load_map_changes`` answers it for a few ids
after a live change, so the map can move a marker without reloading everything.

Coordinates are rounded to 6 decimals (about 0.1 m) by the database, the same expression
in every query, so the arrays and the rows agree to the last digit. Positions follow
the assignment service's rule (``services.assignment.position``), so a candidate's distance
matches where the map draws them: a technician is at their current location if it was
reported recently (or if they have no home base), else at their home base. A work
order is at its ticket's location, else at the ticket's site.

Technician state (the same rules for arrays and rows):
- ``off_shift``: outside their working hours now (in the organization's time zone), or
  in an absence now (time off); technicians with no known hours count as on shift. ``on_shift`` decides it once per
  distinct working-hours pattern (technicians share a handful); the arrays statement gets
  the list of patterns that are off shift now.
- ``busy``: a job in progress, a job scheduled for right now, or at their open-job limit.
- ``available``: otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desk_desktop.db import sql
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus
from desk_desktop.services.assignment.position import fresh_after, position, position_source
from desk_desktop.services.common import Actor

# What the map shows as work: unassigned orders plus those counting toward a technician's load.
MAP_WORK_ORDER_STATUSES: tuple[str, ...] = (WorkOrderStatus.UNASSIGNED.value,) + tuple(
    str(s) for s in OPEN_WORK_ORDER_STATUSES
)

STATE_AVAILABLE = "available"
STATE_BUSY = "busy"
STATE_OFF_SHIFT = "off_shift"
TECHNICIAN_STATES = (STATE_AVAILABLE, STATE_BUSY, STATE_OFF_SHIFT)
# Codes in the page's data arrays (resources/map/desk_map.js); the index in TECHNICIAN_STATES.
STATE_CODES = {state: code for code, state in enumerate(TECHNICIAN_STATES)}
PRIORITY_CODES = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
DEFAULT_PRIORITY_CODE = 1

_DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MapTechnician:
    id: int
    name: str
    lat: float | None
    lon: float | None
    position_source: str | None  # "current" | "home" | None (nowhere to draw them)
    location_updated_at: datetime | None
    state: str  # available | busy | off_shift
    open_jobs: int
    max_open: int
    # Skills as the JSON text the database produced ({"hvac": 4, ...}): parsed only when
    # someone looks (10,000 technicians need not pay for 10,000 parses on every refresh).
    skills_json: str | None = None
    next_work_order_id: int | None = None

    @property
    def skills(self) -> dict[str, int]:
        return json.loads(self.skills_json) if self.skills_json else {}


@dataclass(frozen=True)
class MapWorkOrder:
    id: int
    number: str
    priority: str
    status: str
    work_type: str
    technician_id: int | None
    technician_name: str | None
    lat: float | None
    lon: float | None
    ticket_id: int | None
    ticket_number: str | None
    subject: str | None
    customer_name: str | None
    address: str | None
    required_skills: tuple[str, ...]
    assignment_logic: str | None
    unassigned_reason: str | None
    scheduled_start: datetime | None
    created_at: datetime

    @property
    def unassigned(self) -> bool:
        return self.technician_id is None


@dataclass(frozen=True)
class MapRoute:
    """A line from a technician to their next job."""

    technician_id: int
    work_order_id: int
    from_lat: float
    from_lon: float
    to_lat: float
    to_lon: float


@dataclass(frozen=True)
class MapData:
    technicians: tuple[MapTechnician, ...]
    work_orders: tuple[MapWorkOrder, ...]
    routes: tuple[MapRoute, ...]
    generated_at: datetime
    # For load_map_changes: the ids that were asked for (missing from the tuples above = gone).
    requested_technician_ids: tuple[int, ...] = ()
    requested_work_order_ids: tuple[int, ...] = ()

    @property
    def unassigned(self) -> tuple[MapWorkOrder, ...]:
        return tuple(w for w in self.work_orders if w.technician_id is None)


@dataclass(frozen=True)
class MapArrays:
    """The page's data arrays as JSON text, each the inside of an array (no brackets; "" if empty):

    - ``technicians``: ``[id, lat, lon, state code]`` rows
    - ``work_orders``: ``[id, lat, lon, priority code, unassigned 0|1, technician id|null]`` rows
    - ``routes``: ``[technician id, work order id, lat1, lon1, lat2, lon2]`` rows

    The same rows as ``ui.map.payload``'s ``technician_row`` / ``order_row`` / ``route_row``
    would make from ``load_map_data``.
    """

    technicians: str
    work_orders: str
    routes: str
    generated_at: datetime


def _round6(expr: str) -> str:
    """A coordinate rounded to 6 decimals (float arithmetic: three times cheaper than numeric)."""
    return f"(round({expr} * 1e6) / 1e6)"


# Where a technician is drawn: the assignment service's position rule.
_TECH_POS = f"CAST({position()} AS geometry)"
_TECH_SOURCE = position_source()
# Busy: a job in progress or scheduled for now, or at their open-job limit.
_BUSY = "(coalesce(l.busy_now, false) OR coalesce(l.open_jobs, 0) >= t.max_open_work_orders)"
# The state code (index in TECHNICIAN_STATES), as ``_state`` decides it; :off lists the
# working-hours patterns off shift now, :away the technicians in an absence now.
_STATE_CODE = (f"CASE WHEN t.working_hours::text = ANY(:off) OR t.id = ANY(CAST(:away AS bigint[])) THEN {STATE_CODES[STATE_OFF_SHIFT]} "
               f"WHEN {_BUSY} THEN {STATE_CODES[STATE_BUSY]} ELSE {STATE_CODES[STATE_AVAILABLE]} END")
_PRIORITY_CODE = ("CASE wo.priority " + " ".join(f"WHEN '{p}' THEN {c}" for p, c in PRIORITY_CODES.items())
                  + f" ELSE {DEFAULT_PRIORITY_CODE} END")

_LOADS_AND_NEXT_JOB = """
loads AS (
    SELECT technician_id,
           count(*) AS open_jobs,
           bool_or(status IN ('travelling', 'on_site')
                   OR (scheduled_start <= :now AND coalesce(scheduled_end,
                        scheduled_start + make_interval(mins => duration_minutes)) > :now)) AS busy_now
      FROM work_orders
     WHERE organization_id = :org AND technician_id IS NOT NULL AND status = ANY(:open)
       {wo_tech_filter}
     GROUP BY technician_id
), next_job AS (
    SELECT DISTINCT ON (wo.technician_id) wo.technician_id, wo.id AS work_order_id,
           coalesce(tk.location, s.location)::geometry AS g
      FROM work_orders wo
      JOIN tickets tk ON tk.id = wo.source_ticket_id
      LEFT JOIN sites s ON s.id = tk.site_id
     WHERE wo.organization_id = :org AND wo.technician_id IS NOT NULL AND wo.status = ANY(:open)
       AND coalesce(tk.location, s.location) IS NOT NULL
       {wo_tech_filter2}
     ORDER BY wo.technician_id, (wo.status IN ('travelling', 'on_site')) DESC, wo.scheduled_start NULLS LAST,
              wo.assigned_at NULLS LAST, wo.id
)"""

_TECHNICIANS_SQL = f"""
WITH {_LOADS_AND_NEXT_JOB}, away AS (
    SELECT DISTINCT technician_id FROM technician_absences
     WHERE organization_id = :org AND starts_at <= :now AND ends_at > :now
), skills AS (
    SELECT technician_id, jsonb_object_agg(skill, proficiency) AS skills
      FROM technician_skills
     WHERE organization_id = :org {{skill_filter}}
     GROUP BY technician_id
)
SELECT t.id, t.name, t.max_open_work_orders, t.location_updated_at, p.source,
       {_round6("ST_Y(p.g)")} AS lat, {_round6("ST_X(p.g)")} AS lon,
       coalesce(l.open_jobs, 0) AS open_jobs, t.working_hours::text AS hours_json, {_BUSY} AS busy,
       n.work_order_id AS next_id, {_round6("ST_Y(n.g)")} AS next_lat, {_round6("ST_X(n.g)")} AS next_lon,
       sk.skills::text AS skills_json,
       (SELECT o.timezone FROM organizations o WHERE o.id = :org) AS tz, a.technician_id IS NOT NULL AS away
  FROM technicians t
 CROSS JOIN LATERAL (SELECT {_TECH_POS} AS g, {_TECH_SOURCE} AS source) p
  LEFT JOIN loads l ON l.technician_id = t.id
  LEFT JOIN next_job n ON n.technician_id = t.id
  LEFT JOIN skills sk ON sk.technician_id = t.id
  LEFT JOIN away a ON a.technician_id = t.id
 WHERE t.organization_id = :org AND t.active {{tech_filter}}
 ORDER BY t.id
"""

_WO_POS = "coalesce(tk.location, s.location)::geometry"

_WORK_ORDERS_SQL = f"""
SELECT wo.id, wo.priority, wo.status, wo.work_type, wo.technician_id, tech.name AS technician_name,
       {_round6(f"ST_Y({_WO_POS})")} AS lat, {_round6(f"ST_X({_WO_POS})")} AS lon,
       tk.id AS ticket_id, tk.number AS ticket_number, tk.subject, tk.customer_name, s.address,
       wo.required_skills, wo.assignment_logic, wo.unassigned_reason, wo.scheduled_start, wo.created_at
  FROM work_orders wo
  LEFT JOIN tickets tk ON tk.id = wo.source_ticket_id
  LEFT JOIN sites s ON s.id = tk.site_id
  LEFT JOIN technicians tech ON tech.id = wo.technician_id
 WHERE wo.organization_id = :org AND wo.status = ANY(:statuses) {{wo_filter}}
 ORDER BY wo.id
"""


def _num(expr: str) -> str:
    """A number (or JSON null) as text."""
    return f"coalesce(({expr})::text, 'null')"


# The three arrays in one statement: the database formats the rows (about 10 ms per
# 10,000), the application passes the text on as it is.
_ARRAYS_SQL = f"""
WITH {_LOADS_AND_NEXT_JOB.format(wo_tech_filter="", wo_tech_filter2="")}, techs AS MATERIALIZED (
    SELECT t.id, {_TECH_POS} AS g, {_STATE_CODE} AS state
      FROM technicians t
      LEFT JOIN loads l ON l.technician_id = t.id
     WHERE t.organization_id = :org AND t.active
)
SELECT
  (SELECT string_agg('[' || p.id || ',' || {_num(_round6("ST_Y(p.g)"))} || ',' || {_num(_round6("ST_X(p.g)"))}
                     || ',' || p.state || ']', ',' ORDER BY p.id)
     FROM techs p) AS technicians,
  (SELECT string_agg('[' || n.technician_id || ',' || n.work_order_id
                     || ',' || {_round6("ST_Y(p.g)")} || ',' || {_round6("ST_X(p.g)")}
                     || ',' || {_round6("ST_Y(n.g)")} || ',' || {_round6("ST_X(n.g)")} || ']', ','
                     ORDER BY n.technician_id)
     FROM next_job n JOIN techs p ON p.id = n.technician_id
    WHERE p.g IS NOT NULL) AS routes,
  (SELECT string_agg('[' || wo.id || ',' || {_num(_round6("ST_Y(w.g)"))} || ',' || {_num(_round6("ST_X(w.g)"))}
                     || ',' || {_PRIORITY_CODE} || ',' || (CASE WHEN wo.technician_id IS NULL THEN 1 ELSE 0 END)
                     || ',' || coalesce(wo.technician_id::text, 'null') || ']', ',' ORDER BY wo.id)
     FROM work_orders wo
     LEFT JOIN tickets tk ON tk.id = wo.source_ticket_id
     LEFT JOIN sites s ON s.id = tk.site_id
    CROSS JOIN LATERAL (SELECT {_WO_POS} AS g) w
    WHERE wo.organization_id = :org AND wo.status = ANY(:statuses)) AS work_orders
"""

_SHIFT_PATTERNS_SQL = """
SELECT (SELECT o.timezone FROM organizations o WHERE o.id = :org) AS tz,
       array(SELECT DISTINCT t.working_hours::text FROM technicians t
              WHERE t.organization_id = :org AND t.active AND t.working_hours IS NOT NULL) AS patterns,
       array(SELECT a.technician_id FROM technician_absences a
              WHERE a.organization_id = :org AND a.starts_at <= :now AND a.ends_at > :now) AS away
"""


def _zone(name: str | None):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def on_shift(working_hours: Mapping | None, local_now: datetime) -> bool:
    """Whether ``local_now`` (in the organization's zone) falls inside the working hours.

    ``None`` or an empty mapping means "no known hours": on shift. Spans may cross
    midnight (["22:00", "06:00"]); the part after midnight belongs to the previous day's entry.
    """
    if not working_hours:
        return True
    minute = local_now.hour * 60 + local_now.minute
    today = _DAY_KEYS[local_now.weekday()]
    yesterday = _DAY_KEYS[(local_now.weekday() - 1) % 7]

    def spans(day: str):
        for span in working_hours.get(day) or ():
            try:
                start_s, end_s = span
                sh, sm = (int(x) for x in str(start_s).split(":"))
                eh, em = (int(x) for x in str(end_s).split(":"))
            except (TypeError, ValueError):
                continue
            yield sh * 60 + sm, eh * 60 + em

    for start, end in spans(today):
        if start <= end:
            if start <= minute < end:
                return True
        elif minute >= start:  # crosses midnight, evening part
            return True
    for start, end in spans(yesterday):
        if start > end and minute < end:  # crosses midnight, morning part
            return True
    return False


def _off_shift_now(uow: UnitOfWork, org_id: int, now: datetime) -> tuple[list[str], list[int]]:
    """(The working-hours patterns, as the database prints them, that are off shift now;
    the technicians in an absence now).

    Technicians share a handful of patterns: each is decided once with ``on_shift`` in the
    organization's time zone, and the arrays statement compares the text (``working_hours::text``)."""
    [(tz, patterns, away)] = sql.hot_rows(uow, _SHIFT_PATTERNS_SQL, {"org": org_id, "now": now})
    local_now = now.astimezone(_zone(tz))
    return [p for p in patterns or () if not on_shift(json.loads(p), local_now)], list(away or ())


def _tech_params(org_id: int, now: datetime) -> dict:
    return {"org": org_id, "now": now, "open": list(OPEN_WORK_ORDER_STATUSES), "fresh": fresh_after(now)}


def _state(off_shift: bool, busy: bool) -> str:
    """Off shift first, then busy, else available (``_STATE_CODE`` says the same in SQL)."""
    return STATE_OFF_SHIFT if off_shift else STATE_BUSY if busy else STATE_AVAILABLE


def _technicians_sql(ids: tuple[int, ...] | None) -> str:
    if ids is None:
        return _TECHNICIANS_SQL.format(wo_tech_filter="", wo_tech_filter2="", skill_filter="", tech_filter="")
    return _TECHNICIANS_SQL.format(
        wo_tech_filter="AND technician_id = ANY(:ids)",
        wo_tech_filter2="AND wo.technician_id = ANY(:ids)",
        skill_filter="AND technician_id = ANY(:ids)",
        tech_filter="AND t.id = ANY(:ids)",
    )


def _technicians(uow: UnitOfWork, org_id: int, now: datetime,
                 ids: tuple[int, ...] | None) -> tuple[tuple[MapTechnician, ...], tuple[MapRoute, ...]]:
    params = _tech_params(org_id, now)
    if ids is not None:
        params["ids"] = list(ids)
    techs: list[MapTechnician] = []
    routes: list[MapRoute] = []
    local_now = None
    off_shift: dict[str | None, bool] = {None: False}  # per working-hours pattern (a handful)
    for (tid, name, max_open, updated_at, source, lat, lon, open_jobs, hours_json, busy,
         next_id, next_lat, next_lon, skills_json, tz, away) in sql.hot_rows(uow, _technicians_sql(ids), params):
        off = off_shift.get(hours_json)
        if off is None:
            local_now = local_now or now.astimezone(_zone(tz))
            off = off_shift[hours_json] = not on_shift(json.loads(hours_json), local_now)
        techs.append(MapTechnician(tid, name, lat, lon, source, updated_at, _state(off or away, busy), open_jobs,
                                   max_open,
                                   skills_json, next_id))
        if next_id is not None and lat is not None and next_lat is not None:
            routes.append(MapRoute(tid, next_id, lat, lon, next_lat, next_lon))
    return tuple(techs), tuple(routes)


def _work_orders(uow: UnitOfWork, org_id: int, ids: tuple[int, ...] | None) -> tuple[MapWorkOrder, ...]:
    params: dict = {"org": org_id, "statuses": list(MAP_WORK_ORDER_STATUSES)}
    if ids is not None:
        query = _WORK_ORDERS_SQL.format(wo_filter="AND wo.id = ANY(:ids)")
        params["ids"] = list(ids)
    else:
        query = _WORK_ORDERS_SQL.format(wo_filter="")
    # Columns are in MapWorkOrder's field order (``number`` is computed here).
    return tuple(
        MapWorkOrder(r[0], work_order_number(r[0]), *r[1:13], tuple(r[13]) if r[13] else (), *r[14:])
        for r in sql.hot_rows(uow, query, params)
    )


def load_map_arrays(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> MapArrays:
    """What the map draws, as the page's data arrays (see ``MapArrays``): two short round
    trips (the off-shift patterns and absences, then one statement that formats all three arrays)."""
    now = now or datetime.now(UTC)
    with uow:
        params = _tech_params(actor.organization_id, now)
        params["off"], params["away"] = _off_shift_now(uow, actor.organization_id, now)
        params["statuses"] = list(MAP_WORK_ORDER_STATUSES)
        [(techs, routes, orders)] = sql.hot_rows(uow, _ARRAYS_SQL, params)
    return MapArrays(technicians=techs or "", work_orders=orders or "", routes=routes or "", generated_at=now)


def load_map_data(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> MapData:
    """Everything the map shows for the actor's organization, as plain rows (two queries)."""
    now = now or datetime.now(UTC)
    with uow:
        techs, routes = _technicians(uow, actor.organization_id, now, None)
        orders = _work_orders(uow, actor.organization_id, None)
    return MapData(technicians=techs, work_orders=orders, routes=routes, generated_at=now)


def load_map_changes(
    *,
    uow: UnitOfWork,
    actor: Actor,
    technician_ids: Iterable[int] = (),
    work_order_ids: Iterable[int] = (),
    now: datetime | None = None,
    include_order_technicians: bool = True,
) -> MapData:
    """The current map data for just these ids (live updates).

    With ``include_order_technicians`` the technicians now assigned to those work orders
    are refreshed too (their load, state and next-job line change with the order); pass
    the previously assigned technicians in ``technician_ids``.
    An id that was asked for but is absent from the result is no longer on the map
    (closed, deleted, deactivated, or another organization's).
    """
    now = now or datetime.now(UTC)
    wanted_techs = {int(i) for i in technician_ids}
    wo_ids = tuple(sorted({int(i) for i in work_order_ids}))
    techs: tuple[MapTechnician, ...] = ()
    routes: tuple[MapRoute, ...] = ()
    orders: tuple[MapWorkOrder, ...] = ()
    with uow:
        if wo_ids:
            orders = _work_orders(uow, actor.organization_id, wo_ids)
            if include_order_technicians:
                wanted_techs.update(w.technician_id for w in orders if w.technician_id is not None)
        tech_ids = tuple(sorted(wanted_techs))
        if tech_ids:
            techs, routes = _technicians(uow, actor.organization_id, now, tech_ids)
    return MapData(
        technicians=techs,
        work_orders=orders,
        routes=routes,
        generated_at=now,
        requested_technician_ids=tech_ids,
        requested_work_order_ids=wo_ids,
    )
