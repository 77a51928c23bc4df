"""The explanation of a decision: the record stored on the order, and its text in words.

Every decision stores on the order (and in the audit log) the strategy, the candidates with
distance, skills and load, and why the winner won (or why nobody could take it);
``explain`` turns that record into the lines the detail pane shows a dispatcher.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from desk_desktop.domain.enums import ASSIGNMENT_LOGIC_HELP
from desk_desktop.domain.scoring import Ranked, distance_text
from desk_desktop.services.assignment.position import POSITION_RULE
from desk_desktop.services.assignment.types import Candidate

EXPLANATION_CANDIDATES = 10  # how many candidates the stored explanation lists


def candidate_record(r: Ranked, required: list[str]) -> dict:
    t = r.facts
    return {
        "technician_id": t.technician_id,
        "name": t.name,
        "rank": r.rank,
        "distance_m": round(t.distance_m, 1) if t.distance_m is not None else None,
        "skills": {s: t.skills.get(s) for s in required} if required else {},
        "open_jobs": t.open_jobs,
        "max_open": t.max_open,
        "eligible": r.eligible,
        "reason": r.reason,
    }


def to_candidate(r: Ranked, required: list[str]) -> Candidate:
    t = r.facts
    return Candidate(technician_id=t.technician_id, name=t.name, rank=r.rank, distance_m=t.distance_m,
                     matched_skills={s: t.skills[s] for s in required if s in t.skills}, open_jobs=t.open_jobs,
                     max_open=t.max_open, eligible=r.eligible, reason=r.reason, lat=t.lat, lon=t.lon,
                     off_shift=t.off_shift, absent=t.absent, absence_reason=t.absence_reason)


def record(*, strategy: str, requested: str, fallback: str | None, ranked: list[Ranked], located: bool,
           required: list[str], radius_km: float, now: datetime, winner: Ranked | None, why: str | None,
           reason: str | None = None, rotation_after: dict | None = None, extra: dict | None = None) -> dict:
    """The explanation stored on the order: the first candidates (and the winner, if it is
    not among them), the strategy and what it fell back from, why."""
    listed = ranked[:EXPLANATION_CANDIDATES]
    if winner is not None and all(r.facts.technician_id != winner.facts.technician_id for r in listed):
        listed = listed + [winner]
    e = {
        "strategy": strategy,
        "requested_strategy": requested,
        "fallback": fallback,
        "required_skills": required,
        "radius_km": radius_km,
        "located": located,
        "position_rule": POSITION_RULE,
        "candidates_total": len(ranked),
        "eligible_total": sum(1 for r in ranked if r.eligible),
        "candidates": [candidate_record(r, required) for r in listed],
        "winner": candidate_record(winner, required) if winner is not None else None,
        "why": why,
        "reason": reason,
        "at": now.isoformat(),
    }
    if rotation_after is not None:
        e["rotation_after"] = rotation_after
    if extra:
        e.update(extra)
    return e


def _strategy_label(strategy: str) -> str:
    """'round_robin' → 'round robin', 'skill_match' → 'skill match' (words, not ids)."""
    return str(strategy).replace("_", " ")


def _local_time_text(iso: str | None, tz_name: str | None) -> str:
    """An ISO timestamp as a dispatcher reads it: 'Wed 25 Nov 08:00 America/Chicago'."""
    if not iso:
        return "an unknown time"
    try:
        zone = tz_name or "UTC"
        return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M ") + zone
    except (ValueError, KeyError, OSError):
        return str(iso)


def explain(explanation_json: dict | None) -> str:
    """The stored explanation in words a dispatcher understands (for the detail pane)."""
    e = explanation_json or {}
    if not e:
        return "Not assigned yet."
    lines: list[str] = []
    strategy = e.get("strategy")
    requested = e.get("requested_strategy") or strategy
    if e.get("manual"):
        lines.append(f"Assigned by hand by {e.get('by', 'a dispatcher')}.")
    if strategy:
        help_text = {k.value: v for k, v in ASSIGNMENT_LOGIC_HELP.items()}.get(strategy, "")
        lines.append(f"Strategy: {_strategy_label(strategy)}" + (f" — {help_text}" if help_text else ""))
    if e.get("fallback"):
        lines.append(e["fallback"])
    elif requested and requested != strategy:
        lines.append(f"Requested strategy: {_strategy_label(requested)}.")
    if e.get("required_skills"):
        lines.append("Required skills: " + ", ".join(e["required_skills"]) + ".")
    if e.get("radius_km") is not None and e.get("located"):
        lines.append(f"Technicians within {e['radius_km']:g} km of the site were considered.")
    if e.get("why"):
        lines.append(e["why"])
    if e.get("winner") is None and e.get("reason"):
        lines.append(e["reason"])
    sched = e.get("schedule")
    if sched:
        when = _local_time_text(sched.get("start"), sched.get("timezone"))
        note = (sched.get("note") or "").replace(f" ({when})", "")  # the time is said once
        lines.append(f"Scheduled for {when}" + (f" ({note})." if note else "."))
    cands = e.get("candidates") or []
    if cands:
        lines.append(f"Candidates considered ({e.get('candidates_total', len(cands))}):")
        for c in cands:
            skills = ", ".join(f"{k} {v}/5" if v is not None else f"{k} none" for k, v in (c.get("skills") or {}).items())
            mark = f"#{c['rank']}" if c.get("rank") else "—"
            lines.append(
                f"  {mark} {c.get('name')}: {distance_text(c.get('distance_m'))}, {c.get('open_jobs')}/{c.get('max_open')} open"
                + (f", {skills}" if skills else "") + ("" if c.get("eligible") else f" — not eligible: {c.get('reason')}")
            )
    return "\n".join(lines)
