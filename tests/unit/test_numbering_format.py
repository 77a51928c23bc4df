"""The pure ticket-number format (no database)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk_desktop.domain.numbering import (
    NumberFormat,
    NumberFormatInvalid,
    counter_of,
    format_number,
    format_problems,
    local_time,
    number_head,
    period_key,
    validate_format,
)

prefixes = st.from_regex(r"\A[A-Z0-9]{1,10}\Z")
datetimes = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 1))


@st.composite
def valid_formats(draw):
    include_year = draw(st.booleans())
    include_month = include_year and draw(st.booleans())
    policies = ["never"] + (["yearly"] if include_year else []) + (["monthly"] if include_month else [])
    return NumberFormat(
        prefix=draw(prefixes),
        include_year=include_year,
        include_month=include_month,
        padding=draw(st.integers(1, 12)),
        separator=draw(st.sampled_from(["-", "_", "."])),
        reset_policy=draw(st.sampled_from(policies)),
    )


def test_default_is_tk_year_five_digits():
    dt = datetime(2026, 3, 4, 5, 6)
    assert format_number(NumberFormat(), 1, dt) == "TK-2026-00001"
    assert format_number(NumberFormat(), 2, dt) == "TK-2026-00002"
    assert period_key("yearly", dt) == "2026"


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        (NumberFormat(prefix="SR", include_month=True, padding=4, separator="_", reset_policy="monthly"), 42,
         "SR_2026_03_0042"),
        (NumberFormat(prefix="HD", include_year=False, padding=2, separator=".", reset_policy="never"), 7, "HD.07"),
        (NumberFormat(prefix="X1", include_year=False, padding=1, reset_policy="never"), 12345, "X1-12345"),
        (NumberFormat(padding=12), 9, "TK-2026-000000000009"),
        (NumberFormat(padding=3), 123456, "TK-2026-123456"),  # grows, never truncated
        (NumberFormat(include_month=True, reset_policy="yearly"), 3, "TK-2026-03-00003"),
    ],
)
def test_every_option(fmt, value, expected):
    assert format_number(validate_format(fmt), value, datetime(2026, 3, 4)) == expected


def test_period_keys():
    dt = datetime(2026, 10, 31, 23, 59)
    assert period_key("never", dt) == "-"
    assert period_key("yearly", dt) == "2026"
    assert period_key("monthly", dt) == "2026-10"


def test_period_boundary_uses_the_organization_time_zone():
    # 31 Dec 2026 23:30 in New York is already 2027 in UTC.
    utc = datetime(2027, 1, 1, 4, 30, tzinfo=UTC)
    ny = local_time(utc, "America/New_York")
    assert period_key("yearly", ny) == "2026"
    assert period_key("yearly", local_time(utc, "UTC")) == "2027"
    # Tokyo is ahead: 31 Jan 2026 20:00 UTC is already February there.
    tokyo = local_time(datetime(2026, 1, 31, 20, 0, tzinfo=UTC), "Asia/Tokyo")
    assert period_key("monthly", tokyo) == "2026-02"
    with pytest.raises(NumberFormatInvalid):
        local_time(utc, "Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prefix": ""}, "prefix"),
        ({"prefix": "tk"}, "prefix"),
        ({"prefix": "ABCDEFGHIJK"}, "prefix"),
        ({"prefix": "T-K"}, "prefix"),
        ({"padding": 0}, "padding"),
        ({"padding": 13}, "padding"),
        ({"separator": "/"}, "separator"),
        ({"reset_policy": "weekly"}, "reset_policy"),
        ({"include_year": False, "include_month": True, "reset_policy": "never"}, "include_month"),
        ({"include_year": False}, "reset_policy"),  # yearly reset without the year would repeat numbers
        ({"reset_policy": "monthly"}, "reset_policy"),  # monthly reset without the month
    ],
)
def test_invalid_formats_are_refused_with_the_field(changes, field):
    fmt = NumberFormat(**{**NumberFormat().__dict__, **changes})
    assert field in [f for f, _ in format_problems(fmt)]
    with pytest.raises(NumberFormatInvalid):
        validate_format(fmt)


@given(valid_formats(), st.integers(1, 10**13), datetimes)
def test_formatted_number_round_trips(fmt, value, dt):
    assert not format_problems(fmt)
    number = format_number(fmt, value, dt)
    head = number_head(fmt, dt)
    assert number.startswith(fmt.prefix + fmt.separator)
    assert counter_of(number, head) == value
    digits = number[len(head):]
    assert len(digits) == max(fmt.padding, len(str(value)))
    assert re.fullmatch(r"[A-Z0-9._-]+", number)
    assert len(number) <= 40  # fits tickets.number


@given(valid_formats(), st.integers(1, 10**6), st.integers(1, 10**6), datetimes, datetimes)
def test_numbers_never_collide_across_values_or_periods(fmt, a, b, d1, d2):
    """Distinct (period, value) pairs give distinct numbers — what makes resets safe."""
    na, nb = format_number(fmt, a, d1), format_number(fmt, b, d2)
    same_counter_row = period_key(fmt.reset_policy, d1) == period_key(fmt.reset_policy, d2)
    if same_counter_row and a != b:
        assert na != nb
    if not same_counter_row:
        # Different counter rows hand out the same values again: the date part must differ.
        assert number_head(fmt, d1) != number_head(fmt, d2)
        assert na != nb


@given(valid_formats(), datetimes, st.integers(1, 10**6), st.integers(1, 10**6))
def test_numbers_sort_like_counters_within_padding(fmt, dt, a, b):
    limit = 10**fmt.padding
    if a < limit and b < limit:
        assert (format_number(fmt, a, dt) < format_number(fmt, b, dt)) == (a < b)
