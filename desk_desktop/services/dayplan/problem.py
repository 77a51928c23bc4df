"""The day to plan, read from the database: the technicians' working time, breaks, absences,
skills, free capacity and start places; the visits that stay (pinned or under way); the
orders to place; and the road metres between all places (one PostGIS query).

A day is a local date of the organization. Its technicians are the active ones (or those
named) with working hours and a place to start from. Its orders are the open ones not under
way and not pinned: unassigned orders, orders assigned with no time yet (to one of the
day's technicians), and the day's booked visits of its technicians. An order whose customer
booked a window on another day, or that cannot be placed at all (no location, nobody on the
plan with its skills), is left out, with the reason.

``stamps`` are what a plan relies on (each order's and absence's state, each technician's
hours and limit); ``changed_since`` names what another workstation changed in between.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.db import sql
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.board import working_windows
from desk_desktop.domain.dayplan import DayProblem, FixedVisit, PlanOrder, PlanTechnician, places
from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES, PRIORITY_RANK, WorkOrderStatus
from desk_desktop.domain.scoring import parse_working_hours
from desk_desktop.services.assignment.job import organization_timezone
from desk_desktop.services.assignment.position import fresh_after, uses_current_location
from desk_desktop.services.common import Actor

MOVABLE = (WorkOrderStatus.UNASSIGNED.value, WorkOrderStatus.ASSIGNED.value, WorkOrderStatus.SCHEDULED.value)
UNDER_WAY = (WorkOrderStatus.TRAVELLING.value, WorkOrderStatus.ON_SITE.value, WorkOrderStatus.ON_HOLD.value)
# The priority's response time: the visit starts within it of the order's creation.
RESPONSE_HOURS = {"urgent": 4, "high": 24}


@dataclass(frozen=True)
class DayTechnician:
    id: int
    name: str
    planned: bool  # on the plan; else ``note`` says why not
    note: str = ""


@dataclass(frozen=True)
class DayOrder:
    """An order as the preview shows it, with its place in the plan before optimizing."""

    id: int
    number: str
    ticket_id: int | None
    ticket_number: str
    subject: str
    customer: str
    priority: str
    status: str
    technician_id: int | None
    start: datetime | None
    end: datetime | None
    duration_minutes: int
    lat: float | None
    lon: float | None
    address: str | None
    required_skills: tuple[str, ...]
    fixed: bool  # pinned or under way: stays where it is


@dataclass(frozen=True)
class DayInput:
    day: date
    timezone: str
    start: datetime  # local midnight
    end: datetime
    speed_kmh: float
    road_factor: float
    technician_ids: tuple[int, ...] | None  # as asked (None: every active technician)
    technicians: tuple[DayTechnician, ...]
    orders: tuple[DayOrder, ...]  # movable orders (in ``problem``) and fixed visits
    left_out: tuple[tuple[int, str], ...]  # (order id, why it cannot be planned)
    problem: DayProblem
    stamps: frozenset[tuple]

    def order(self, order_id: int) -> DayOrder:
        return next(o for o in self.orders if o.id == order_id)

    def name_of(self, technician_id: int | None) -> str:
        return next((t.name for t in self.technicians if t.id == technician_id), "nobody")


_TECHNICIANS = f"""
SELECT t.id, t.name, t.working_hours, t.max_open_work_orders,
       ST_Y(t.home_base::geometry) AS base_lat, ST_X(t.home_base::geometry) AS base_lon,
       CASE WHEN {uses_current_location()} THEN ST_Y(t.current_location::geometry) END AS now_lat,
       CASE WHEN {uses_current_location()} THEN ST_X(t.current_location::geometry) END AS now_lon,
       array(SELECT s.skill FROM technician_skills s
              WHERE s.organization_id = t.organization_id AND s.technician_id = t.id) AS skills,
       (SELECT count(*) FROM work_orders w WHERE w.organization_id = t.organization_id AND w.technician_id = t.id
           AND w.status = ANY(CAST(:open AS text[]))) AS open_jobs
  FROM technicians t
 WHERE t.organization_id = :org AND t.active AND (CAST(:only AS bigint[]) IS NULL OR t.id = ANY(CAST(:only AS bigint[])))
 ORDER BY t.name, t.id
