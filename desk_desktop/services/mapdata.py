"""Plain data for the dispatch map: technicians, open work orders, and routes.

``load_map_data`` answers "what is on the map" with one query for the technicians and one
for the work orders (no per-row queries, so 10,000 of each stay fast).
``load_map_changes`` answers the same for a few ids after a live change, so the map can
move a marker without reloading everything.

Coordinates are rounded to 6 decimals (about 0.1 m) by the database. Positions follow
the assignment service's rule, so a candidate's distance matches where
the map draws them: a technician is at their current location if it was reported within
``LOCATION_FRESH_FOR`` (or if they have no home base), else at their home base. A work
order is at its ticket's location, else at the ticket's site.

Technician state:
- ``off_shift``: outside their working hours now (in the organization's time zone);
  technicians with no known hours count as on shift.
- ``busy``: a job in progress, a job scheduled for right now, or at their open-job limit.
- ``available``: otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus
from desk_desktop.services.assignment import FRESH_LOCATION_HOURS
from desk_desktop.services.common import Actor

LOCATION_FRESH_FOR = timedelta(hours=FRESH_LOCATION_HOURS)

# What the map shows as work: unassigned orders plus those counting toward a technician's load.
MAP_WORK_ORDER_STATUSES: tuple[str, ...] = (WorkOrderStatus.UNASSIGNED.value,) + tuple(
    str(s) for s in OPEN_WORK_ORDER_STATUSES
)

STATE_AVAILABLE = "available"
STATE_BUSY = "busy"
STATE_OFF_SHIFT = "off_shift"
TECHNICIAN_STATES = (STATE_AVAILABLE, STATE_BUSY, STATE_OFF_SHIFT)

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


_TECHNICIANS_SQL = """
WITH loads AS (
    SELECT technician_id,
           count(*) AS open_jobs,
           bool_or(status = 'in_progress'
                   OR (scheduled_start <= %(now)s AND coalesce(scheduled_end,
                        scheduled_start + make_interval(mins => duration_minutes)) > %(now)s)) AS busy_now
      FROM work_orders
     WHERE organization_id = %(org)s AND technician_id IS NOT NULL AND status = ANY(%(open)s)
       {wo_tech_filter}
     GROUP BY technician_id
), next_job AS (
    SELECT DISTINCT ON (wo.technician_id) wo.technician_id, wo.id AS work_order_id,
           coalesce(tk.location, s.location)::geometry AS g
      FROM work_orders wo
      JOIN tickets tk ON tk.id = wo.source_ticket_id
      LEFT JOIN sites s ON s.id = tk.site_id
     WHERE wo.organization_id = %(org)s AND wo.technician_id IS NOT NULL AND wo.status = ANY(%(open)s)
       AND coalesce(tk.location, s.location) IS NOT NULL
       {wo_tech_filter2}
     ORDER BY wo.technician_id, (wo.status = 'in_progress') DESC, wo.scheduled_start NULLS LAST,
              wo.assigned_at NULLS LAST, wo.id
), skills AS (
    SELECT technician_id, jsonb_object_agg(skill, proficiency) AS skills
      FROM technician_skills
     WHERE organization_id = %(org)s {skill_filter}
     GROUP BY technician_id
)
SELECT t.id, t.name, t.max_open_work_orders, t.working_hours::text AS hours_json, t.location_updated_at,
       p.source,
       round(ST_Y(p.pos::geometry)::numeric, 6)::float8 AS lat, round(ST_X(p.pos::geometry)::numeric, 6)::float8 AS lon,
       coalesce(l.open_jobs, 0) AS open_jobs, coalesce(l.busy_now, false) AS busy_now,
       n.work_order_id AS next_id, round(ST_Y(n.g)::numeric, 6)::float8 AS next_lat, round(ST_X(n.g)::numeric, 6)::float8 AS next_lon,
       sk.skills::text AS skills_json,
       (SELECT o.timezone FROM organizations o WHERE o.id = %(org)s) AS tz
  FROM technicians t
 CROSS JOIN LATERAL (
       SELECT CASE WHEN u.use_current THEN t.current_location ELSE t.home_base END AS pos,
              CASE WHEN u.use_current THEN 'current' WHEN t.home_base IS NOT NULL THEN 'home' END AS source
         FROM (SELECT t.current_location IS NOT NULL
                      AND (coalesce(t.location_updated_at >= %(fresh_after)s, false) OR t.home_base IS NULL)
                      AS use_current) u
       ) p
  LEFT JOIN loads l ON l.technician_id = t.id
  LEFT JOIN next_job n ON n.technician_id = t.id
  LEFT JOIN skills sk ON sk.technician_id = t.id
 WHERE t.organization_id = %(org)s AND t.active {tech_filter}
 ORDER BY t.id
