"""Ranking technicians for the four assignment strategies, and fitting a start time into
working hours — pure functions, no database.

Eligibility (the same for every strategy): the technician is active, has every required
skill, has fewer open work orders (``OPEN_WORK_ORDER_STATUSES``) than their maximum and,
for work due now (``due_now``), is on shift: inside one of their working windows now
(unknown working hours count as on shift) and not absent now (time off). An off-shift or
absent technician is still listed, marked, for a dispatcher's manual choice.
When the order has a location, only technicians within the assignment radius are
considered (the ``nearest`` strategy's KNN query finds them; the others use the same
candidate set so a far-away technician never wins on load or skill alone).

Ranking among eligible technicians:

- ``nearest``: smallest distance; ties by fewest open jobs, then lowest id.
- ``skill_match``: highest average proficiency over the required skills (with no required
  skills every technician scores the same); ties by distance, then fewest open jobs, id.
- ``workload``: fewest open jobs; ties by distance, then lowest id.
- ``round_robin``: the eligible technicians in id order, starting after the rule's pointer
  (the last technician it chose), wrapping around.

A missing distance (order or technician without a location) sorts after every known one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.domain.enums import AssignmentLogic

INF = float("inf")


@dataclass(frozen=True)
class TechFacts:
    """What the ranking needs to know about one technician for one work order."""

    technician_id: int
    name: str
    distance_m: float | None
    skills: Mapping[str, int] = field(default_factory=dict)  # proficiency per skill (at least the required)
    open_jobs: int = 0
    max_open: int = 8
    active: bool = True
    within_radius: bool = True
    lat: float | None = None
    lon: float | None = None
    off_shift: bool = False  # outside working hours now, for work due now
    absent: bool = False  # in an absence now (time off), for work due now
    absence_reason: str | None = None  # that absence's reason ("Holiday")


@dataclass(frozen=True)
class Ranked:
    facts: TechFacts
    eligible: bool
    reason: str  # why (in)eligible, in words
    rank: int | None  # 1-based among eligible technicians; None when not eligible
    skill_score: float | None


def eligibility(t: TechFacts, required_skills: Sequence[str]) -> tuple[bool, str]:
    if not t.active:
        return False, "inactive"
    missing = [s for s in required_skills if s not in t.skills]
    if missing:
        return False, "missing skill " + ", ".join(missing)
    if t.open_jobs >= t.max_open:
        return False, f"at capacity ({t.open_jobs}/{t.max_open} open work orders)"
    if not t.within_radius:
        return False, "outside the assignment radius"
    if t.absent:
        return False, f"absent now ({t.absence_reason or 'time off'})"
    if t.off_shift:
        return False, "off shift now (outside working hours)"
    return True, "eligible"


def skill_score(t: TechFacts, required_skills: Sequence[str]) -> float:
    if not required_skills:
        return 0.0
    return sum(t.skills.get(s, 0) for s in required_skills) / len(required_skills)


def _dist(t: TechFacts) -> float:
    return INF if t.distance_m is None else t.distance_m


def rank_candidates(
    strategy: str,
    candidates: Sequence[TechFacts],
    required_skills: Sequence[str] = (),
    *,
    last_technician_id: int | None = None,
) -> list[Ranked]:
    """Eligible technicians first in strategy order (rank 1 wins), then the ineligible ones
    by distance with the reason they were left out."""
    required = list(required_skills)
    elig: list[tuple[TechFacts, str]] = []
    inelig: list[tuple[TechFacts, str]] = []
    for t in candidates:
        ok, reason = eligibility(t, required)
        (elig if ok else inelig).append((t, reason))
    scores = {t.technician_id: skill_score(t, required) for t, _ in elig}
    strategy = AssignmentLogic(strategy).value
    if strategy == AssignmentLogic.NEAREST:
        elig.sort(key=lambda p: (_dist(p[0]), p[0].open_jobs, p[0].technician_id))
    elif strategy == AssignmentLogic.SKILL_MATCH:
        elig.sort(key=lambda p: (-scores[p[0].technician_id], _dist(p[0]), p[0].open_jobs, p[0].technician_id))
    elif strategy == AssignmentLogic.WORKLOAD:
        elig.sort(key=lambda p: (p[0].open_jobs, _dist(p[0]), p[0].technician_id))
    else:  # round robin: rotate the id order so the one after the pointer comes first
        elig.sort(key=lambda p: p[0].technician_id)
        if last_technician_id is not None:
            after = [p for p in elig if p[0].technician_id > last_technician_id]
            before = [p for p in elig if p[0].technician_id <= last_technician_id]
            elig = after + before
    inelig.sort(key=lambda p: (_dist(p[0]), p[0].technician_id))
    out = [
        Ranked(t, True, reason, i + 1, scores[t.technician_id]) for i, (t, reason) in enumerate(elig)
    ]
    out.extend(Ranked(t, False, reason, None, skill_score(t, required)) for t, reason in inelig)
    return out


def distance_text(d: float | None) -> str:
    """Metres as a dispatcher reads them: '850 m', '12.4 km'."""
    if d is None:
        return "distance unknown"
    if d < 1000:
        return f"{d:.0f} m"
    return f"{d / 1000:.1f} km"


def why_winner(strategy: str, ranked: Sequence[Ranked], required_skills: Sequence[str] = (),
               *, pointer_name: str | None = None) -> str:
    """One or two sentences: why the first eligible technician won."""
    elig = [r for r in ranked if r.eligible]
    if not elig:
        return "No eligible technician."
    w = elig[0]
    t = w.facts
    runner = elig[1] if len(elig) > 1 else None
    if strategy == AssignmentLogic.NEAREST:
        s = f"{t.name} is the closest eligible technician ({distance_text(t.distance_m)})"
        if runner:
            s += f"; next was {runner.facts.name} at {distance_text(runner.facts.distance_m)}"
    elif strategy == AssignmentLogic.SKILL_MATCH:
        if required_skills:
            skills = ", ".join(f"{s} {t.skills.get(s, 0)}/5" for s in required_skills)
            s = f"{t.name} has the best proficiency in the required skills ({skills}; average {w.skill_score:.1f})"
        else:
            s = f"No skills are required, so every eligible technician scores the same; {t.name} is the closest"
        if runner and required_skills:
            if runner.skill_score == w.skill_score:
                s += f"; tied with {runner.facts.name} and closer ({distance_text(t.distance_m)} vs {distance_text(runner.facts.distance_m)})"
            else:
                s += f"; next was {runner.facts.name} (average {runner.skill_score:.1f})"
    elif strategy == AssignmentLogic.WORKLOAD:
        s = f"{t.name} has the fewest open work orders ({t.open_jobs} of {t.max_open})"
        if runner:
            if runner.facts.open_jobs == t.open_jobs:
                s += (f"; tied with {runner.facts.name} and closer "
                      f"({distance_text(t.distance_m)} vs {distance_text(runner.facts.distance_m)})")
            else:
                s += f"; next was {runner.facts.name} with {runner.facts.open_jobs}"
    else:
        if pointer_name:
            s = f"{t.name} is next in the rotation after {pointer_name}"
        else:
            s = f"{t.name} starts the rotation (lowest id among eligible technicians)"
        s += f" ({len(elig)} eligible technician{'s' if len(elig) != 1 else ''} take turns)"
    return s + "."


def no_eligible_reason(ranked: Sequence[Ranked], *, radius_km: float | None, located: bool,
                       required_skills: Sequence[str]) -> str:
    """Why nobody could take the order, in words a dispatcher can act on."""
    if not ranked:
        if located and radius_km is not None:
            return f"No active technician within {radius_km:g} km of the site."
        return "No active technician in this organization."
    counts: dict[str, int] = {}
    for r in ranked:
        key = r.reason.split(" (")[0] if r.reason.startswith("at capacity") else r.reason
        if key.startswith("missing skill"):
            key = "missing a required skill"
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    where = f" within {radius_km:g} km" if located and radius_km is not None else ""
    need = f" (needs {', '.join(required_skills)})" if required_skills else ""
    return f"No eligible technician{where}{need}: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- scheduling

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_hhmm(s: str) -> time:
    h, m = str(s).split(":")[:2]
    h_i, m_i = int(h), int(m)
    if h_i == 24 and m_i == 0:
        return time(23, 59, 59, 999999)
    return time(h_i, m_i)


Windows = dict[int, list[tuple[time, time]]]  # weekday (Monday 0) -> working windows, in order


def parse_working_hours(hours: Mapping | None) -> Windows | None:
    """{"mon": [["08:00","17:00"]], …} → {0: [(08:00, 17:00)], …}; None/empty → None (unknown).
    Malformed entries are ignored."""
    if not hours:
        return None
    out: dict[int, list[tuple[time, time]]] = {}
    for key, windows in hours.items():
        k = str(key).lower()[:3]
        if k not in DAY_KEYS:
            continue
        parsed = []
        for w in windows or ():
            try:
                a, b = _parse_hhmm(w[0]), _parse_hhmm(w[1])
            except (ValueError, IndexError, TypeError):
                continue
            if a < b:
                parsed.append((a, b))
        if parsed:
            out[DAY_KEYS.index(k)] = sorted(parsed)
    return out or None


def _zone(tz_name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name or "UTC")
    except Exception:  # noqa: BLE001 — an unknown zone name must not block scheduling
        return ZoneInfo("UTC")


def on_shift(working_hours: Mapping | None, at: datetime, tz_name: str = "UTC") -> bool:
    """Whether ``at`` falls inside one of the working windows (organization time zone);
    unknown working hours count as on shift."""
    parsed = parse_working_hours(working_hours)
    if parsed is None:
        return True
    local = at.astimezone(_zone(tz_name))
    return any(a <= local.time() < b for a, b in parsed.get(local.weekday(), ()))


DUE_NOW_MINUTES = 60


def due_now(requested_start: datetime | None, now: datetime) -> bool:
    """Work is due now when it has no start (it is not scheduled: whoever takes it goes now)
    or its requested start is within ``DUE_NOW_MINUTES`` of ``now``."""
    return requested_start is None or requested_start <= now + timedelta(minutes=DUE_NOW_MINUTES)


@dataclass(frozen=True)
class ScheduleFit:
    start: datetime
    end: datetime
    requested_start: datetime
    moved: bool
    note: str


def fit_into_working_hours(
    requested_start: datetime,
    duration_minutes: int,
    working_hours: Mapping | None,
    tz_name: str = "UTC",
    *,
    horizon_days: int = 14,
) -> ScheduleFit:
    """The earliest start at or after ``requested_start`` inside a working window where the
    whole job fits; if no window is long enough, the start of the next window. Hours are in
    the organization's time zone. Unknown hours → the requested start, unchanged."""
    return fit_into_windows(requested_start, duration_minutes, parse_working_hours(working_hours), tz_name,
                            horizon_days=horizon_days)


