"""The reference solver (OR-Tools) on the hand-made days of the day planner: the same optimum,
and plans the independent checker finds nothing wrong with."""

from datetime import UTC, datetime, timedelta

from desk_desktop.bench.plancheck import driving_km, violations
from desk_desktop.bench.reference_plan import solve_reference
from desk_desktop.domain.dayplan import (
    DayProblem,
    FixedVisit,
    PlanOrder,
    PlanTechnician,
    km_between,
    places,
    straight_metres,
)

DAY = datetime(2026, 12, 8, tzinfo=UTC)
SHIFT = (DAY + timedelta(hours=8), DAY + timedelta(hours=17))


def problem(technicians, orders):
    return DayProblem(DAY, tuple(technicians), tuple(orders), straight_metres(places(technicians, orders), 1.3), 40.0)


def tech(id_, lat, lon, skills=(), **kw):
    return PlanTechnician(id_, (lat, lon), (lat, lon), SHIFT, frozenset(skills), **kw)


def test_two_clusters_go_to_the_technician_next_to_them_along_the_shortest_route():
    west, east = tech(1, 41.88, -87.90), tech(2, 41.88, -87.60)
    orders = [PlanOrder(10 + k, 41.88 + 0.01 * k, -87.89, 60) for k in range(3)] + \
             [PlanOrder(20 + k, 41.88 + 0.01 * k, -87.61, 60) for k in range(3)]
    day = problem([west, east], orders)
    plan = solve_reference(day, seconds=1)
    assert violations(day, plan.visits) == []
    assert plan.unassigned == ()
    assert plan.routes[1] in ((10, 11, 12), (12, 11, 10))
    assert plan.routes[2] in ((20, 21, 22), (22, 21, 20))
    # By hand: to the nearest site of their cluster, along it, and back from its far end.
    best = sum((km_between(t.start, (41.88, lon)) + km_between((41.88, lon), (41.90, lon))
                + km_between((41.90, lon), t.start)) * 1.3 for t, lon in ((west, -87.89), (east, -87.61)))
    assert abs(plan.driving_km - best) < 0.01
    assert abs(driving_km(day, plan.visits) - best) < 0.01


def test_skills_absences_windows_capacity_and_priority_are_kept():
    absent = (DAY + timedelta(hours=10), DAY + timedelta(hours=14))
    ann = tech(1, 41.88, -87.90, {"hvac"}, breaks=(absent,))
    bob = tech(2, 41.88, -87.80, {"plumbing"}, capacity=1)
    orders = [PlanOrder(1, 41.89, -87.90, 90, frozenset({"hvac"})),
              PlanOrder(2, 41.90, -87.90, 90, frozenset({"hvac"}),
                        window=(DAY + timedelta(hours=11), DAY + timedelta(hours=15))),
              PlanOrder(5, 41.88, -87.80, 60, frozenset({"plumbing"})),  # Bob has room for one: the urgent one
              PlanOrder(3, 41.89, -87.80, 60, frozenset({"plumbing"}), priority=3),
              PlanOrder(4, 41.89, -87.85, 60, frozenset({"electrical"}))]  # nobody can
    day = problem([ann, bob], orders)
    plan = solve_reference(day, seconds=1)
    assert violations(day, plan.visits) == []
    assert sorted(plan.unassigned) == [4, 5]
    assert next(v for v in plan.visits if v.order_id == 2).start >= absent[1]  # its window opens in the absence


def test_fixed_visits_stay_with_their_technician_at_their_time_and_their_drive_counts():
    pinned = FixedVisit(99, 41.95, -87.90, DAY + timedelta(hours=9), DAY + timedelta(hours=12))
    errand = FixedVisit(98, None, None, DAY + timedelta(hours=14), DAY + timedelta(hours=16, minutes=30))
    ann = tech(1, 41.88, -87.90, visits=(pinned, errand))
    bob = tech(2, 41.60, -87.50)
    # Ann's day has room for both orders around her pinned visit; Bob is far away.
    orders = [PlanOrder(1, 41.96, -87.90, 60), PlanOrder(2, 41.88, -87.91, 40)]
    day = problem([ann, bob], orders)
    plan = solve_reference(day, seconds=1)
    assert violations(day, plan.visits) == []
    assert plan.unassigned == ()
    assert {v.technician_id for v in plan.visits} == {1}
    assert 99 in plan.routes[1] and 99 not in {v.order_id for v in plan.visits}
    assert abs(plan.driving_km - driving_km(day, plan.visits)) < 1e-6


def test_a_fixed_visit_too_late_to_drive_home_by_the_end_of_the_shift_still_stays():
    pinned = FixedVisit(99, 42.20, -87.90, DAY + timedelta(hours=16), DAY + timedelta(hours=17))  # ~45 km from home
    ann = tech(1, 41.88, -87.90, visits=(pinned,))
    orders = [PlanOrder(1, 41.89, -87.90, 60)]
    day = problem([ann], orders)
    plan = solve_reference(day, seconds=1)
    assert plan.routes[1] == (1, 99)
    assert violations(day, plan.visits) == []
