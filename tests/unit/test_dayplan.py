"""The day planner on problems whose best answer is known by hand, checked by an independent
checker (not the solver's own report)."""

from datetime import UTC, datetime, timedelta

from desk_desktop.domain.dayplan import PlanOrder, PlanTechnician, km_between, solve_day

DAY = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
SHIFT = (DAY + timedelta(hours=8), DAY + timedelta(hours=17))


def check(technicians, orders, plan):
    """Every visit inside its technician's shift and outside their fixed time, no two visits of
    one technician overlapping with the drive between them, skills and windows kept."""
    by_id = {o.id: o for o in orders}
    for t in technicians:
        mine = sorted((v for v in plan.visits if v.technician_id == t.id), key=lambda v: v.start)
        for v in mine:
            o = by_id[v.order_id]
            assert t.shift[0] <= v.start and v.end <= t.shift[1]
            assert o.skills <= t.skills
            assert all(not (a < v.end and v.start < b) for a, b in t.fixed)
            if o.window:
                assert o.window[0] <= v.start <= o.window[1]
        for a, b in zip(mine, mine[1:], strict=False):
            drive = km_between((by_id[a.order_id].lat, by_id[a.order_id].lon),
                               (by_id[b.order_id].lat, by_id[b.order_id].lon)) * 1.3 / 40 * 3600
            assert (b.start - a.end).total_seconds() >= drive - 1
        assert {v.order_id for v in plan.visits} | set(plan.unassigned) == set(by_id)


def test_two_clusters_go_to_the_technician_next_to_them():
    west = PlanTechnician(1, 41.88, -87.90, SHIFT)
    east = PlanTechnician(2, 41.88, -87.60, SHIFT)
    orders = [PlanOrder(10 + k, 41.88 + 0.01 * k, -87.89, 60) for k in range(3)] + \
             [PlanOrder(20 + k, 41.88 + 0.01 * k, -87.61, 60) for k in range(3)]
    plan = solve_day([west, east], orders, day_start=DAY, seconds=2)
    check([west, east], orders, plan)
    assert plan.unassigned == ()
    assert {v.order_id for v in plan.visits if v.technician_id == 1} == {10, 11, 12}
    assert {v.order_id for v in plan.visits if v.technician_id == 2} == {20, 21, 22}


def test_skills_absences_and_windows_are_kept():
    absent = (DAY + timedelta(hours=10), DAY + timedelta(hours=14))
    ann = PlanTechnician(1, 41.88, -87.90, SHIFT, frozenset({"hvac"}), fixed=(absent,))
    bob = PlanTechnician(2, 41.88, -87.80, SHIFT, frozenset({"plumbing"}))
    orders = [PlanOrder(1, 41.89, -87.90, 90, frozenset({"hvac"})),
              PlanOrder(2, 41.90, -87.90, 90, frozenset({"hvac"}), window=(DAY + timedelta(hours=11),
                                                                         DAY + timedelta(hours=15))),
              PlanOrder(3, 41.89, -87.80, 60, frozenset({"plumbing"})),
              PlanOrder(4, 41.89, -87.85, 60, frozenset({"electrical"}))]  # nobody can
    plan = solve_day([ann, bob], orders, day_start=DAY, seconds=2)
    check([ann, bob], orders, plan)
    assert plan.unassigned == (4,)
    second = next(v for v in plan.visits if v.order_id == 2)
    assert second.start >= absent[1]  # its window opens in the absence: after it
