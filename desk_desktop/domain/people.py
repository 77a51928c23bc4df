"""What a valid technician or customer is (hours, coordinates, skills, sites) and their text forms.

Pure functions: each ``*_problems`` returns ``{field: sentence}`` for everything wrong
(empty when all is well); the service adds the checks that need the database (catalogs,
unique refs). The text forms are the ones the command line and CSV files use:
skills ``"networking:4 hardware:3"``, hours ``"mon 08:00-12:00 13:00-17:00; tue 09:00-17:00"``.
"""

from __future__ import annotations

import math
import re

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 40
MAX_REF = 40
MAX_ADDRESS = 300
MAX_OPEN_LIMIT = 1000
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")

Hours = dict[str, list[tuple[str, str]]]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def coordinate_problem(point: tuple[float, float] | None) -> str | None:
    """Why ``(lat, lon)`` is not a WGS 84 position (None: it is, or there is none)."""
    if point is None:
        return None
    lat, lon = point
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (lat, lon)):
        return "Coordinates must be numbers: latitude, longitude."
    if not -90 <= lat <= 90:
        return f"Latitude {lat} is outside -90..90."
    if not -180 <= lon <= 180:
        return f"Longitude {lon} is outside -180..180."
    return None


def hours_problems(hours: Hours | None) -> dict[str, str]:
    """Problems of weekly working hours, by ``hours.<day>``."""
    if hours is None:
        return {}
    problems: dict[str, str] = {}
    for day, intervals in hours.items():
        if day not in DAYS:
            problems[f"hours.{day}"] = f"'{day}' is not a day: use {', '.join(DAYS)}."
            continue
        bad = [f"{a}-{b}" for a, b in intervals if not (_TIME.match(a) and _TIME.match(b))]
        if bad:
            problems[f"hours.{day}"] = f"{', '.join(bad)}: times are HH:MM (00:00 to 24:00)."
            continue
        spans = sorted((_minutes(a), _minutes(b), f"{a}-{b}") for a, b in intervals)
        backwards = [s for a, b, s in spans if a >= b]
        if backwards:
            problems[f"hours.{day}"] = f"{', '.join(backwards)}: the start must be before the end."
            continue
        for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
            if start < end:
                problems[f"hours.{day}"] = f"{first} and {second} overlap."
                break
    return problems


def weekly_hours(hours: Hours | None, default: int = 40) -> int:
    """The total of the intervals in whole hours (``default`` when hours are not known)."""
    if hours is None:
        return default
    return round(sum(_minutes(b) - _minutes(a) for day in hours.values() for a, b in day) / 60)


def hours_json(hours: Hours | None) -> dict | None:
    """The stored shape: ``{"mon": [["08:00", "12:00"], …]}`` in day order, intervals sorted,
    days without intervals left out."""
    if hours is None:
        return None
    return {d: [[a, b] for a, b in sorted(hours[d])] for d in DAYS if hours.get(d)}


def hours_from_json(stored: dict | None) -> Hours | None:
    if stored is None:
        return None
    return {d: [(a, b) for a, b in stored[d]] for d in DAYS if stored.get(d)}


def text_problems(values: dict[str, tuple[str | None, int, bool]]) -> dict[str, str]:
    """Required and length checks: ``field -> (value, max length, required)``."""
    problems: dict[str, str] = {}
    for fieldname, (value, limit, required) in values.items():
        text = (value or "").strip()
        if required and not text:
            problems[fieldname] = f"The {fieldname.rsplit('.', 1)[-1]} is required."
        elif len(text) > limit:
            problems[fieldname] = f"The {fieldname.rsplit('.', 1)[-1]} is too long (at most {limit} characters)."
    return problems


def email_problem(email: str | None) -> str | None:
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email.strip()):
        return f"'{email}' is not an e-mail address."
    return None


def skill_levels_problems(skills: dict[str, int]) -> dict[str, str]:
    """Proficiencies must be whole numbers 1..5 (which keys exist is the catalog's question)."""
    return {f"skills.{k}": f"The proficiency in '{k}' must be 1 to 5 (not {v})."
            for k, v in skills.items() if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 5}


# ---- text forms (command line, CSV) ---------------------------------------------------------

def parse_skills(text: str) -> dict[str, int]:
    """``"networking:4 hardware:3"`` (also ``=`` and commas; keys, as names may have spaces) → ``{"networking": 4, …}``.
    Names are returned as written (the caller resolves them against the catalog).
    ``ValueError`` with a readable message on a malformed item."""
    skills: dict[str, int] = {}
    for item in re.split(r"[\s,]+", text.strip()):
        if item:
            name, level = parse_skill(item)
            skills[name] = level
    return skills


def format_skills(skills: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(skills.items(), key=lambda kv: (-kv[1], kv[0])))


def parse_day_hours(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``"mon 08:00-12:00 13:00-17:00"`` or ``"mon=08:00-12:00,13:00-17:00"`` → (day, intervals).
    ``mon off`` gives no intervals. ``ValueError`` with a readable message otherwise."""
    parts = [p for p in re.split(r"[\s,=]+", text.strip()) if p]
    if not parts:
        raise ValueError("An empty day: write e.g. 'mon 08:00-12:00 13:00-17:00'.")
    day = parts[0].lower()[:3]
    if day not in DAYS or not parts[0].isalpha():
        raise ValueError(f"'{parts[0]}' is not a day: use {', '.join(DAYS)}.")
    if parts[1:] == ["off"]:
        return day, []
    intervals = []
    for p in parts[1:]:
        start, sep, end = p.partition("-")
        if not sep:
            raise ValueError(f"'{p}' is not an interval HH:MM-HH:MM.")
        intervals.append((start.strip(), end.strip()))
    return day, intervals


def parse_hours(text: str) -> Hours | None:
    """A week: days separated by ``;`` (``"mon 08:00-12:00 13:00-17:00; tue 09:00-17:00"``).
    An empty text means the hours are not known (None)."""
    if not text.strip():
        return None
    hours: Hours = {}
    for chunk in text.split(";"):
        if chunk.strip():
            day, intervals = parse_day_hours(chunk)
            if day in hours:
                raise ValueError(f"'{day}' is given twice.")
            hours[day] = intervals
    return hours


def format_hours(hours: Hours | None) -> str:
    if hours is None:
        return ""
    return "; ".join(f"{d} " + " ".join(f"{a}-{b}" for a, b in sorted(hours[d])) for d in DAYS if hours.get(d))


def format_day(intervals: list[tuple[str, str]] | None) -> str:
    """One day for a list: ``"08:00–12:00, 13:00–17:00"`` or ``"off"``."""
    if not intervals:
        return "off"
    return ", ".join(f"{a}–{b}" for a, b in sorted(intervals))


def parse_point(text: str) -> tuple[float, float] | None:
    """``"52.52,13.40"`` → (52.52, 13.4); empty → None. ``ValueError`` if not two numbers."""
    if not text.strip():
        return None
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"'{text}' is not LAT,LON (e.g. 52.52,13.40).") from None
    return lat, lon


def parse_skill(item: str) -> tuple[str, int]:
    """One ``SKILL=LEVEL`` or ``SKILL:LEVEL`` (the skill may have spaces: ``Security systems=3``)."""
    sep = "=" if "=" in item else ":"
    name, found, level = item.rpartition(sep)
    if not found or not name.strip() or not level.strip().isdigit():
        raise ValueError(f"'{item}' is not SKILL=LEVEL (e.g. networking=4).")
    return name.strip(), int(level)