"""

_WORK_ORDERS_SQL = """
SELECT wo.id, wo.priority, wo.status, wo.work_type, wo.technician_id, tech.name AS technician_name,
       round(ST_Y(coalesce(tk.location, s.location)::geometry)::numeric, 6)::float8 AS lat,
       round(ST_X(coalesce(tk.location, s.location)::geometry)::numeric, 6)::float8 AS lon,
       tk.id AS ticket_id, tk.number AS ticket_number, tk.subject, tk.customer_name, s.address,
       wo.required_skills, wo.assignment_logic, wo.unassigned_reason, wo.scheduled_start, wo.created_at
  FROM work_orders wo
  LEFT JOIN tickets tk ON tk.id = wo.source_ticket_id
  LEFT JOIN sites s ON s.id = tk.site_id
  LEFT JOIN technicians tech ON tech.id = wo.technician_id
 WHERE wo.organization_id = %(org)s AND wo.status = ANY(%(statuses)s) {wo_filter}
 ORDER BY wo.id
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


def _row_chunks(uow: UnitOfWork, sql: str, params: dict, chunk_size: int | None) -> Iterator[list[tuple]]:
    """Plain tuples from the driver, in the unit of work's transaction.

    The map reads up to tens of thousands of rows on every refresh; SQLAlchemy's Row
    objects would double the cost of fetching them. The SQL uses psycopg's ``%(name)s``.
    With ``chunk_size`` a server-side cursor streams the rows in chunks, so a caller can
    hand the first ones on while the rest are still coming.
    """
    driver = uow.session.connection().connection.driver_connection
    if chunk_size is None:
        with driver.cursor() as cur:
            cur.execute(sql, params)
            yield cur.fetchall()
        return
    with driver.cursor(name="desk_map_rows") as cur:
        cur.execute(sql, params)
        while True:
            rows = cur.fetchmany(chunk_size)
            if not rows:
                return
            yield rows


def _technicians_sql(ids: tuple[int, ...] | None) -> str:
    if ids is None:
        return _TECHNICIANS_SQL.format(wo_tech_filter="", wo_tech_filter2="", skill_filter="", tech_filter="")
    return _TECHNICIANS_SQL.format(
        wo_tech_filter="AND technician_id = ANY(%(ids)s)",
        wo_tech_filter2="AND wo.technician_id = ANY(%(ids)s)",
        skill_filter="AND technician_id = ANY(%(ids)s)",
        tech_filter="AND t.id = ANY(%(ids)s)",
    )


def _technician_chunks(uow: UnitOfWork, org_id: int, now: datetime, ids: tuple[int, ...] | None,
                       chunk_size: int | None) -> Iterator[tuple[tuple[MapTechnician, ...], tuple[MapRoute, ...]]]:
    params = {
        "org": org_id,
        "now": now,
        "open": list(OPEN_WORK_ORDER_STATUSES),
        "fresh_after": now - LOCATION_FRESH_FOR,
    }
    if ids is not None:
        params["ids"] = list(ids)
    local_now = None
    shift_cache: dict[str | None, bool] = {}  # technicians share a handful of shift patterns
    for rows in _row_chunks(uow, _technicians_sql(ids), params, chunk_size):
        techs: list[MapTechnician] = []
        routes: list[MapRoute] = []
        for (tid, name, max_open, hours_json, updated_at, source, lat, lon, open_jobs, busy_now,
             next_id, next_lat, next_lon, skills_json, tz) in rows:
            if local_now is None:
                local_now = now.astimezone(_zone(tz))
            working = shift_cache.get(hours_json)
            if working is None:
                working = on_shift(json.loads(hours_json) if hours_json else None, local_now)
                shift_cache[hours_json] = working
            if not working:
                state = STATE_OFF_SHIFT
            elif busy_now or open_jobs >= max_open:
                state = STATE_BUSY
            else:
                state = STATE_AVAILABLE
            techs.append(MapTechnician(tid, name, lat, lon, source, updated_at, state, open_jobs, max_open,
                                       skills_json, next_id))
            if next_id is not None and lat is not None and next_lat is not None:
                routes.append(MapRoute(tid, next_id, lat, lon, next_lat, next_lon))
        yield tuple(techs), tuple(routes)


