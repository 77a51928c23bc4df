"""The independent plan checker: each rule it knows fires on a plan that breaks it, with a
sentence naming the order and the technician, and a plan that keeps them all has none; the
kilometres of a plan, fixed visits included."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from desk_desktop.bench.plancheck import driving_km, violations
from desk_desktop.domain.dayplan import DayProblem, FixedVisit, PlannedVisit, PlanOrder, PlanTechnician

DAY = datetime(2026, 12, 8, tzinfo=UTC)


def at(hm: str) -> datetime:
    h, m, *s = (int(x) for x in hm.split(":"))
    return DAY + timedelta(hours=h, minutes=m, seconds=s[0] if s else 0)


# Two technicians working 08:00-17:00. Ann (1) does hvac, has lunch 12:00-13:00, a pinned visit
# 14:00-15:00 and room for three orders; Bob (2) has room for one. Every two places are 6 km
# apart, 10 minutes at 36 km/h. Places: Ann's start and end, Bob's, the pinned visit, orders 1-4.
SHIFT = (at("08:00"), at("17:00"))
ANN = PlanTechnician(1, (0.0, 0.0), (0.0, 0.0), SHIFT, frozenset({"hvac"}), breaks=((at("12:00"), at("13:00")),),
                     visits=(FixedVisit(99, 0.1, 0.1, at("14:00"), at("15:00")),), capacity=3)
BOB = PlanTechnician(2, (0.2, 0.2), (0.2, 0.2), SHIFT, capacity=1)
ORDERS = (PlanOrder(1, 0.3, 0.3, 60, frozenset({"hvac"})),
          PlanOrder(2, 0.4, 0.4, 60, window=(at("09:00"), at("10:00"))),
          PlanOrder(3, 0.5, 0.5, 30),
          PlanOrder(4, 0.6, 0.6, 30))
N_PLACES = 2 * 2 + 1 + len(ORDERS)
PROBLEM = DayProblem(DAY, (ANN, BOB), ORDERS,
                     tuple(tuple(0.0 if a == b else 6000.0 for b in range(N_PLACES)) for a in range(N_PLACES)),
                     speed_kmh=36.0)


def visit(order_id: int, technician_id: int, start: str, end: str) -> PlannedVisit:
    return PlannedVisit(order_id, technician_id, at(start), at(end))


GOOD = [visit(1, 1, "08:10", "09:10"), visit(2, 1, "09:20", "10:20"), visit(3, 1, "10:30", "11:00"),
        visit(4, 2, "08:10", "08:40")]


def with_visits(*changed: PlannedVisit) -> list[PlannedVisit]:
    """The good plan with these visits instead of the ones of the same orders."""
    ids = {v.order_id for v in changed}
    return [v for v in GOOD if v.order_id not in ids] + list(changed)


def test_a_plan_that_keeps_every_rule_has_no_violation():
    assert violations(PROBLEM, GOOD) == []
    assert violations(PROBLEM, []) == []


@pytest.mark.parametrize(("visits", "sentence"), [
    (with_visits(visit(4, 2, "07:40", "08:10")), "WO 4 for technician 2 starts 07:40, before their shift (08:00)"),
    (with_visits(visit(4, 2, "16:40", "17:10")), "WO 4 for technician 2 ends 17:10, after their shift (17:00)"),
    (with_visits(visit(3, 1, "11:45", "12:15")),
     "WO 3 for technician 1 (11:45–12:15) overlaps their break or absence 12:00–13:00"),
    (with_visits(visit(3, 1, "13:45", "14:15")),
     "WO 3 for technician 1 (13:45–14:15) overlaps their fixed visit WO 99 (14:00–15:00)"),
    (with_visits(visit(3, 1, "10:00", "10:30")), "WO 3 for technician 1 (10:00–10:30) overlaps WO 2 (09:20–10:20)"),
    (with_visits(visit(2, 1, "09:19:58", "10:19:58")),
     "WO 2 for technician 1 starts 09:19:58, but the drive from WO 1 (ends 09:10) takes 10.0 min"),
    (with_visits(visit(1, 1, "08:05", "09:05")),
     "WO 1 for technician 1 starts 08:05, but the drive from their start (shift begins 08:00) takes 10.0 min"),
    (with_visits(visit(4, 2, "16:25", "16:55")),
     "WO 4 for technician 2 ends 16:55, but the drive to their end takes 10.0 min (shift ends 17:00)"),
    (with_visits(visit(3, 1, "11:25", "11:55"), visit(4, 1, "13:04", "13:34")),  # lunch is no time to drive
     "WO 4 for technician 1 starts 13:04, but the drive from WO 3 (ends 11:55) takes 10.0 min"),
    (with_visits(visit(3, 1, "13:25", "13:55")),
     "their fixed visit WO 99 for technician 1 starts 14:00, but the drive from WO 3 (ends 13:55) takes 10.0 min"),
    (with_visits(visit(1, 2, "09:00", "10:00")), "WO 1 for technician 2 needs hvac, which they do not have"),
    (with_visits(visit(2, 1, "10:30", "11:30"), visit(3, 1, "11:40", "12:00")),
     "WO 2 for technician 1 starts 10:30, outside the order's window 09:00–10:00"),
    (with_visits(visit(3, 2, "09:00", "09:30")),
     "Technician 2 is given 2 orders (WO 3, 4), more than the 1 they have room for"),
    (GOOD + [visit(3, 2, "09:00", "09:30")], "WO 3 is placed 2 times"),
    (with_visits(visit(3, 1, "10:30", "10:50")), "WO 3 for technician 1 lasts 20.0 min, not the order's 30 min"),
    (GOOD + [visit(77, 2, "10:00", "11:00")], "WO 77 for technician 2 is not one of the day's orders to place"),
    (GOOD + [visit(99, 1, "14:00", "15:00")], "WO 99 for technician 1 is not one of the day's orders to place"),
    (with_visits(visit(3, 9, "10:30", "11:00")),
     "WO 3 is given to technician 9, who is not one of the day's technicians"),
])
def test_each_broken_rule_is_named(visits, sentence):
    assert sentence in violations(PROBLEM, visits)


def test_a_drive_a_second_short_is_rounding_not_a_violation():
    assert violations(PROBLEM, with_visits(visit(2, 1, "09:19:59", "10:19:59"))) == []


def test_a_fixed_visit_without_a_place_is_time_they_cannot_drive():
    errand = FixedVisit(98, None, None, at("09:10"), at("09:19"))
    problem = replace(PROBLEM, technicians=(replace(ANN, visits=(*ANN.visits, errand)), BOB))
    assert violations(problem, with_visits(visit(2, 1, "09:29", "10:29"), visit(3, 1, "10:39", "11:09"))) == []
    assert ("WO 2 for technician 1 starts 09:28, but the drive from WO 1 (ends 09:10) takes 10.0 min"
            in violations(problem, with_visits(visit(2, 1, "09:28", "10:28"), visit(3, 1, "10:38", "11:08"))))


def test_driving_km_goes_from_start_through_every_stop_by_time_to_end():
    # Ann: start, 1, 2, 3, her pinned visit, end = 5 legs; Bob: start, 4, end = 2 legs; 6 km each.
    assert driving_km(PROBLEM, GOOD) == pytest.approx(42.0)
    # Ann still drives to her pinned visit and back; Bob, with nothing to do, does not drive.
    assert driving_km(PROBLEM, []) == pytest.approx(12.0)
