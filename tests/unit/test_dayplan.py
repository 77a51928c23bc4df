"""The day planner on problems whose best answer is known by hand, checked by the independent
checker of ``bench/plancheck.py`` (not the solver's own report)."""

from datetime import UTC, datetime, timedelta

from desk_desktop.bench.plancheck import violations
from desk_desktop.domain.dayplan import (
    DayProblem,
    FixedVisit,
    PlanOrder,
    PlanTechnician,
    km_between,
    places,
    solve_day,
    straight_metres,
)

DAY = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
SHIFT = (DAY + timedelta(hours=8), DAY + timedelta(hours=17))
ROAD, SPEED = 1.3, 40.0


def problem(technicians, orders):
    return DayProblem(DAY, tuple(technicians), tuple(orders),
                      straight_metres(places(technicians, orders), ROAD), SPEED)


def tech(id_, lat, lon, skills=(), **kw):
    return PlanTechnician(id_, (lat, lon), (lat, lon), SHIFT, frozenset(skills), **kw)


def check(technicians, orders, plan):
    """The independent checker finds no rule broken, and every order is placed or reported."""
    assert violations(problem(technicians, orders), plan.visits) == []
    assert {v.order_id for v in plan.visits} | set(plan.unassigned) == {o.id for o in orders}


def test_two_clusters_go_to_the_technician_next_to_them():
    west, east = tech(1, 41.88, -87.90), tech(2, 41.88, -87.60)
    orders = [PlanOrder(10 + k, 41.88 + 0.01 * k, -87.89, 60) for k in range(3)] + \
             [PlanOrder(20 + k, 41.88 + 0.01 * k, -87.61, 60) for k in range(3)]
    plan = solve_day(problem([west, east], orders), seconds=2)
    check([west, east], orders, plan)
    assert plan.unassigned == ()
    assert {v.order_id for v in plan.visits if v.technician_id == 1} == {10, 11, 12}
    assert {v.order_id for v in plan.visits if v.technician_id == 2} == {20, 21, 22}
    # The shortest day by hand: to the nearest site of their cluster, along it, and back from its far end.
    for t, lon in ((west, -87.89), (east, -87.61)):
        base = t.start
        best = (km_between(base, (41.88, lon)) + km_between((41.88, lon), (41.90, lon))
                + km_between((41.90, lon), base)) * ROAD
        mine = plan.routes[t.id]
        assert mine in ((10 + (t.id - 1) * 10, 11 + (t.id - 1) * 10, 12 + (t.id - 1) * 10),
                        (12 + (t.id - 1) * 10, 11 + (t.id - 1) * 10, 10 + (t.id - 1) * 10))
    assert abs(plan.driving_km - 2 * best) < 0.01


def test_skills_absences_windows_and_capacity_are_kept():
    absent = (DAY + timedelta(hours=10), DAY + timedelta(hours=14))
    ann = tech(1, 41.88, -87.90, {"hvac"}, breaks=(absent,))
    bob = tech(2, 41.88, -87.80, {"plumbing"}, capacity=1)
    orders = [PlanOrder(1, 41.89, -87.90, 90, frozenset({"hvac"})),
              PlanOrder(2, 41.90, -87.90, 90, frozenset({"hvac"}), window=(DAY + timedelta(hours=11),
                                                                         DAY + timedelta(hours=15))),
              PlanOrder(3, 41.89, -87.80, 60, frozenset({"plumbing"}), priority=3),
              PlanOrder(5, 41.88, -87.80, 60, frozenset({"plumbing"})),  # Bob has room for one: the urgent one
              PlanOrder(4, 41.89, -87.85, 60, frozenset({"electrical"}))]  # nobody can
    plan = solve_day(problem([ann, bob], orders), seconds=2)
    check([ann, bob], orders, plan)
    assert sorted(plan.unassigned) == [4, 5]
    second = next(v for v in plan.visits if v.order_id == 2)
    assert second.start >= absent[1]  # its window opens in the absence: after it


def test_fixed_visits_stay_and_their_drive_counts():
    pinned = FixedVisit(99, 41.95, -87.90, DAY + timedelta(hours=9), DAY + timedelta(hours=12))
    ann = tech(1, 41.88, -87.90, visits=(pinned,))
    orders = [PlanOrder(1, 41.96, -87.90, 60), PlanOrder(2, 41.88, -87.91, 60)]
    plan = solve_day(problem([ann], orders), seconds=1)
    check([ann], orders, plan)
    assert plan.unassigned == ()
    assert 99 in plan.routes[1] and 99 not in {v.order_id for v in plan.visits}


def test_a_day_with_nobody_or_nothing_to_place_is_answered_without_solving():
    nobody = solve_day(problem([], [PlanOrder(1, 41.88, -87.90, 60)]), seconds=1)
    assert (nobody.visits, nobody.unassigned, nobody.driving_km) == ((), (1,), 0.0)
    idle = solve_day(problem([tech(1, 41.88, -87.90)], []), seconds=1)
    assert (idle.visits, idle.unassigned, idle.routes) == ((), (), {1: ()})