def _technicians(uow: UnitOfWork, org_id: int, now: datetime, ids: tuple[int, ...] | None):
    techs: tuple[MapTechnician, ...] = ()
    routes: tuple[MapRoute, ...] = ()
    for t, r in _technician_chunks(uow, org_id, now, ids, None):
        techs, routes = techs + t, routes + r
    return techs, routes


def _work_order_chunks(uow: UnitOfWork, org_id: int, ids: tuple[int, ...] | None,
                       chunk_size: int | None) -> Iterator[tuple[MapWorkOrder, ...]]:
    params: dict = {"org": org_id, "statuses": list(MAP_WORK_ORDER_STATUSES)}
    if ids is not None:
        sql = _WORK_ORDERS_SQL.format(wo_filter="AND wo.id = ANY(%(ids)s)")
        params["ids"] = list(ids)
    else:
        sql = _WORK_ORDERS_SQL.format(wo_filter="")
    for rows in _row_chunks(uow, sql, params, chunk_size):
        # Columns are in MapWorkOrder's field order (``number`` is computed here).
        yield tuple(
            MapWorkOrder(r[0], work_order_number(r[0]), *r[1:13], tuple(r[13]) if r[13] else (), *r[14:])
            for r in rows
        )


def _work_orders(uow: UnitOfWork, org_id: int, ids: tuple[int, ...] | None) -> tuple[MapWorkOrder, ...]:
    out: tuple[MapWorkOrder, ...] = ()
    for chunk in _work_order_chunks(uow, org_id, ids, None):
        out += chunk
    return out


def iter_map_technicians(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None,
                         chunk_size: int = 2500) -> Iterator[MapData]:
    """The technicians (and their next-job lines) in chunks, one query streamed from a
    server-side cursor: the map draws the first ones while the rest are still read.
    Consume it completely on one thread (it holds the unit of work open)."""
    now = now or datetime.now(UTC)
    with uow:
        for techs, routes in _technician_chunks(uow, actor.organization_id, now, None, chunk_size):
            yield MapData(technicians=techs, work_orders=(), routes=routes, generated_at=now)


def iter_map_work_orders(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None,
                         chunk_size: int = 2500) -> Iterator[MapData]:
    """The open work orders in chunks (one streamed query); see ``iter_map_technicians``."""
    now = now or datetime.now(UTC)
    with uow:
        for orders in _work_order_chunks(uow, actor.organization_id, None, chunk_size):
            yield MapData(technicians=(), work_orders=orders, routes=(), generated_at=now)


def load_map_data(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> MapData:
    """Everything the map shows for the actor's organization (two queries)."""
    now = now or datetime.now(UTC)
    with uow:
        techs, routes = _technicians(uow, actor.organization_id, now, None)
        orders = _work_orders(uow, actor.organization_id, None)
    return MapData(technicians=techs, work_orders=orders, routes=routes, generated_at=now)


def load_map_technicians(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> MapData:
    """Only the technicians and their next-job lines (one query): the map can draw them
    while the work orders are still being read."""
    now = now or datetime.now(UTC)
    with uow:
        techs, routes = _technicians(uow, actor.organization_id, now, None)
    return MapData(technicians=techs, work_orders=(), routes=routes, generated_at=now)


def load_map_work_orders(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> MapData:
    """Only the open work orders (one query)."""
    now = now or datetime.now(UTC)
    with uow:
        orders = _work_orders(uow, actor.organization_id, None)
    return MapData(technicians=(), work_orders=orders, routes=(), generated_at=now)


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
