"""A reference plan for ``bench optimize``: the same ``DayProblem`` solved by another solver,
Google OR-Tools' routing library, with guided local search for a long time budget — the
yardstick the day planner (VROOM) is measured against.

Same semantics as ``domain.dayplan.solve_day``: fixed visits keep their technician and time
(and the drive to them counts), breaks, absences and fixed visits without a place are time
the technician neither works nor drives, skills restrict who may take an order, an order
starts inside its window, capacity counts the orders taken; the objective is, in order, the
most priority served (VROOM's job priorities), the most orders served, the fewest road
metres. OR-Tools is a bench and test dependency only: it is imported inside
``solve_reference`` and left out of the application bundle (build.spec).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from desk_desktop.domain.dayplan import (
    BOOKED_BONUS,
    MAX_PRIORITY,
    PRIORITY_STEP,
    DayPlan,
    DayProblem,
    PlannedVisit,
)


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching intervals joined (OR-Tools' breaks must not overlap)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif a < b:
            out.append((a, b))
    return out


def solve_reference(problem: DayProblem, *, seconds: float) -> DayPlan:
    """The plan OR-Tools finds within ``seconds``."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_heuristic_parameters_pb2

    techs, orders, day_start = problem.technicians, problem.orders, problem.day_start

    def at(t: datetime) -> int:
        return max(0, int((t - day_start).total_seconds()))

    horizon = 86400 + max([at(t.shift[1]) for t in techs] + [at(v.end) for t in techs for v in t.visits] + [0])

    # Nodes: each technician's start and end, their located fixed visits, then the orders some
    # technician has the skills for. node_place maps a node to its row of problem.metres.
    node_place = [p for i in range(len(techs)) for p in (2 * i, 2 * i + 1)]
    service = [0] * len(node_place)
    fixed_nodes: list[tuple[int, int, int]] = []  # (node, technician index, start second)
    fixed_order: dict[int, int] = {}  # node -> order id of a fixed visit
    blocked: list[list[tuple[int, int]]] = []  # technician index -> time they neither work nor drive
    place = 2 * len(techs)
    for i, t in enumerate(techs):
        blocked.append([(at(a), at(b)) for a, b in t.breaks])
        for v in t.visits:
            if v.lat is None:
                blocked[i].append((at(v.start), at(v.end)))
                continue
            fixed_nodes.append((len(node_place), i, at(v.start)))
            fixed_order[len(node_place)] = v.order_id
            node_place.append(place)
            service.append(at(v.end) - at(v.start))
            place += 1
    order_nodes: list[tuple[int, int]] = []  # (node, index in orders)
    able: dict[int, list[int]] = {}  # node -> technicians with the order's skills and room
    window: dict[int, tuple[int, int]] = {}  # node -> seconds its visit may start in
    for j, o in enumerate(orders):
        who = [i for i, t in enumerate(techs) if o.skills <= t.skills and t.capacity > 0]
        opens, closes = (at(o.window[0]), min(horizon, at(o.window[1]))) if o.window else (0, horizon)
        if who and opens <= closes:
            window[len(node_place)] = (opens, closes)
            order_nodes.append((len(node_place), j))
            able[len(node_place)] = who
            node_place.append(place + j)
            service.append(o.duration_minutes * 60)

    metres = problem.metres
    seconds_per_metre = 3.6 / problem.speed_kmh
    manager = pywrapcp.RoutingIndexManager(len(node_place), len(techs), [2 * i for i in range(len(techs))],
                                           [2 * i + 1 for i in range(len(techs))])
    routing = pywrapcp.RoutingModel(manager)

    # Matrices by node: OR-Tools reads them without calling back into Python.
    road = [[round(metres[a][b]) for b in node_place] for a in node_place]
    drive = [[math.ceil(metres[a][b] * seconds_per_metre) for b in node_place] for a in node_place]
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(road))
    # The time from arriving at a node to arriving at the next: the work there, then the drive.
    work_and_drive = [[service[a] + d for d in row] for a, row in enumerate(drive)]
    routing.AddDimension(routing.RegisterTransitMatrix(work_and_drive), horizon, horizon, False, "time")
    clock = routing.GetDimensionOrDie("time")
    counted = routing.RegisterUnaryTransitVector([1 if node in able else 0 for node in range(len(node_place))])
    routing.AddDimensionWithVehicleCapacity(counted, 0, [min(t.capacity, len(orders)) for t in techs], True, "orders")

    # Who may visit a node, as a dimension the search checks cheaply: one for each node a
    # technician may not visit (an order without their skills, another's fixed visit), and
    # room for none. (SetAllowedVehiclesForIndex cannot be called from Python in 9.15.)
    allowed = {node: {i} for node, i, _ in fixed_nodes} | {node: set(who) for node, who in able.items()}
    rows = [tuple(int(node in allowed and i not in allowed[node]) for node in range(len(node_place)))
            for i in range(len(techs))]
    callbacks = {row: routing.RegisterUnaryTransitVector(list(row)) for row in dict.fromkeys(rows)}
    routing.AddDimensionWithVehicleTransitAndCapacity([callbacks[row] for row in rows], 0, [0] * len(techs), True,
                                                      "forbidden")
    for node, _, start in fixed_nodes:  # kept: no disjunction, only their technician, at their time
        clock.CumulVar(manager.NodeToIndex(node)).SetRange(start, start)

    # Lexicographic objective by penalties: one priority point outweighs every order count and
    # every metre, one order outweighs every metre (no route drives a place twice).
    metres_bound = 1 + sum(math.ceil(max(row)) for row in metres)
    order_value = metres_bound
    priority_value = (len(order_nodes) + 1) * order_value
    for node, j in order_nodes:
        o = orders[j]
        index = manager.NodeToIndex(node)
        clock.CumulVar(index).SetRange(*window[node])
        priority = min(MAX_PRIORITY, o.priority * PRIORITY_STEP + (BOOKED_BONUS if o.booked else 0))
        routing.AddDisjunction([index], order_value + priority * priority_value)
    # A fixed visit too far from the start of the shift, or too close to its end to drive home,
    # stays: the technician leaves earlier or comes home later, just enough (no order fits in
    # that extra time: a detour is never shorter than the direct drive).
    for i, t in enumerate(techs):
        leave, home = at(t.shift[0]), at(t.shift[1])
        mine = sorted((start, node) for node, k, start in fixed_nodes if k == i)
        if mine:
            (first_start, first), (last_start, last) = mine[0], mine[-1]
            leave = min(leave, first_start - drive[2 * i][first])
            home = max(home, last_start + service[last] + drive[last][2 * i + 1])
        clock.CumulVar(routing.Start(i)).SetRange(max(0, leave), home)
        clock.CumulVar(routing.End(i)).SetRange(max(0, leave), home)

    solver = routing.solver()
    visit_transits = [service[manager.IndexToNode(k)] for k in range(routing.Size())]
    for i in range(len(techs)):
        breaks = [solver.FixedDurationIntervalVar(a, a, b - a, False, f"break {i}.{k}")
                  for k, (a, b) in enumerate(_merged(blocked[i]))]
        if breaks:
            clock.SetBreakIntervalsOfVehicle(breaks, i, visit_transits)

    search = pywrapcp.DefaultRoutingSearchParameters()
    # First the orders worth most, each where it costs least; then guided local search.
    search.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
    search.local_cheapest_insertion_parameters.insertion_sorting_properties[:] = [
        routing_heuristic_parameters_pb2.LocalCheapestInsertionParameters.SORTING_PROPERTY_PENALTY]
    search.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    search.time_limit.FromMilliseconds(max(1, round(seconds * 1000)))
    solution = routing.SolveWithParameters(search)
    if solution is None:
        raise ValueError("OR-Tools found no plan that keeps every technician's fixed visits at their time "
                         "(two of them overlap, or one overlaps a break)")

    visits, routes, km = [], {}, 0.0
    for i, t in enumerate(techs):
        index, stops, path = routing.Start(i), [], [2 * i]
        while not routing.IsEnd(index := solution.Value(routing.NextVar(index))):
            node = manager.IndexToNode(index)
            path.append(node_place[node])
            if node in fixed_order:
                stops.append(fixed_order[node])
                continue
            o = orders[node_place[node] - place]
            start = day_start + timedelta(seconds=solution.Value(clock.CumulVar(index)))
            visits.append(PlannedVisit(o.id, t.id, start, start + timedelta(minutes=o.duration_minutes)))
            stops.append(o.id)
        routes[t.id] = tuple(stops)
        if stops:
            path.append(2 * i + 1)
            km += sum(metres[a][b] for a, b in zip(path, path[1:], strict=False)) / 1000
    served = {v.order_id for v in visits}
    return DayPlan(visits=tuple(sorted(visits, key=lambda v: (v.technician_id, v.start))),
                   unassigned=tuple(o.id for o in orders if o.id not in served), routes=routes, driving_km=km)
