"""The schedule board's arithmetic: working windows on the board's days, driving time."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from desk_desktop.domain.board import working_windows
from desk_desktop.domain.scoring import parse_working_hours
from desk_desktop.domain.travel import travel_minutes

CHICAGO = ZoneInfo("America/Chicago")


def test_windows_follow_the_weekdays_and_the_local_clock_across_a_dst_change():
    hours = parse_working_hours({"sat": [["08:00", "12:00"]], "sun": [["08:00", "12:00"]]})
    # 2026-11-01 is the Sunday the clocks go back in Chicago: 08:00 local is 14:00 UTC, not 13:00.
    windows = working_windows(hours, "America/Chicago", date(2026, 10, 31), 2)
    assert windows == [(datetime(2026, 10, 31, 8, tzinfo=CHICAGO), datetime(2026, 10, 31, 12, tzinfo=CHICAGO)),
                       (datetime(2026, 11, 1, 8, tzinfo=CHICAGO), datetime(2026, 11, 1, 12, tzinfo=CHICAGO))]
    assert [w[0].astimezone(ZoneInfo("UTC")).time() for w in windows] == [time(13), time(14)]
    assert working_windows(hours, "America/Chicago", date(2026, 11, 2), 5) == []  # Monday to Friday: off
    assert working_windows(None, "UTC", date(2026, 11, 2), 7) == []  # hours unknown


def test_driving_time_rounds_up_to_whole_minutes():
    assert travel_minutes(5000, 40) == 8  # 7.5 min
    assert travel_minutes(10000, 40) == 15
    assert travel_minutes(10001, 40) == 16
    assert travel_minutes(None, 40) == 0 and travel_minutes(5000, 0) == 0


def test_a_drop_into_an_absence_is_refused_naming_it_and_a_soft_break_only_asks():
    from desk_desktop.domain.board import check_drop

    day = [(datetime(2026, 12, 8, 8, tzinfo=CHICAGO), datetime(2026, 12, 8, 17, tzinfo=CHICAGO))]
    common = dict(technician="Ann Lee", skills=("hvac",), windows=day, hours_known=True, busy=[],
                  required_skills=("hvac",), open_jobs=3, max_open=8, new_for_them=True, tz_name="America/Chicago")
    away = [(datetime(2026, 12, 8, 12, tzinfo=CHICAGO), datetime(2026, 12, 8, 14, tzinfo=CHICAGO), "Dentist")]
    at = datetime(2026, 12, 8, 13, tzinfo=CHICAGO)
    check = check_drop(start=at, end=at.replace(hour=14), absences=away, **common)
    assert check.hard == ("Ann Lee is away (Dentist) on Tue 8 Dec from 12:00 to 14:00",)
    fine = check_drop(start=at.replace(hour=14), end=at.replace(hour=15), absences=away, **common)
    assert fine.ok
    late = check_drop(start=at.replace(hour=16, minute=30), end=at.replace(hour=17, minute=30), **common)
    assert late.hard == () and late.soft == ("outside Ann Lee's working hours",)
    busy = check_drop(start=at, end=at.replace(hour=14), **{**common, "busy": [(at, at.replace(hour=15), "WO-000007")],
                                                               "skills": ("gas",)})
    assert busy.hard == ("Ann Lee lacks hvac", "overlaps WO-000007 (13:00–15:00)")
    full = check_drop(start=at, end=at.replace(hour=14), **{**common, "open_jobs": 8})
    assert full.soft == ("Ann Lee is at capacity (8/8 open work orders)",)
