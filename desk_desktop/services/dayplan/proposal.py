"""A proposed day: the solver's plan as a difference from today's — which orders go to whom
and when, the driving before and after, and the orders left without a visit and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from desk_desktop.domain.dayplan import DayPlan, DayProblem, day_km, place_index, places
from desk_desktop.domain.enums import PRIORITY_RANK
from desk_desktop.domain.travel import km_between, travel_minutes
from desk_desktop.services.board import BoardDay, BoardVisit
from desk_desktop.services.dayplan.problem import DayInput, DayOrder

NO_TIME = "no time left in the day of anybody who could do it"


def day_text(day: date) -> str:
    """A day as the board writes it: 'Mon 7 Dec'."""
    return f"{day:%a} {day.day} {day:%b}"


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
    undoes: bool = False  # puts back the day as it was before an applied plan (``undo_of``)

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

    def lines(self) -> list[str]:
        """The proposal line by line, as a dispatcher reads it: each change ("WO-000012  Ann Lee
        09:00 → Bob Stone 10:30"), each order left without a visit and each technician left
        off the plan, with the reason."""
        tz = ZoneInfo(self.day.timezone)

        def at(technician_id: int | None, start: datetime | None) -> str:
            name = self.day.name_of(technician_id) if technician_id is not None else "nobody"
            return f"{name} {start.astimezone(tz):%H:%M}" if start is not None else name

        out = [f"{c.order.number} ({c.order.customer})  {at(c.order.technician_id, c.order.start)} → "
               + (at(c.technician_id, c.start) if c.technician_id is not None else "nobody (taken off the plan)")
               for c in self.changes]
        out += [f"{o.number} ({o.customer})  no visit: {why}" for o, why in self.unplanned]
        return out + [f"{t.name} is not on the plan: {t.note}" for t in self.day.technicians if not t.planned]

    def routes(self) -> list[tuple[str, float, list[tuple[float, float]]]]:
        """Each planned technician's day on the map: (name, km, points from start to end)."""
        problem = self.day.problem
        index = place_index(problem)
        where = places(problem.technicians, problem.orders)
        out = []
        for i, t in enumerate(problem.technicians):
            stops = [index[o] for o in self.plan.routes.get(t.id, ())]
            if stops:
                out.append((self.day.name_of(t.id), day_km(problem, i, stops),
                            [where[p] for p in (2 * i, *stops, 2 * i + 1)]))
        return out

    def reason(self, note: str = "") -> str:
        """Why the orders moved, for their explanation and the audit log."""
        when = day_text(self.day.day)
        driving = f"{self.km_before:,.1f} → {self.km_after:,.1f} km"
        if self.undoes:
            text = f"Optimized plan for {when} undone: back as it was ({driving})"
        elif self.saves_km >= 0:
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
            if c.technician_id is not None and c.start is not None:
                out.setdefault(c.technician_id, []).append((c.order.id, c.start, c.end))
        return {t: sorted(v, key=lambda x: x[1]) for t, v in out.items()}


def propose(day: DayInput, plan: DayPlan, *, solve_seconds: float) -> DayProposal:
    """The difference between the day as it is and ``plan`` — none when the plan is no better:
    it must serve more (by priority) or drive less. A solver that searches within a time
    budget may come back with a different day that is no better; that is not worth a change."""
    placed = {v.order_id: v for v in plan.visits}
    reasons = dict(day.left_out)
    movable = [o for o in day.orders if not o.fixed]
    km_before = _km_before(day)
    served_before = sum(_weight(o) for o in movable if o.technician_id is not None and o.start is not None)
    served_after = sum(_weight(o) for o in movable if o.id in placed)
    if served_after < served_before or (served_after == served_before and plan.driving_km >= km_before - 0.05):
        waiting = tuple((o, reasons.get(o.id, NO_TIME)) for o in movable if o.technician_id is None or o.start is None)
        return DayProposal(day=day, plan=plan, changes=(), unplanned=waiting, km_before=km_before,
                           km_after=km_before, solve_seconds=solve_seconds)
    changes, unplanned = [], []
    for o in movable:
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
                       km_before=km_before, km_after=plan.driving_km, solve_seconds=solve_seconds)


def undo_of(applied: DayProposal, after: DayInput) -> DayProposal:
    """The proposal that puts back each order ``applied`` changed — technician and time as
    they were — made from ``after``, the day read right after ``applied`` was written (so that
    applying it is refused when anything changed since)."""
    orders = {o.id: o for o in after.orders}
    changes = tuple(PlanChange(orders[c.order.id], c.order.technician_id, c.order.start, c.order.end, "undo")
                    for c in applied.changes)
    return DayProposal(day=after, plan=applied.plan, changes=changes, unplanned=(), km_before=applied.km_after,
                       km_after=applied.km_before, solve_seconds=0.0, undoes=True)


def _weight(o: DayOrder) -> int:
    """How much serving the order counts: more for a higher priority (as the solver weighs it)."""
    return 1 + PRIORITY_RANK.get(o.priority, 0)


def _km_before(day: DayInput) -> float:
    """The driving of the day's technicians as booked now: from their start through their
    visits of the day (in time order) to their end, over the same road metres as the plan."""
    problem: DayProblem = day.problem
    index = place_index(problem)
    return sum(day_km(problem, i, [index[o.id] for o in sorted(
                   (o for o in day.orders if o.technician_id == t.id and o.start is not None and o.id in index),
                   key=lambda o: o.start)])
               for i, t in enumerate(problem.technicians))


def board_preview(board: BoardDay, proposal: DayProposal) -> BoardDay:
    """``board`` (a day view of the proposal's day) as the proposal would leave it: the
    orders it moves or plans at their new place, the drive before each visit measured again
    for the technicians it changes (straight line, as the board measures it)."""
    changes = {c.order.id: c for c in proposal.changes}
    shown = {v.work_order_id: v for v in board.visits}
    visits = [v for v in board.visits if v.work_order_id not in changes]
    for c in proposal.changes:
        if c.technician_id is None:
            continue
        o = c.order
        before = shown.get(o.id)
        if before is not None:
            visits.append(replace(before, technician_id=c.technician_id, start=c.start, end=c.end,
                                  status="scheduled", booked_anyway=False))
        else:
            visits.append(BoardVisit(
                work_order_id=o.id, number=o.number, ticket_id=o.ticket_id or 0, technician_id=c.technician_id,
                start=c.start, end=c.end, status="scheduled", priority=o.priority, ticket_number=o.ticket_number,
                subject=o.subject, description="", customer=o.customer, contact="", address=o.address, lat=o.lat,
                lon=o.lon, required_skills=o.required_skills, travel_m=None, travel_minutes=0, booked_anyway=False))
    touched = {c.technician_id for c in proposal.changes} | {c.order.technician_id for c in proposal.changes}
    homes = {t.id: (t.lat, t.lon) for t in board.technicians}
    out, where = [], {}
    for v in sorted(visits, key=lambda v: (v.technician_id, v.start, v.work_order_id)):
        if v.technician_id in touched:
            here = (v.lat, v.lon) if v.lat is not None else None
            previous = where.get(v.technician_id, homes.get(v.technician_id))
            metres = (km_between(previous, here) * 1000 if here is not None and previous is not None
                      and previous[0] is not None else None)
            v = replace(v, travel_m=metres, travel_minutes=travel_minutes(metres, board.speed_kmh))
            if here is not None:
                where[v.technician_id] = here
        out.append(v)
    placed = {c.order.id for c in proposal.changes if c.technician_id is not None}
    return replace(board, visits=tuple(out), waiting=tuple(w for w in board.waiting if w.work_order_id not in placed))
