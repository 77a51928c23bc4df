"""A whole day planned at once, solved as a vehicle routing problem with VROOM (pyvroom) —
pure, no database.

A ``DayProblem`` is the day's technicians (working time, breaks and absences as fixed time,
skills, free capacity, where they start and end), the visits that must stay where they are
(pinned or started: they keep their technician and time, and the drive to and from them
counts), and the orders to place (site, duration, skills, priority, time window). Travel is
given as a matrix of road metres between the problem's places (``places``: each
technician's start and end, then each fixed visit, then each order), driven at
``speed_kmh``. ``solve_day`` returns who does which order when, and the orders that fit
nobody. VROOM holds the interpreter lock while it solves: call it from another process when
something must stay responsive (``services/dayplan/solver.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import vroom

from desk_desktop.domain.travel import km_between

MAX_PRIORITY = 100  # VROOM's highest job priority
PRIORITY_STEP = 30  # per rank of the order's priority (low 0 … urgent 90)
BOOKED_BONUS = 10  # an order booked today is kept rather than a new one of the same priority
UNLIMITED = 10**6  # the capacity of a technician with no limit


@dataclass(frozen=True)
class FixedVisit:
    """A visit that does not move: pinned, or started."""

    order_id: int
    lat: float | None
    lon: float | None
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PlanTechnician:
    id: int
    start: tuple[float, float]  # (lat, lon) where the day starts: home base, or where they are now
    end: tuple[float, float]  # where it ends: home base
    shift: tuple[datetime, datetime]
    skills: frozenset[str] = frozenset()
    breaks: tuple[tuple[datetime, datetime], ...] = ()  # absences and the gaps between working hours
    visits: tuple[FixedVisit, ...] = ()
    capacity: int = UNLIMITED  # how many more open orders they may take


@dataclass(frozen=True)
class PlanOrder:
    id: int
    lat: float
    lon: float
    duration_minutes: int
    skills: frozenset[str] = frozenset()
    priority: int = 0  # 0 low … 3 urgent
    window: tuple[datetime, datetime] | None = None  # the visit must start inside it
    booked: bool = False  # it has a visit today: kept in preference to a new order


@dataclass(frozen=True)
class DayProblem:
    day_start: datetime
    technicians: tuple[PlanTechnician, ...]
    orders: tuple[PlanOrder, ...]
    metres: tuple[tuple[float, ...], ...]  # road metres between ``places(problem)``
    speed_kmh: float = 40.0


@dataclass(frozen=True)
class PlannedVisit:
    order_id: int
    technician_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class DayPlan:
    visits: tuple[PlannedVisit, ...]  # the orders placed, by technician and time (fixed visits not included)
    unassigned: tuple[int, ...]  # orders that fit nobody
    routes: dict[int, tuple[int, ...]]  # technician -> every stop of their day in order, fixed visits included
    driving_km: float


def places(technicians: Sequence[PlanTechnician], orders: Sequence[PlanOrder]) -> list[tuple[float, float]]:
    """The problem's places in matrix order: each technician's start and end, each located
    fixed visit, each order."""
    out = [p for t in technicians for p in (t.start, t.end)]
    out += [(v.lat, v.lon) for t in technicians for v in t.visits if v.lat is not None]
    return out + [(o.lat, o.lon) for o in orders]


def place_index(problem: DayProblem) -> dict[int, int]:
    """Each located fixed visit's and each order's row in ``problem.metres`` (``places`` order)."""
    ids = [v.order_id for t in problem.technicians for v in t.visits if v.lat is not None]
    ids += [o.id for o in problem.orders]
    first = 2 * len(problem.technicians)
    return {order_id: first + k for k, order_id in enumerate(ids)}


def day_km(problem: DayProblem, technician: int, stops: Sequence[int]) -> float:
    """Kilometres of the day of the ``technician``-th technician: from their start through the
    places ``stops`` (rows of the matrix) to their end; none without stops."""
    if not stops:
        return 0.0
    path = [2 * technician, *stops, 2 * technician + 1]
    return sum(problem.metres[a][b] for a, b in zip(path, path[1:], strict=False)) / 1000


def straight_metres(points: Sequence[tuple[float, float]], road_factor: float) -> tuple[tuple[float, ...], ...]:
    """The straight line × ``road_factor`` between every two points, in metres (what the
    database computes with PostGIS, for problems built without one)."""
    return tuple(tuple(km_between(a, b) * 1000 * road_factor for b in points) for a in points)


def solve_day(problem: DayProblem, *, seconds: float = 10.0) -> DayPlan:
    """The plan VROOM finds within ``seconds``: who does which order when.

    A fixed visit keeps its time whatever happens: one that cannot be reached in time (from
    the start of the day or from the fixed visit before it), one inside a break, or one the
    solver could not keep, is kept as time taken, like a break — the drive to it then does
    not count (the board shows it)."""
    if not problem.technicians or not problem.orders:  # nothing to place, or nobody to place it with
        return DayPlan(visits=(), unassigned=tuple(o.id for o in problem.orders),
                       routes={t.id: tuple(v.order_id for v in t.visits) for t in problem.technicians}, driving_km=0.0)
    secs = [[round(m / 1000 / problem.speed_kmh * 3600) for m in row] for row in problem.metres]
    taken = _unreachable(problem, secs)
    plan, dropped = _solve(problem, secs, taken, seconds)
    if dropped:
        plan, _ = _solve(problem, secs, taken | dropped, seconds)
    return plan


def solve_by(problem: DayProblem, deadline: float) -> DayPlan:
    """``solve_day`` that answers by ``deadline`` (``time.time()``; a process started to solve
    spends part of the budget starting), keeping a second to finish the search step it is in
    and hand the plan back."""
    return solve_day(problem, seconds=max(0.5, deadline - time.time() - 1.0))


def _unreachable(problem: DayProblem, secs: list[list[int]]) -> set[int]:
    """The fixed visits that are kept as time taken rather than as stops."""
    out = set()
    place = 2 * len(problem.technicians)
    for i, t in enumerate(problem.technicians):
        at, free = 2 * i, t.shift[0]
        for v in t.visits:
            if v.lat is None:
                continue
            here, place = place, place + 1
            inside = any(a < v.end and v.start < b for a, b in t.breaks)
            if inside or free + timedelta(seconds=secs[at][here]) > v.start:
                out.add(v.order_id)
            else:
                at, free = here, v.end
    return out


def _merged(spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _solve(problem: DayProblem, secs: list[list[int]], taken: set[int], seconds: float) -> tuple[DayPlan, set[int]]:
    """One VROOM run, the fixed visits in ``taken`` as breaks; also returns the fixed visits
    the solver left out."""
    techs, orders, day_start, metres = problem.technicians, problem.orders, problem.day_start, problem.metres
    skill_ids = {s: i for i, s in enumerate(sorted({s for o in orders for s in o.skills}
                                                  | {s for t in techs for s in t.skills}))}
    own_skill = len(skill_ids)  # one more skill per technician: only they can do their fixed visits

    def at(t: datetime) -> int:
        return max(0, int((t - day_start).total_seconds()))

    vr = vroom.Input()
    vr.set_durations_matrix("car", secs)
    vr.set_distances_matrix("car", [[round(m) for m in row] for row in metres])
    jobs: dict[int, tuple[int, int]] = {}  # VROOM job id -> (order id, minutes); fixed visits too
    fixed_jobs: set[int] = set()
    place = 2 * len(techs)
    for i, t in enumerate(techs):
        spans = list(t.breaks)
        for v in t.visits:
            located = v.lat is not None
            if not located or v.order_id in taken:
                spans.append((v.start, v.end))
                place += located
                continue
            minutes = round((v.end - v.start).total_seconds() / 60)
            job = len(jobs)
            jobs[job] = (v.order_id, minutes)
            fixed_jobs.add(job)
            vr.add_job(vroom.Job(id=job, location=place, default_service=minutes * 60, skills={own_skill + i},
                                 priority=MAX_PRIORITY, delivery=[0],
                                 time_windows=[vroom.TimeWindow(at(v.start), at(v.start))]))
            place += 1
        breaks = [vroom.Break(id=i * 1000 + k, time_windows=[vroom.TimeWindow(at(a), at(a))], service=at(b) - at(a))
                  for k, (a, b) in enumerate(_merged(spans))]
        vr.add_vehicle(vroom.Vehicle(
            id=i, start=2 * i, end=2 * i + 1, skills={skill_ids[s] for s in t.skills} | {own_skill + i},
            capacity=[max(0, t.capacity)], time_window=vroom.TimeWindow(at(t.shift[0]), at(t.shift[1])),
            breaks=breaks))
    first_order_job = len(jobs)
    for j, o in enumerate(orders):
        windows = [vroom.TimeWindow(at(o.window[0]), at(o.window[1]))] if o.window else []
        jobs[first_order_job + j] = (o.id, o.duration_minutes)
        vr.add_job(vroom.Job(
            id=first_order_job + j, location=place + j, default_service=o.duration_minutes * 60, delivery=[1],
            skills={skill_ids[s] for s in o.skills},
            priority=min(MAX_PRIORITY, o.priority * PRIORITY_STEP + (BOOKED_BONUS if o.booked else 0)),
            time_windows=windows))
    solution = vr.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=seconds))

    movable = {o.id for o in orders}
    visits, routes, km = [], {}, 0.0
    stops: dict[int, list[tuple[int, int]]] = {}  # technician index -> (job id, location index) in order
    for row in solution.routes.itertuples():
        if row.type == "job":
            stops.setdefault(int(row.vehicle_id), []).append((int(row.id), int(row.location_index)))
            order_id, minutes = jobs[int(row.id)]
            if order_id in movable:
                start = day_start + timedelta(seconds=int(row.arrival) + int(row.waiting_time))
                visits.append(PlannedVisit(order_id, techs[int(row.vehicle_id)].id, start,
                                           start + timedelta(minutes=minutes)))
    for i, t in enumerate(techs):
        mine = stops.get(i, [])
        routes[t.id] = tuple(jobs[j][0] for j, _ in mine)
        km += day_km(problem, i, [loc for _, loc in mine])
    served = {v.order_id for v in visits}
    kept = {j for _, j_list in stops.items() for j, _ in j_list} & fixed_jobs
    plan = DayPlan(visits=tuple(sorted(visits, key=lambda v: (v.technician_id, v.start))),
                   unassigned=tuple(o.id for o in orders if o.id not in served), routes=routes, driving_km=km)
    return plan, {jobs[j][0] for j in fixed_jobs - kept}
