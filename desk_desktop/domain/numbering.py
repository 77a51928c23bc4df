"""Ticket number format: pure functions, no database.

A ticket number is ``HEAD + counter`` where the head is the prefix, then (optionally) the
year and the month of the ticket's creation in the organization's time zone, joined with
the separator::

    TK-2026-00001        prefix TK, year, padding 5, separator "-"
    SR_2026_11_0042      prefix SR, year and month, padding 4, separator "_"
    HD.17                prefix HD, no date, padding 2, separator "."

The counter is zero-padded to ``padding`` digits and simply grows wider when it
outgrows the padding (never truncated). The reset policy chooses the *period key* that
names the counter row: ``"-"`` (never), ``"2026"`` (yearly) or ``"2026-11"`` (monthly);
a reset is simply a new counter row for a new period.

A format must keep numbers unique across resets, so a yearly reset needs the year in the
number and a monthly reset needs year and month; a month without a year is refused too
(``TK-11-00001`` would come back every November).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desk_desktop.domain.enums import ResetPolicy

PREFIX_RE = re.compile(r"^[A-Z0-9]{1,10}$")
SEPARATORS = ("-", "_", ".")
PADDING_MIN = 1
PADDING_MAX = 12
NEVER_PERIOD = "-"


class NumberFormatInvalid(ValueError):
    """A numbering format that cannot be used; ``field`` names the offending setting."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NumberFormat:
    prefix: str = "TK"
    include_year: bool = True
    include_month: bool = False
    padding: int = 5
    separator: str = "-"
    reset_policy: str = ResetPolicy.YEARLY.value

    def with_changes(self, **changes) -> NumberFormat:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT_FORMAT = NumberFormat()


def format_problems(fmt: NumberFormat) -> list[tuple[str, str]]:
    """Every reason ``fmt`` cannot be used, as (field, message); empty when it is fine."""
    problems: list[tuple[str, str]] = []
    if not isinstance(fmt.prefix, str) or not PREFIX_RE.match(fmt.prefix):
        problems.append(("prefix", "The prefix must be 1 to 10 characters, capital letters A-Z and digits 0-9 only."))
    if not isinstance(fmt.padding, int) or isinstance(fmt.padding, bool) or not (
        PADDING_MIN <= fmt.padding <= PADDING_MAX
    ):
        problems.append(("padding", f"The padding must be a whole number from {PADDING_MIN} to {PADDING_MAX}."))
    if fmt.separator not in SEPARATORS:
        problems.append(("separator", "The separator must be one of '-', '_' or '.'."))
    policies = [p.value for p in ResetPolicy]
    if fmt.reset_policy not in policies:
        problems.append(("reset_policy", "The reset policy must be never, yearly or monthly."))
    if fmt.include_month and not fmt.include_year:
        problems.append(("include_month", "A month in the number needs the year too, or numbers would repeat every year."))
    if fmt.reset_policy == ResetPolicy.YEARLY and not fmt.include_year:
        problems.append(("reset_policy", "A yearly reset needs the year in the number, or numbers would repeat."))
    if fmt.reset_policy == ResetPolicy.MONTHLY and not (fmt.include_year and fmt.include_month):
        problems.append(("reset_policy", "A monthly reset needs the year and the month in the number, or numbers would repeat."))
    return problems


def validate_format(fmt: NumberFormat) -> NumberFormat:
    problems = format_problems(fmt)
    if problems:
        field, message = problems[0]
        raise NumberFormatInvalid(message, field)
    return fmt


def org_zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise NumberFormatInvalid(f"Unknown time zone '{tz_name}' for the organization.", "timezone") from exc


def local_time(now: datetime, tz_name: str) -> datetime:
    """``now`` (aware; naive is taken as UTC) in the organization's time zone."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(org_zone(tz_name))


def period_key(reset_policy: str, local_dt: datetime) -> str:
    """Name of the counter row for a ticket created at ``local_dt`` (org-local time)."""
    if reset_policy == ResetPolicy.NEVER:
        return NEVER_PERIOD
    if reset_policy == ResetPolicy.YEARLY:
        return f"{local_dt.year:04d}"
    if reset_policy == ResetPolicy.MONTHLY:
        return f"{local_dt.year:04d}-{local_dt.month:02d}"
    raise NumberFormatInvalid(f"Unknown reset policy '{reset_policy}'.", "reset_policy")


def number_head(fmt: NumberFormat, local_dt: datetime) -> str:
    """Everything before the counter digits, separator included (``"TK-2026-"``)."""
    parts = [fmt.prefix]
    if fmt.include_year:
        parts.append(f"{local_dt.year:04d}")
        if fmt.include_month:
            parts.append(f"{local_dt.month:02d}")
    return fmt.separator.join(parts) + fmt.separator


def pad_counter(value: int, padding: int) -> str:
    if value < 1:
        raise NumberFormatInvalid("Ticket counters start at 1.", "value")
    return str(value).rjust(padding, "0")


def format_number(fmt: NumberFormat, value: int, local_dt: datetime) -> str:
    """The ticket number for counter ``value`` of the period containing ``local_dt``."""
    return number_head(fmt, local_dt) + pad_counter(value, fmt.padding)


def counter_of(number: str, head: str) -> int | None:
    """The counter value of ``number`` if it was made with ``head``, else None."""
    if not number.startswith(head):
        return None
    tail = number[len(head):]
    if not tail.isascii() or not tail.isdigit():
        return None
    return int(tail)
