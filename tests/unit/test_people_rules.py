"""The text forms of skills, hours and points (command line, CSV) and the pure checks of domain/people.py."""

from __future__ import annotations

import pytest

from desk_desktop.domain import people as rules


def test_hours_round_trip_through_text():
    text = "mon 08:00-12:00 13:00-17:00; tue 09:00-17:00; sat 10:00-14:00"
    hours = rules.parse_hours(text)
    assert hours == {"mon": [("08:00", "12:00"), ("13:00", "17:00")], "tue": [("09:00", "17:00")],
                     "sat": [("10:00", "14:00")]}
    assert rules.format_hours(hours) == text
    assert rules.weekly_hours(hours) == 20
    assert rules.parse_hours("  ") is None and rules.format_hours(None) == ""
    assert rules.parse_day_hours("Monday=08:00-12:00,13:00-17:00") == ("mon", [("08:00", "12:00"), ("13:00", "17:00")])
    assert rules.parse_day_hours("fri=off") == ("fri", [])


@pytest.mark.parametrize("text, message", [
    ("funday 08:00-09:00", "'funday' is not a day"),
    ("mon 08:00", "'08:00' is not an interval"),
    ("mon 08:00-09:00; mon 10:00-11:00", "'mon' is given twice"),
])
def test_bad_hours_text_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        rules.parse_hours(text)


def test_hours_problems_name_the_day():
    assert rules.hours_problems({"mon": [("08:00", "12:00"), ("13:00", "24:00")]}) == {}
    problems = rules.hours_problems({"mon": [("08:00", "12:00"), ("11:59", "13:00")], "tue": [("9:00", "10:00")],
                                     "wed": [("10:00", "10:00")], "xyz": []})
    assert problems == {"hours.mon": "08:00-12:00 and 11:59-13:00 overlap.",
                        "hours.tue": "9:00-10:00: times are HH:MM (00:00 to 24:00).",
                        "hours.wed": "10:00-10:00: the start must be before the end.",
                        "hours.xyz": "'xyz' is not a day: use mon, tue, wed, thu, fri, sat, sun."}


def test_skills_and_points_text():
    assert rules.parse_skills("networking:4 hvac=2, fiber:1") == {"networking": 4, "hvac": 2, "fiber": 1}
    assert rules.format_skills({"hvac": 2, "networking": 4, "fiber": 2}) == "networking:4 fiber:2 hvac:2"
    assert rules.parse_skill("Security systems=3") == ("Security systems", 3)
    with pytest.raises(ValueError, match="'networking' is not SKILL"):
        rules.parse_skills("networking")
    assert rules.parse_point("52.52, 13.40") == (52.52, 13.4) and rules.parse_point("") is None
    with pytest.raises(ValueError, match="is not LAT,LON"):
        rules.parse_point("52.52")
    assert rules.coordinate_problem((91.0, 0.0)) == "Latitude 91.0 is outside -90..90."
    assert rules.coordinate_problem((0.0, -181.0)) == "Longitude -181.0 is outside -180..180."
    assert rules.coordinate_problem((float("nan"), 0.0)) == "Coordinates must be numbers: latitude, longitude."
