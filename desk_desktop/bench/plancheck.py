"""An independent checker of a day plan: the rules of the day broken by a list of planned
visits, found from the ``DayProblem`` alone, and the kilometres the plan drives — so that
every plan (greedy, optimized, reference) is judged and measured the same way, never by a
solver's own report.

Rules: each visit inside its technician's shift, outside their breaks, overlapping none of
their fixed visits nor their other visits, with time to drive to it and on to the next stop
(the technician's start and end places included; an absence or a fixed visit without a
place between two stops is time they cannot drive), lasting the order's duration, starting
inside the order's window, by a technician with the order's skills, no more visits than a
technician's capacity, each order placed once, and only the day's orders and technicians.
Drives are the problem's road metres at its speed, with a second's grace for rounding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from desk_desktop.domain.dayplan import DayProblem, PlannedVisit, PlanTechnician

ROUNDING_SECONDS = 1.0  # solvers drive whole seconds


@dataclass(frozen=True)
class _Stop:
    label: str  # "WO 12", or "their fixed visit WO 99"
    start: datetime
    end: datetime
    place: int  # index into ``places(problem)``
    planned: bool  # a visit of the plan (not one of the technician's fixed visits)


def _hm(t: datetime) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _fixed_places(problem: DayProblem) -> dict[tuple[int, int], int]:
    """(technician index, fixed visit index) -> its place, for the fixed visits that have one."""
    out, place = {}, 2 * len(problem.technicians)
    for i, t in enumerate(problem.technicians):
        for k, v in enumerate(t.visits):
            if v.lat is not None:
                out[(i, k)] = place
                place += 1
    return out


def _order_places(problem: DayProblem) -> dict[int, int]:
    first = 2 * len(problem.technicians) + len(_fixed_places(problem))
    return {o.id: first + j for j, o in enumerate(problem.orders)}


def _routes(problem: DayProblem, visits: Sequence[PlannedVisit]) -> dict[int, list[_Stop]]:
    """Technician index -> their located stops (planned and fixed) by start time; visits of
    unknown orders or technicians left out."""
    order_place, fixed_place = _order_places(problem), _fixed_places(problem)
    index = {t.id: i for i, t in enumerate(problem.technicians)}
    routes: dict[int, list[_Stop]] = {i: [] for i in range(len(problem.technicians))}
    for v in visits:
        if v.technician_id in index and v.order_id in order_place:
            routes[index[v.technician_id]].append(_Stop(f"WO {v.order_id}", v.start, v.end, order_place[v.order_id], True))
    for (i, k), place in fixed_place.items():
        f = problem.technicians[i].visits[k]
        routes[i].append(_Stop(f"their fixed visit WO {f.order_id}", f.start, f.end, place, False))
    for stops in routes.values():
        stops.sort(key=lambda s: (s.start, s.end))
    return routes


def driving_km(problem: DayProblem, visits: Sequence[PlannedVisit]) -> float:
    """Kilometres driven: each technician with a stop from their start through their stops
    (planned and fixed, by time) to their end; a technician with no stop does not drive."""
    metres = 0.0
    for i, stops in _routes(problem, visits).items():
        if stops:
            path = [2 * i, *(s.place for s in stops), 2 * i + 1]
            metres += sum(problem.metres[a][b] for a, b in zip(path, path[1:], strict=False))
    return metres / 1000


def _blocked_seconds(t: PlanTechnician, a: datetime, b: datetime) -> float:
    """Seconds of [a, b) the technician cannot drive in: breaks and fixed visits without a place."""
    busy = sorted([*t.breaks, *((v.start, v.end) for v in t.visits if v.lat is None)])
    total, reach = 0.0, a
    for s, e in busy:
        s, e = max(s, reach), min(e, b)
        if s < e:
            total += (e - s).total_seconds()
            reach = e
    return total


def violations(problem: DayProblem, visits: Sequence[PlannedVisit]) -> list[str]:
    """Every rule of the day the visits break, one sentence each naming the order and the
    technician; empty for a plan that keeps them all."""
    out: list[str] = []
    orders = {o.id: o for o in problem.orders}
    techs = {t.id: t for t in problem.technicians}
    for order_id, n in sorted(Counter(v.order_id for v in visits).items()):
        if n > 1 and order_id in orders:
            out.append(f"WO {order_id} is placed {n} times")
    for v in visits:
        o, t = orders.get(v.order_id), techs.get(v.technician_id)
        if o is None:
            out.append(f"WO {v.order_id} for technician {v.technician_id} is not one of the day's orders to place")
            continue
        if t is None:
            out.append(f"WO {v.order_id} is given to technician {v.technician_id}, who is not one of the day's technicians")
            continue
        who = f"WO {o.id} for technician {t.id}"
        if v.end - v.start != timedelta(minutes=o.duration_minutes):
            out.append(f"{who} lasts {_minutes((v.end - v.start).total_seconds())}, "
                       f"not the order's {o.duration_minutes} min")
        if v.start < t.shift[0]:
            out.append(f"{who} starts {_hm(v.start)}, before their shift ({_hm(t.shift[0])})")
        if v.end > t.shift[1]:
            out.append(f"{who} ends {_hm(v.end)}, after their shift ({_hm(t.shift[1])})")
        for a, b in t.breaks:
            if a < v.end and v.start < b:
                out.append(f"{who} ({_hm(v.start)}–{_hm(v.end)}) overlaps their break or absence {_hm(a)}–{_hm(b)}")
        for f in t.visits:
            if f.start < v.end and v.start < f.end:
                out.append(f"{who} ({_hm(v.start)}–{_hm(v.end)}) overlaps their fixed visit WO {f.order_id} "
                           f"({_hm(f.start)}–{_hm(f.end)})")
        if missing := o.skills - t.skills:
            out.append(f"{who} needs {', '.join(sorted(missing))}, which they do not have")
        if o.window and not o.window[0] <= v.start <= o.window[1]:
            out.append(f"{who} starts {_hm(v.start)}, outside the order's window "
                       f"{_hm(o.window[0])}–{_hm(o.window[1])}")
    for t in problem.technicians:
        mine = sorted(v.order_id for v in visits if v.technician_id == t.id and v.order_id in orders)
        if len(mine) > t.capacity:
            out.append(f"Technician {t.id} is given {len(mine)} orders (WO {', '.join(map(str, mine))}), "
                       f"more than the {t.capacity} they have room for")
        planned = sorted((v for v in visits if v.technician_id == t.id and v.order_id in orders),
                         key=lambda v: v.start)
        for a, b in zip(planned, planned[1:], strict=False):
            if b.start < a.end:
                out.append(f"WO {b.order_id} for technician {t.id} ({_hm(b.start)}–{_hm(b.end)}) overlaps "
                           f"WO {a.order_id} ({_hm(a.start)}–{_hm(a.end)})")
    return out + _drive_violations(problem, visits)


def _drive_violations(problem: DayProblem, visits: Sequence[PlannedVisit]) -> list[str]:
    """The drives that do not fit: between consecutive stops of a technician (one of them
    planned), from their start to a planned first stop, from a planned last stop to their end."""
    seconds_per_metre = 3.6 / problem.speed_kmh
    out = []
    for i, stops in _routes(problem, visits).items():
        t = problem.technicians[i]
        for a, b in zip(stops, stops[1:], strict=False):
            if not (a.planned or b.planned) or b.start < a.end:
                continue  # fixed visits are the dispatcher's; overlaps are reported above
            drive = problem.metres[a.place][b.place] * seconds_per_metre
            free = (b.start - a.end).total_seconds() - _blocked_seconds(t, a.end, b.start)
            if free + ROUNDING_SECONDS < drive:
                out.append(f"{b.label} for technician {t.id} starts {_hm(b.start)}, but the drive from "
                           f"{a.label} (ends {_hm(a.end)}) takes {_minutes(drive)}")
        if stops and stops[0].planned:
            first = stops[0]
            drive = problem.metres[2 * i][first.place] * seconds_per_metre
            free = (first.start - t.shift[0]).total_seconds() - _blocked_seconds(t, t.shift[0], first.start)
            if free + ROUNDING_SECONDS < drive:
                out.append(f"{first.label} for technician {t.id} starts {_hm(first.start)}, but the drive from "
                           f"their start (shift begins {_hm(t.shift[0])}) takes {_minutes(drive)}")
        if stops and stops[-1].planned:
            last = stops[-1]
            drive = problem.metres[last.place][2 * i + 1] * seconds_per_metre
            free = (t.shift[1] - last.end).total_seconds() - _blocked_seconds(t, last.end, t.shift[1])
            if free + ROUNDING_SECONDS < drive:
                out.append(f"{last.label} for technician {t.id} ends {_hm(last.end)}, but the drive to their "
                           f"end takes {_minutes(drive)} (shift ends {_hm(t.shift[1])})")
    return out
