"""Time off in the organization's time zone (pure): whole days, the period in words, the
text a dispatcher reads, parsing what is typed, and absences as busy time for the slot search."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from desk_desktop.domain.absences import (
    away_text,
    parse_period,
    period_problems,
    period_text,
    reason_problem,
    whole_days,
)
from desk_desktop.domain.scoring import TechFacts, eligibility
from desk_desktop.domain.slots import Visit, first_free_slot

HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_whole_days_run_from_local_midnight_to_the_midnight_after_the_last_day():
    start, end = whole_days(date(2026, 12, 7), date(2026, 12, 9), "Europe/Berlin")
    assert start.astimezone(UTC) == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)


def test_a_day_with_a_clock_change_is_still_one_day():
    start, end = whole_days(date(2026, 3, 29), date(2026, 3, 29), "Europe/Berlin")  # 23 hours long
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == 23 * 3600
    assert period_text(start, end, "Europe/Berlin") == "on Sun 29 Mar"


def test_the_period_in_words():
    tz = "America/Chicago"
    a, b = whole_days(date(2026, 12, 7), date(2026, 12, 9), tz)
    assert period_text(a, b, tz) == "from Mon 7 Dec to Wed 9 Dec"
    assert away_text("Ann Lee", "Holiday", a, b, tz) == "Ann Lee is away (Holiday) from Mon 7 Dec to Wed 9 Dec"
    hours = (datetime(2026, 12, 8, 16, 0, tzinfo=UTC), datetime(2026, 12, 8, 18, 30, tzinfo=UTC))
    assert period_text(*hours, tz) == "on Tue 8 Dec from 10:00 to 12:30"
    overnight = (datetime(2026, 12, 8, 20, 0, tzinfo=UTC), datetime(2026, 12, 9, 16, 0, tzinfo=UTC))
    assert period_text(*overnight, tz) == "from Tue 8 Dec 14:00 to Wed 9 Dec 10:00"


def test_parsing_days_or_times_and_refusing_a_mix():
    assert parse_period("2026-12-07", "2026-12-09") == (date(2026, 12, 7), date(2026, 12, 9))
    assert parse_period("2026-12-07", "") == (date(2026, 12, 7), date(2026, 12, 7))
    assert parse_period("2026-12-08 09:00", "2026-12-08T12:00") == (datetime(2026, 12, 8, 9), datetime(2026, 12, 8, 12))
    with pytest.raises(ValueError, match="both ends as days"):
        parse_period("2026-12-07", "2026-12-08 10:00")
    with pytest.raises(ValueError, match="whole-day absence takes days"):
        parse_period("2026-12-08 09:00", "2026-12-08 12:00", all_day=True)
    with pytest.raises(ValueError, match="takes times"):
        parse_period("2026-12-08", "2026-12-09", all_day=False)
    with pytest.raises(ValueError, match="give the end time"):
        parse_period("2026-12-08 09:00", "")
    with pytest.raises(ValueError, match="'8.12.2026' is neither a day"):
        parse_period("8.12.2026", "")


def test_period_and_reason_problems():
    a, b = datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 12, tzinfo=UTC)
    assert period_problems(a, b) == {}
    assert "ends before it starts" in period_problems(b, a)["end"]
    assert "at most 366 days" in period_problems(a, b.replace(year=2028))["end"]
    assert reason_problem("Holiday") is None
    assert "Give a reason" in reason_problem("  ")
    assert "at most 80" in reason_problem("x" * 81)


def test_an_absence_is_busy_time_the_slot_search_steps_over_and_names():
    away = Visit(datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 12, tzinfo=UTC), "absence (Doctor)",
                 "Doctor")
    assert away.absence and not Visit(away.start, away.end, "WO-000001").absence
    fit = first_free_slot(datetime(2026, 12, 8, 8, 30, tzinfo=UTC), 60, HOURS, "UTC", [away])
    assert fit.start == datetime(2026, 12, 8, 12, tzinfo=UTC) and "absence (Doctor)" in fit.note


def test_an_absent_technician_is_not_eligible_and_says_why_before_off_shift():
    t = TechFacts(technician_id=1, name="Ann", distance_m=10.0, absent=True, absence_reason="Sick", off_shift=True)
    assert eligibility(t, []) == (False, "absent now (Sick)")