"""

# The day's visits of its technicians, and every order waiting for a time that one of them
# (or anybody, when it has nobody) could take on that day.
_ORDERS = """
SELECT wo.id, wo.source_ticket_id, wo.updated_at, wo.technician_id, wo.status, wo.pinned, wo.scheduled_start,
       wo.scheduled_end,
       wo.duration_minutes, wo.required_skills, wo.priority, wo.window_start, wo.window_end, wo.created_at,
       coalesce(tk.number, '') AS ticket_number, coalesce(tk.subject, '') AS subject,
       coalesce(tk.customer_name, '') AS customer, s.address,
       ST_Y(coalesce(tk.location, s.location)::geometry) AS lat, ST_X(coalesce(tk.location, s.location)::geometry) AS lon
  FROM work_orders wo
  LEFT JOIN tickets tk ON tk.id = wo.source_ticket_id
  LEFT JOIN sites s ON s.id = tk.site_id
 WHERE wo.organization_id = :org AND wo.status = ANY(CAST(:statuses AS text[]))
   AND ((wo.technician_id = ANY(CAST(:techs AS bigint[])) AND wo.status <> 'unassigned'
         AND wo.scheduled_start < :end AND wo.scheduled_end > :start)
        OR ((wo.status = 'unassigned' OR (wo.status = 'assigned' AND wo.scheduled_start IS NULL))
            AND (wo.technician_id IS NULL OR wo.technician_id = ANY(CAST(:techs AS bigint[])))
            AND (wo.window_start IS NULL OR (wo.window_start < :end AND wo.window_end > :start))))
 ORDER BY wo.id
"""

_ABSENCES = """
SELECT id, technician_id, starts_at, ends_at, reason FROM technician_absences
 WHERE organization_id = :org AND technician_id = ANY(CAST(:techs AS bigint[]))
   AND starts_at < :end AND ends_at > :start
"""

# Road metres between every two places: the straight line on the sphere × the road factor.
_MATRIX = """
WITH p AS (SELECT i, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS g
             FROM unnest(CAST(:lats AS float8[]), CAST(:lons AS float8[])) WITH ORDINALITY AS u(lat, lon, i))
SELECT a.i, array_agg(ST_Distance(a.g, b.g, false) * :factor ORDER BY b.i) AS metres
  FROM p a CROSS JOIN p b
 GROUP BY a.i ORDER BY a.i
