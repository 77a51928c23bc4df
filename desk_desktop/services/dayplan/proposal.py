"""A proposed day: the solver's plan as a difference from today's — which orders go to whom
and when, the driving before and after, and the orders left without a visit and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from desk_desktop.domain.dayplan import DayPlan, DayProblem
from desk_desktop.services.dayplan.problem import DayInput, DayOrder

NO_TIME = "no time left in the day of anybody who could do it"


@dataclass(frozen=True)
class PlanChange:
    order: DayOrder
    technician_id: int | None  # after; None: taken off the plan
    start: datetime | None
    end: datetime | None
    what: str  # "assign", "move" (another technician), "retime" (same technician), "unassign"


@dataclass(frozen=True)
class DayProposal:
    day: DayInput
    plan: DayPlan
    changes: tuple[PlanChange, ...]
    unplanned: tuple[tuple[DayOrder, str], ...]  # orders with no visit after the plan, and why
    km_before: float
    km_after: float
    solve_seconds: float

    @property
    def saves_km(self) -> float:
        return self.km_before - self.km_after

    def hours(self, km: float) -> float:
        return km / self.day.speed_kmh

    def summary(self) -> str:
        """The proposal in one line a dispatcher reads before applying it."""
        n = len(self.changes)
        placed = sum(1 for c in self.changes if c.what == "assign")
        return (f"{n} change{'s' if n != 1 else ''} ({placed} newly planned); driving "
                f"{self.km_before:,.0f} → {self.km_after:,.0f} km ({self.hours(self.km_before):.1f} → "
                f"{self.hours(self.km_after):.1f} h); {len(self.unplanned)} order"
                f"{'s' if len(self.unplanned) != 1 else ''} without a visit")

    def reason(self, note: str = "") -> str:
        """Why the orders moved, for their explanation and the audit log."""
        when = f"{self.day.day:%a %d %b}"
        driving = f"{self.km_before:,.1f} → {self.km_after:,.1f} km"
        if self.saves_km >= 0:
            text = f"Optimized plan for {when}: saves {self.saves_km:,.1f} km of driving ({driving})"
        else:
            placed = sum(1 for c in self.changes if c.what == "assign")
            text = (f"Optimized plan for {when}: {placed} more order{'s' if placed != 1 else ''} planned for "
                    f"{-self.saves_km:,.1f} km more driving ({driving})")
        return text + (f"; {note}" if note else "") + "."

    def visits_after(self) -> dict[int, list[tuple[int, datetime, datetime]]]:
        """Each technician's day after the plan: (order, start, end) in time order, fixed visits included."""
        out: dict[int, list] = {}
        moved = {c.order.id for c in self.changes}
        for o in self.day.orders:
            if o.id not in moved and o.technician_id is not None and o.start is not None:
                out.setdefault(o.technician_id, []).append((o.id, o.start, o.end))
        for c in self.changes:
            if c.technician_id is not None:
                out.setdefault(c.technician_id, []).append((c.order.id, c.start, c.end))
        return {t: sorted(v, key=lambda x: x[1]) for t, v in out.items()}


def propose(day: DayInput, plan: DayPlan, *, solve_seconds: float) -> DayProposal:
    """The difference between the day as it is and ``plan``."""
    placed = {v.order_id: v for v in plan.visits}
    changes, unplanned = [], []
    reasons = dict(day.left_out)
    for o in day.orders:
        if o.fixed:
            continue
        v = placed.get(o.id)
        if v is None:
            unplanned.append((o, reasons.get(o.id, NO_TIME)))
            if o.technician_id is not None and o.start is not None:
                changes.append(PlanChange(o, None, None, None, "unassign"))
            continue
        if v.technician_id == o.technician_id and v.start == o.start:
            continue
        what = ("assign" if o.technician_id is None or o.start is None
                else "retime" if v.technician_id == o.technician_id else "move")
        changes.append(PlanChange(o, v.technician_id, v.start, v.end, what))
    return DayProposal(day=day, plan=plan, changes=tuple(changes), unplanned=tuple(unplanned),
                       km_before=_km_before(day), km_after=plan.driving_km, solve_seconds=solve_seconds)


def _km_before(day: DayInput) -> float:
    """The driving of the day's technicians as booked now: from their start through their
    visits of the day (in time order) to their end, over the same road metres as the plan."""
    problem: DayProblem = day.problem
    if not problem.technicians:
        return 0.0
    index = _place_index(problem)
    metres = problem.metres
    total = 0.0
    for i, t in enumerate(problem.technicians):
        stops = sorted((o.start, index[o.id]) for o in day.orders
                       if o.technician_id == t.id and o.start is not None and o.id in index)
        path = [2 * i, *(p for _, p in stops), 2 * i + 1]
        if stops:
            total += sum(metres[a][b] for a, b in zip(path, path[1:], strict=False))
    return total / 1000


def _place_index(problem: DayProblem) -> dict[int, int]:
    """Each located fixed visit's and order's row in the matrix (``places`` order)."""
    n = 2 * len(problem.technicians)
    ids = [v.order_id for t in problem.technicians for v in t.visits if v.lat is not None]
    ids += [o.id for o in problem.orders]
    return {order_id: n + k for k, order_id in enumerate(ids)}
