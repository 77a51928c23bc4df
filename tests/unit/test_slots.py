"""The first free slot: after the requested time, inside working hours, clear of every visit;
and who is on shift for work due now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from desk_desktop.domain.scoring import DUE_NOW_MINUTES, TechFacts, due_now, eligibility, on_shift, parse_working_hours
from desk_desktop.domain.slots import Visit, busy_blocks, first_clash, first_free_in_windows, first_free_slot
from desk_desktop.domain.travel import km_between, travel_minutes

WEEKDAYS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
WED_9 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday


def at(h: int, m: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


def test_a_free_requested_hour_is_kept():
    fit = first_free_slot(WED_9, 60, WEEKDAYS, "UTC", [Visit(at(11), at(12), "WO-000001")])
    assert (fit.start, fit.end, fit.moved) == (WED_9, at(10), False)


def test_a_busy_hour_moves_to_the_end_of_the_visit_and_says_which():
    fit = first_free_slot(WED_9, 60, WEEKDAYS, "UTC", [Visit(at(8, 30), at(9, 30), "WO-000001")])
    assert (fit.start, fit.end, fit.moved) == (at(9, 30), at(10, 30), True)
    assert "WO-000001" in fit.note


def test_back_to_back_visits_are_skipped_and_a_gap_too_short_is_not_used():
    visits = [Visit(at(9), at(10), "A"), Visit(at(10), at(11), "B"), Visit(at(11, 30), at(12), "C")]
    fit = first_free_slot(WED_9, 60, WEEKDAYS, "UTC", visits)  # 11:00-11:30 is too short
    assert (fit.start, fit.end) == (at(12), at(13))
    assert "C" in fit.note


# Two places 19.9 km apart on the same meridian: 30 minutes' drive at 40 km/h (rounded up).
PARIS = (48.8566, 2.3522)
NORTH = (48.8566 + 19.9 / 111.195, 2.3522)


def test_the_drive_between_two_places_is_booked_around_a_visit_elsewhere():
    assert travel_minutes(km_between(PARIS, NORTH) * 1000, 40) == 30
    before, after = Visit(at(8), at(9), "WO-000001", where=NORTH), Visit(at(12), at(13), "WO-000002", where=NORTH)
    fit = first_free_in_windows(at(8, 30), 60, parse_working_hours(WEEKDAYS), "UTC", [before, after], here=PARIS,
                                speed_kmh=40)
    assert (fit.start, fit.end) == (at(9, 30), at(10, 30))  # the drive from WO-000001 first
    assert fit.note.startswith("first free slot after WO-000001 and the 30 min drive from there")
    # 2 h 30 of work does not fit before the drive to WO-000002 at 12:00: after it, and its drive back.
    fit = first_free_in_windows(at(8, 30), 150, parse_working_hours(WEEKDAYS), "UTC", [before, after], here=PARIS,
                                speed_kmh=40)
    assert (fit.start, fit.end) == (at(13, 30), at(16))
    # At the same place, or with nothing known of the place, visits follow each other at once.
    same = first_free_in_windows(at(8, 30), 60, None, "UTC", [Visit(at(8), at(9), "A", where=PARIS)], here=PARIS,
                                 speed_kmh=40)
    unknown = first_free_in_windows(at(8, 30), 60, None, "UTC", [Visit(at(8), at(9), "A")], here=PARIS, speed_kmh=40)
    assert same.start == unknown.start == at(9)


def test_a_full_afternoon_moves_the_visit_to_the_next_working_morning():
    fit = first_free_slot(at(15), 90, WEEKDAYS, "UTC", [Visit(at(14), at(16), "A")])
    assert (fit.start, fit.end) == (at(8, day=26), at(9, 30, day=26))


def test_working_hours_are_read_in_the_organizations_time_zone():
    # 08:00 in Paris is 07:00 UTC in winter; the 07:00-08:00 UTC visit pushes the job to 09:00 Paris.
    fit = first_free_slot(at(6), 60, WEEKDAYS, "Europe/Paris", [Visit(at(7), at(8), "A")])
    assert (fit.start, fit.end) == (at(8), at(9))


def test_unknown_working_hours_only_avoid_the_visits():
    fit = first_free_slot(at(22), 60, None, "UTC", [Visit(at(21, 30), at(23), "A")])
    assert (fit.start, fit.end) == (at(23), at(0, day=26))


def test_first_clash_is_the_earliest_overlapping_visit():
    visits = [Visit(at(12), at(13), "late"), Visit(at(9), at(10), "early"), Visit(at(10), at(11), "touching")]
    assert first_clash(at(9, 30), at(12, 30), visits).label == "early"
    assert first_clash(at(11), at(12), visits) is None  # end and start may touch


visit_lists = st.lists(st.tuples(st.integers(0, 60 * 24 * 5), st.integers(15, 300)), max_size=25)


@settings(max_examples=200, deadline=None)
@given(visit_lists, st.integers(0, 60 * 24 * 3), st.integers(15, 240), st.booleans())
def test_the_slot_never_overlaps_never_starts_early_and_stays_in_hours(raw, offset, duration, with_hours):
    visits = [Visit(WED_9 + timedelta(minutes=s), WED_9 + timedelta(minutes=s + n)) for s, n in raw]
    requested = WED_9 + timedelta(minutes=offset)
    fit = first_free_slot(requested, duration, WEEKDAYS if with_hours else None, "UTC", visits)
    assert fit.start >= requested
    assert fit.end - fit.start == timedelta(minutes=duration)
    assert first_clash(fit.start, fit.end, visits) is None
    if with_hours:
        assert fit.start.weekday() < 5 and fit.start.hour >= 8 and (fit.end.hour, fit.end.minute) <= (17, 0)
        assert fit.start.date() == fit.end.date()


# ------------------------------------------------------------------ on shift, due now


def test_on_shift_inside_a_window_of_the_day_in_the_organizations_zone():
    assert on_shift(WEEKDAYS, at(8), "UTC") and not on_shift(WEEKDAYS, at(7, 59), "UTC")
    assert not on_shift(WEEKDAYS, at(17), "UTC")  # the window ends at 17:00
    assert on_shift(WEEKDAYS, at(7, 30), "Europe/Paris")  # 08:30 in Paris
    assert not on_shift(WEEKDAYS, datetime(2026, 11, 28, 10, 0, tzinfo=UTC), "UTC")  # a Saturday
    assert on_shift(None, at(3), "UTC")  # unknown hours: on shift


def test_work_is_due_now_without_a_start_or_within_the_hour():
    assert due_now(None, WED_9)
    assert due_now(WED_9 + timedelta(minutes=DUE_NOW_MINUTES), WED_9)
    assert not due_now(WED_9 + timedelta(minutes=DUE_NOW_MINUTES + 1), WED_9)


def test_an_off_shift_technician_is_not_eligible_and_says_so():
    t = TechFacts(technician_id=1, name="Ann", distance_m=10.0, off_shift=True)
    assert eligibility(t, []) == (False, "off shift now (outside working hours)")


def test_busy_blocks_merge_overlapping_and_back_to_back_visits_named_by_their_last():
    visits = [Visit(at(10), at(11), "B"), Visit(at(9), at(10), "A"), Visit(at(10, 30), at(10, 45), "inside"),
              Visit(at(12), at(13), "C")]
    assert busy_blocks(visits) == [Visit(at(9), at(11), "B"), Visit(at(12), at(13), "C")]
