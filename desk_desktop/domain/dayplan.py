"""A whole day planned at once: technicians with shifts, breaks and skills, orders with
durations, skills, priorities and time windows, solved as a vehicle routing problem with
VROOM (pyvroom) — pure, no database.

Times are seconds from ``day_start``; travel is the straight line × ``road_factor`` at
``speed_kmh`` (the database gives the same distances with PostGIS; here they are computed
from the coordinates so the solver can be tested on its own). A technician starts and ends
at their base. Fixed time (absences, visits that are started or pinned) is a break of that
exact time. Orders that fit nobody stay unassigned, with the reason the solver gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import asin, cos, radians, sin, sqrt

import vroom

EARTH_KM = 6371.0088


@dataclass(frozen=True)
class PlanTechnician:
    id: int
    lat: float
    lon: float
    shift: tuple[datetime, datetime]
    skills: frozenset[str] = frozenset()
    fixed: tuple[tuple[datetime, datetime], ...] = ()  # absences, started or pinned visits


@dataclass(frozen=True)
class PlanOrder:
    id: int
    lat: float
    lon: float
    duration_minutes: int
    skills: frozenset[str] = frozenset()
    priority: int = 0  # 0 low … 3 urgent
    window: tuple[datetime, datetime] | None = None  # the visit must start inside it


@dataclass(frozen=True)
class PlannedVisit:
    order_id: int
    technician_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class DayPlan:
    visits: tuple[PlannedVisit, ...]
    unassigned: tuple[int, ...]
    driving_km: float


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    (la1, lo1), (la2, lo2) = a, b
    h = sin(radians(la2 - la1) / 2) ** 2 + cos(radians(la1)) * cos(radians(la2)) * sin(radians(lo2 - lo1) / 2) ** 2
    return 2 * EARTH_KM * asin(sqrt(h))


def solve_day(technicians: Sequence[PlanTechnician], orders: Sequence[PlanOrder], *, day_start: datetime,
              speed_kmh: float = 40.0, road_factor: float = 1.3, seconds: float = 10.0) -> DayPlan:
    """The plan VROOM finds within ``seconds``: who does which order when."""
    places = [(t.lat, t.lon) for t in technicians] + [(o.lat, o.lon) for o in orders]
    km = [[km_between(a, b) * road_factor for b in places] for a in places]
    secs = [[round(d / speed_kmh * 3600) for d in row] for row in km]
    skill_ids = {s: i for i, s in enumerate(sorted({s for o in orders for s in o.skills}
                                                  | {s for t in technicians for s in t.skills}))}

    def at(t: datetime) -> int:
        return max(0, int((t - day_start).total_seconds()))

    problem = vroom.Input()
    problem.set_durations_matrix("car", secs)
    problem.set_distances_matrix("car", [[round(d * 1000) for d in row] for row in km])
    for i, t in enumerate(technicians):
        breaks = [vroom.Break(id=i * 1000 + k, time_windows=[vroom.TimeWindow(at(a), at(a))],
                              service=at(b) - at(a)) for k, (a, b) in enumerate(t.fixed)]
        problem.add_vehicle(vroom.Vehicle(
            id=i, start=i, end=i, skills={skill_ids[s] for s in t.skills},
            time_window=vroom.TimeWindow(at(t.shift[0]), at(t.shift[1])), breaks=breaks))
    for j, o in enumerate(orders):
        windows = [vroom.TimeWindow(at(o.window[0]), at(o.window[1]))] if o.window else []
        problem.add_job(vroom.Job(
            id=j, location=len(technicians) + j, default_service=o.duration_minutes * 60,
            skills={skill_ids[s] for s in o.skills}, priority=min(100, o.priority * 30), time_windows=windows))
    solution = problem.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=seconds))
    routes = solution.routes
    visits = []
    for row in routes.itertuples():
        if row.type != "job":
            continue
        o, t = orders[int(row.id)], technicians[int(row.vehicle_id)]
        start = day_start + timedelta(seconds=int(row.arrival) + int(getattr(row, "waiting_time", 0)))
        visits.append(PlannedVisit(o.id, t.id, start, start + timedelta(minutes=o.duration_minutes)))
    served = {v.order_id for v in visits}
    return DayPlan(visits=tuple(sorted(visits, key=lambda v: (v.technician_id, v.start))),
                   unassigned=tuple(o.id for o in orders if o.id not in served),
                   driving_km=route_km(technicians, orders, visits, road_factor))


def route_km(technicians: Sequence[PlanTechnician], orders: Sequence[PlanOrder], visits: Sequence[PlannedVisit],
             road_factor: float = 1.3) -> float:
    """Driving of a plan: each technician from base through their visits in time order and back."""
    where = {o.id: (o.lat, o.lon) for o in orders}
    total = 0.0
    for t in technicians:
        stops = [where[v.order_id] for v in sorted(visits, key=lambda v: v.start) if v.technician_id == t.id]
        path = [(t.lat, t.lon), *stops, (t.lat, t.lon)] if stops else []
        total += sum(km_between(a, b) for a, b in zip(path, path[1:], strict=False)) * road_factor
    return total