def fit_into_windows(
    requested_start: datetime,
    duration_minutes: int,
    parsed: Windows | None,
    tz_name: str = "UTC",
    *,
    horizon_days: int = 14,
) -> ScheduleFit:
    """``fit_into_working_hours`` with the hours already parsed (``parse_working_hours``)."""
    if requested_start.tzinfo is None:
        requested_start = requested_start.replace(tzinfo=UTC)
    dur = timedelta(minutes=duration_minutes)
    if parsed is None:
        return ScheduleFit(requested_start, requested_start + dur, requested_start, False,
                           "working hours unknown; scheduled at the requested time")
    tz = _zone(tz_name)
    local_req = requested_start.astimezone(tz)
    first_window_start: datetime | None = None
    day0: date = local_req.date()
    for offset in range(horizon_days + 1):
        day = day0 + timedelta(days=offset)
        for a, b in parsed.get(day.weekday(), ()):
            w_start = datetime.combine(day, a, tzinfo=tz)
            w_end = datetime.combine(day, b, tzinfo=tz)
            if w_end <= local_req:
                continue
            cand = max(local_req, w_start)
            if first_window_start is None:
                first_window_start = cand
            if cand + dur <= w_end:
                start = cand.astimezone(UTC)
                moved = start != requested_start.astimezone(UTC)
                note = ("within working hours" if not moved else
                        f"moved to the next working window ({cand:%a %d %b %H:%M} {tz_name})")
                return ScheduleFit(start, start + dur, requested_start, moved, note)
    if first_window_start is not None:
        start = first_window_start.astimezone(UTC)
        moved = start != requested_start.astimezone(UTC)
        return ScheduleFit(start, start + dur, requested_start, moved,
                           "no working window is long enough for the whole job; starts at the next window "
                           f"({first_window_start:%a %d %b %H:%M} {tz_name})")
    return ScheduleFit(requested_start, requested_start + dur, requested_start, False,
                       f"no working window in the next {horizon_days} days; scheduled at the requested time")