"""


def read_day(uow: UnitOfWork, actor: Actor, *, day: date, now: datetime, speed_kmh: float, road_factor: float,
             technician_ids: Sequence[int] | None = None) -> DayInput:
    """The day ``day`` as a problem for the planner (in the caller's transaction). On the
    current day nothing is planned before ``now``."""
    org = actor.organization_id
    tz = organization_timezone(uow, org)
    start = datetime.combine(day, datetime.min.time(), ZoneInfo(tz))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    earliest = max(start, _next_quarter(now))
    only = sorted(set(technician_ids)) if technician_ids is not None else None
    trows = sql.rows(uow, _TECHNICIANS, {"org": org, "open": list(OPEN_WORK_ORDER_STATUSES), "only": only,
                                        "fresh": fresh_after(now)})
    tech_ids = [t.id for t in trows]
    orows = sql.rows(uow, _ORDERS, {"org": org, "statuses": list(MOVABLE + UNDER_WAY), "techs": tech_ids,
                                    "start": start, "end": end})
    arows = sql.rows(uow, _ABSENCES, {"org": org, "techs": tech_ids, "start": start, "end": end})

    orders, fixed_of, left_out = [], {}, []
    for r in orows:
        fixed = r.pinned or r.status in UNDER_WAY
        booked = r.status != WorkOrderStatus.UNASSIGNED and r.scheduled_start is not None
        orders.append(DayOrder(
            id=r.id, number=work_order_number(r.id), ticket_id=r.source_ticket_id, ticket_number=r.ticket_number,
            subject=r.subject,
            customer=r.customer, priority=r.priority, status=r.status, technician_id=r.technician_id,
            start=r.scheduled_start if booked else None, end=r.scheduled_end if booked else None,
            duration_minutes=r.duration_minutes, lat=r.lat, lon=r.lon, address=r.address,
            required_skills=tuple(r.required_skills or ()), fixed=fixed))
        if fixed:
            fixed_of.setdefault(r.technician_id, []).append(r)
    away: dict[int, list] = {}
    for a in arows:
        away.setdefault(a.technician_id, []).append(a)

    # Each technician's open orders that the plan may move: they do not count against their limit.
    movable_of = Counter(r.technician_id for r in orows if not r.pinned and r.status in OPEN_WORK_ORDER_STATUSES
                         and r.status not in UNDER_WAY)
    techs, plan_techs = [], []
    for t in trows:
        shaped = _technician(t, tz, day, earliest, end, away.get(t.id, []), fixed_of.get(t.id, []),
                             movable_mine=movable_of[t.id])
        if isinstance(shaped, str):
            techs.append(DayTechnician(t.id, t.name, False, shaped))
        else:
            techs.append(DayTechnician(t.id, t.name, True))
            plan_techs.append(shaped)

    skills_on_plan = [p.skills for p in plan_techs]
    first_work = min((p.shift[0] for p in plan_techs), default=end)
    plan_orders = []
    for r in orows:
        if r.pinned or r.status in UNDER_WAY:
            continue
        required = frozenset(r.required_skills or ())
        if r.lat is None:
            left_out.append((r.id, "its ticket has no location"))
        elif not any(required <= s for s in skills_on_plan):
            left_out.append((r.id, "nobody on the plan has " + ", ".join(sorted(required)) if required
                             else "nobody is on the plan"))
        else:
            plan_orders.append(PlanOrder(
                id=r.id, lat=r.lat, lon=r.lon, duration_minutes=r.duration_minutes, skills=required,
                priority=PRIORITY_RANK.get(r.priority, 0), window=_window(r, start, end, first_work),
                booked=r.status != WorkOrderStatus.UNASSIGNED and r.scheduled_start is not None))
    problem = DayProblem(day_start=start, technicians=tuple(plan_techs), orders=tuple(plan_orders),
                         metres=_matrix(uow, places(plan_techs, plan_orders), road_factor), speed_kmh=speed_kmh)
    stamps = frozenset(
        [("order", r.id, r.updated_at) for r in orows]
        + [("absence", a.id, a.technician_id, a.starts_at, a.ends_at) for a in arows]
        + [("technician", t.id, repr(t.working_hours), t.max_open_work_orders) for t in trows])
    return DayInput(day=day, timezone=tz, start=start, end=end, speed_kmh=speed_kmh, road_factor=road_factor,
                    technician_ids=tuple(only) if only is not None else None, technicians=tuple(techs),
                    orders=tuple(orders), left_out=tuple(left_out), problem=problem, stamps=stamps)


def changed_since(before: DayInput, now: DayInput) -> list[str]:
    """What changed between two reads of a day that a plan made from ``before`` relies on,
    in words; a new order waiting for anybody does not count (it just waits)."""
    out = []
    waiting_new = {o.id for o in now.orders if o.technician_id is None}
    for stamp in sorted(before.stamps ^ now.stamps, key=repr):
        kind, ident = stamp[0], stamp[1]
        if kind == "order":
            if stamp in now.stamps and ident in waiting_new and not any(s[:2] == stamp[:2] for s in before.stamps):
                continue
            text = f"{work_order_number(ident)} changed"
        elif kind == "absence":
            text = f"{now.name_of(stamp[2]) if stamp[2] else 'a technician'}'s time off changed"
        else:
            text = f"{now.name_of(ident)}'s working hours or limit changed"
        if text not in out:
            out.append(text)
    return out


def _technician(t, tz: str, day: date, earliest: datetime, day_end: datetime, absences: list, fixed: list, *,
                movable_mine: int) -> PlanTechnician | str:
    """The technician as the planner sees them (times in the organization's zone), or why they
    are not on the plan."""
    zone = ZoneInfo(tz)
    hours = parse_working_hours(t.working_hours)
    if hours is None:
        return "no working hours"
    windows = working_windows(hours, tz, day, 1)
    if not windows:
        return "not working that day"
    base = (t.base_lat, t.base_lon) if t.base_lat is not None else None
    here = (t.now_lat, t.now_lon) if t.now_lat is not None else None
    if base is None and here is None:
        return "no home base"
    start_at = here if here is not None and earliest > windows[0][0] else (base or here)
    first = max(windows[0][0], earliest)
    last = windows[-1][1]
    visits = []
    for r in sorted(fixed, key=lambda r: r.scheduled_start):
        if r.scheduled_end <= first:
            continue
        if r.scheduled_start < first:  # under way now: the day goes on from there when it ends
            first = r.scheduled_end
            if r.lat is not None:
                start_at = (r.lat, r.lon)
            continue
        visits.append(FixedVisit(r.id, r.lat, r.lon, r.scheduled_start.astimezone(zone), r.scheduled_end.astimezone(zone)))
    breaks = [(a, b) for (_, a), (b, _) in zip(windows, windows[1:], strict=False)]
    breaks += [(a.starts_at.astimezone(zone), a.ends_at.astimezone(zone)) for a in absences]
    breaks = [(max(a, first), min(b, last)) for a, b in breaks if b > first and a < last]
    if first >= last:
        return "their working day is over"
    if any(a <= first and b >= last for a, b in breaks):
        reason = next((a.reason for a in absences), "")
        return f"away ({reason})" if reason else "no working time left"
    free = t.max_open_work_orders - (t.open_jobs - movable_mine)
    return PlanTechnician(id=t.id, start=start_at, end=base or here, shift=(first, last),
                          skills=frozenset(t.skills or ()), breaks=tuple(sorted(breaks)), visits=tuple(visits),
                          capacity=max(0, free))


def _window(r, day_start: datetime, day_end: datetime, first_work: datetime) -> tuple[datetime, datetime] | None:
    """When the visit must start: inside the customer's booked window, and within the
    priority's response time — as far as either falls on the day. A response time that
    runs out before anybody starts work that day is already missed: the priority alone
    puts the order first."""
    lo, hi = day_start, day_end
    if r.window_start is not None:
        lo, hi = max(lo, r.window_start), min(hi, r.window_end)
    hours = RESPONSE_HOURS.get(r.priority)
    if hours is not None:
        due = r.created_at + timedelta(hours=hours)
        if max(lo, first_work) < due < hi:
            hi = due
    zone = day_start.tzinfo
    return (lo.astimezone(zone), hi.astimezone(zone)) if (lo, hi) != (day_start, day_end) and hi > lo else None


def _matrix(uow: UnitOfWork, points: list[tuple[float, float]], road_factor: float) -> tuple[tuple[float, ...], ...]:
    if not points:
        return ()
    rows = sql.rows(uow, _MATRIX, {"lats": [p[0] for p in points], "lons": [p[1] for p in points],
                                   "factor": road_factor})
    return tuple(tuple(r.metres) for r in rows)


def _next_quarter(now: datetime) -> datetime:
    """``now`` rounded up to the next quarter hour (nobody is sent out this very minute)."""
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=(-now.minute) % 15 or 15)
