"""Ranking for the four strategies and fitting into working hours (pure; hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from desk_desktop.domain.scoring import (
    TechFacts,
    eligibility,
    fit_into_working_hours,
    no_eligible_reason,
    rank_candidates,
    skill_score,
    why_winner,
)

SKILLS = ["hvac", "gas", "electrical"]

tech_st = st.builds(
    lambda i, d, skills, open_jobs, max_open, active: TechFacts(
        technician_id=i, name=f"t{i}", distance_m=d, skills=skills, open_jobs=open_jobs, max_open=max_open,
        active=active),
    st.integers(1, 10_000),
    st.one_of(st.none(), st.floats(0, 200_000, allow_nan=False)),
    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3),
    st.integers(0, 10),
    st.integers(1, 10),
    st.booleans(),
)
techs_st = st.lists(tech_st, max_size=20, unique_by=lambda t: t.technician_id)
required_st = st.lists(st.sampled_from(SKILLS), unique=True, max_size=2)
INF = float("inf")


def d(t):
    return INF if t.distance_m is None else t.distance_m


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["nearest", "skill_match", "workload", "round_robin"]), techs_st, required_st,
       st.one_of(st.none(), st.integers(1, 10_000)))
def test_ranking_properties(strategy, techs, required, pointer):
    ranked = rank_candidates(strategy, techs, required, last_technician_id=pointer)
    assert sorted(r.facts.technician_id for r in ranked) == sorted(t.technician_id for t in techs)
    eligible = [t for t in techs if eligibility(t, required)[0]]
    elig_ranked = [r for r in ranked if r.eligible]
    assert [r.rank for r in elig_ranked] == list(range(1, len(eligible) + 1))
    assert ranked[: len(elig_ranked)] == elig_ranked  # eligible first
    for r in ranked:
        if r.eligible:
            assert r.facts.active and all(s in r.facts.skills for s in required)
            assert r.facts.open_jobs < r.facts.max_open
    if not eligible:
        return
    w = elig_ranked[0].facts
    if strategy == "nearest":
        assert d(w) == min(d(t) for t in eligible)
    elif strategy == "workload":
        assert w.open_jobs == min(t.open_jobs for t in eligible)
        assert d(w) == min(d(t) for t in eligible if t.open_jobs == w.open_jobs)
    elif strategy == "skill_match":
        best = max(skill_score(t, required) for t in eligible)
        assert skill_score(w, required) == best
        assert d(w) == min(d(t) for t in eligible if skill_score(t, required) == best)
    else:
        ids = sorted(t.technician_id for t in eligible)
        after = [i for i in ids if pointer is not None and i > pointer]
        assert w.technician_id == (after[0] if after else ids[0])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 200))
def test_round_robin_rotation_is_even(n_techs, n_orders):
    techs = [TechFacts(technician_id=i * 3 + 1, name=f"t{i}", distance_m=float(i), max_open=10_000)
             for i in range(n_techs)]
    pointer = None
    counts = Counter()
    for _ in range(n_orders):
        w = rank_candidates("round_robin", techs, [], last_technician_id=pointer)[0].facts
        counts[w.technician_id] += 1
        pointer = w.technician_id
    assert max(counts.values()) - min(counts.values() if len(counts) == n_techs else [0]) <= 1


def test_reasons_for_ineligible_technicians():
    t = TechFacts(technician_id=1, name="a", distance_m=10.0, skills={"hvac": 3}, open_jobs=8, max_open=8)
    assert eligibility(t, ["gas"]) == (False, "missing skill gas")
    assert eligibility(t, ["hvac"]) == (False, "at capacity (8/8 open work orders)")
    off = TechFacts(technician_id=2, name="b", distance_m=1.0, active=False)
    assert eligibility(off, []) == (False, "inactive")
    ranked = rank_candidates("nearest", [t, off], ["gas"])
    text = no_eligible_reason(ranked, radius_km=100, located=True, required_skills=["gas"])
    assert text.startswith("No eligible technician within 100 km (needs gas):")
    assert "1 missing a required skill" in text and "1 inactive" in text
    assert no_eligible_reason([], radius_km=50, located=True, required_skills=[]) == \
        "No active technician within 50 km of the site."


def test_why_winner_mentions_the_deciding_fact():
    a = TechFacts(technician_id=1, name="Ann", distance_m=1500.0, skills={"hvac": 5}, open_jobs=1)
    b = TechFacts(technician_id=2, name="Bob", distance_m=800.0, skills={"hvac": 2}, open_jobs=3)
    assert why_winner("nearest", rank_candidates("nearest", [a, b]), []).startswith(
        "Bob is the closest eligible technician (800 m); next was Ann at 1.5 km")
    assert "fewest open work orders (1 of 8)" in why_winner("workload", rank_candidates("workload", [a, b]), [])
    assert "hvac 5/5" in why_winner("skill_match", rank_candidates("skill_match", [a, b], ["hvac"]), ["hvac"])


# ------------------------------------------------------------------ working hours

WEEKDAYS = {d: [["08:00", "12:00"], ["13:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_unknown_hours_keep_the_requested_start():
    start = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
    fit = fit_into_working_hours(start, 60, None)
    assert (fit.start, fit.end, fit.moved) == (start, start + timedelta(hours=1), False)


def test_start_inside_a_window_is_kept():
    start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday
    fit = fit_into_working_hours(start, 60, WEEKDAYS)
    assert fit.start == start and not fit.moved


def test_job_not_fitting_before_lunch_moves_after_lunch():
    fit = fit_into_working_hours(datetime(2026, 11, 25, 11, 30, tzinfo=UTC), 60, WEEKDAYS)
    assert fit.start == datetime(2026, 11, 25, 13, 0, tzinfo=UTC) and fit.moved


def test_friday_evening_moves_to_monday_morning():
    fit = fit_into_working_hours(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), 90, WEEKDAYS)
    assert fit.start == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert fit.end == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    assert "next working window" in fit.note


def test_hours_are_in_the_organization_time_zone_across_dst():
    paris = ZoneInfo("Europe/Paris")
    # Saturday 28 March 2026 evening; DST starts Sunday 29 March; Monday 08:00 Paris is 06:00 UTC.
    fit = fit_into_working_hours(datetime(2026, 3, 28, 20, 0, tzinfo=UTC), 60, WEEKDAYS, "Europe/Paris")
    assert fit.start.astimezone(paris) == datetime(2026, 3, 30, 8, 0, tzinfo=paris)
    assert fit.start == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_job_longer_than_any_window_starts_at_the_next_window():
    fit = fit_into_working_hours(datetime(2026, 11, 25, 18, 0, tzinfo=UTC), 600, WEEKDAYS)
    assert fit.start == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert "long enough" in fit.note


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
       st.integers(15, 240))
def test_fitted_start_is_the_earliest_valid_start(naive, duration):
    requested = naive.replace(tzinfo=UTC, second=0, microsecond=0)
    fit = fit_into_working_hours(requested, duration, WEEKDAYS)
    assert fit.start >= requested
    assert fit.end - fit.start == timedelta(minutes=duration)

    def inside(t):
        local = t.astimezone(UTC)
        for a, b in WEEKDAYS.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()], []):
            ws = local.replace(hour=int(a[:2]), minute=int(a[3:]))
            we = local.replace(hour=int(b[:2]), minute=int(b[3:]))
            if ws <= local and local + timedelta(minutes=duration) <= we:
                return True
        return False

    assert inside(fit.start)
    # No earlier minute (on the 5-minute grid) would have done.
    t = requested
    while t < fit.start:
        assert not inside(t)
        t += timedelta(minutes=5) - timedelta(minutes=t.minute % 5) if t.minute % 5 else timedelta(minutes=5)


def test_open_statuses_are_the_partial_index_predicate():
    """The load count relies on ix_work_orders_open_by_technician: its predicate must list
    exactly the one definition of "open"."""
    import re

    from desk_desktop.db.models import WorkOrder
    from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES
    from desk_desktop.services.assignment.candidates import OPEN_SQL

    [index] = [i for i in WorkOrder.__table__.indexes if i.name == "ix_work_orders_open_by_technician"]
    predicate = str(index.dialect_options["postgresql"]["where"])
    assert set(re.findall(r"'(\w+)'", predicate)) == {s.value for s in OPEN_WORK_ORDER_STATUSES}
    assert set(re.findall(r"'(\w+)'", OPEN_SQL)) == {s.value for s in OPEN_WORK_ORDER_STATUSES}
