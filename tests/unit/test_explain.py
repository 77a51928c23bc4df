"""The assignment explanation reads as words a dispatcher understands (detail pane)."""

from desk_desktop.services.assignment import explain


def test_times_are_local_and_strategies_are_words_not_ids():
    text = explain({
        "strategy": "round_robin",
        "schedule": {"start": "2026-11-25T14:00:00+00:00", "timezone": "America/Chicago",
                     "note": "moved to the next working window (Wed 25 Nov 08:00 America/Chicago)"},
    })
    assert "Strategy: round robin" in text and "round_robin" not in text
    assert "Scheduled for Wed 25 Nov 08:00 America/Chicago (moved to the next working window)." in text
    assert "2026-11-25T14:00" not in text


def test_older_explanations_without_a_time_zone_show_utc():
    text = explain({"strategy": "skill_match", "schedule": {"start": "2026-11-25T14:00:00+00:00",
                                                            "note": "within working hours"}})
    assert "Strategy: skill match" in text
    assert "Scheduled for Wed 25 Nov 14:00 UTC (within working hours)." in text


def test_nothing_stored_yet():
    assert explain(None) == "Not assigned yet."
