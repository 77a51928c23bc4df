"""Who does the job, and when: the four assignment strategies, automatic and manual.

Eligible technicians are active, have every required skill, and have fewer open work
orders than their maximum; "open" is ``domain.enums.OPEN_WORK_ORDER_STATUSES`` (assigned,
scheduled, in progress, on hold). The ranking per strategy is in ``domain.scoring``.

Position of a technician: their ``current_location`` when it was reported in the last
``FRESH_LOCATION_HOURS`` hours (12) — or when they have no home base at all — otherwise
their ``home_base``. Distances are ``ST_Distance`` on geography (spheroid), in metres.

Candidates: when the order has a location (its ticket's, else its site's), the
technicians within the assignment radius (``Settings.assign_radius_km``, default 100 km)
found with the PostGIS KNN operator ``<->`` on the GiST indexes (one index scan on
``current_location`` for fresh positions, one on ``home_base`` for the rest, merged), at
most ``MAX_CANDIDATES`` of them, nearest first. Every strategy ranks this same set, so a
technician far away never wins on load or skill alone. An order without a location has no
distances: ``nearest`` falls back to ``workload`` (fewest open work orders) and says so;
the other strategies rank all eligible technicians of the organization.

The ``assign`` job runs ``assign_pending``: per organization it takes a transaction-level
advisory lock (so concurrent assigners — several workstations, a server scheduler — see
each other's load and the round-robin pointer) and claims due orders with ``FOR UPDATE SKIP
LOCKED``. A claimed batch is decided in memory, in claim order: the candidates of its
located orders are fetched together at the start (one query per kind of question, with
each technician's facts and open orders read once), the load each decision adds is
tracked (so maximums, workload and the rotation stay exact inside the batch; when a
technician the batch filled may have hidden someone, the order asks the database again
after writing what is pending), and the batch is written in parts of ``PIPE_PART`` orders
— orders, audit rows and outbox rows one statement each per part, run by a statement pipe
(``db.pipe``) on the same transaction while the next part is decided, so the server writes
while the client decides — and the round-robin pointer once per rule. A batch that fails
as a whole, or whose writing fails, is rolled back and redone order by order, which names
the order at fault. An order nobody can take stays unassigned with the reason, ``assign_attempts`` + 1,
and is retried after a backoff (1, 2, 4 … 60 minutes). Every decision stores its
explanation (strategy, candidates with distance, skills and load, why the winner won) on
the order and in the audit log.
"""

from __future__ import annotations

import functools
import json
import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import select, text

from desk_desktop.db.models import AssignmentState, Organization, Technician, WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.pipe import StatementFailed, StatementPipe, drain_before_use, driver_sql
from desk_desktop.db.session import UnitOfWork, UnitOfWorkFactory
from desk_desktop.domain.enums import (
    ASSIGNMENT_LOGIC_HELP,
    OPEN_WORK_ORDER_STATUSES,
    AssignmentLogic,
    Skill,
    WorkOrderStatus,
)
from desk_desktop.domain.scoring import (
    Ranked,
    TechFacts,
    eligibility,
    fit_into_working_hours,
    no_eligible_reason,
    rank_candidates,
    why_winner,
)
from desk_desktop.services.common import Actor, DeskError, NotFound, ValidationFailed, audit, insert_json_rows_sql

log = logging.getLogger(__name__)

DEFAULT_RADIUS_KM = 100.0
FRESH_LOCATION_HOURS = 12
MAX_CANDIDATES = 500  # per order, nearest first, within the radius
SCAN_START = 1000  # technicians walked per KNN branch before checking whether to look further
EXPLANATION_CANDIDATES = 10  # how many candidates the stored explanation lists
NEAREST_K = EXPLANATION_CANDIDATES  # nearest: the KNN scan stops after this many eligible technicians
NEAREST_SPARE = 10  # the assign job's prefetch for nearest asks for this many more, in case some are full
NEAREST_K_ALL = 100  # nearest, listing ineligible ones too (map view)
BACKOFF_CAP_MINUTES = 60
PIPE_PART = 50  # the assign job writes a batch in parts of this many orders while deciding the next part
CLOSED_STATUSES = (WorkOrderStatus.COMPLETED.value, WorkOrderStatus.CANCELLED.value)
_STRATEGIES = frozenset(s.value for s in AssignmentLogic)
_INDEXED_SKILLS = frozenset(s.value for s in Skill)  # each has a home-base index (technicians model)
OPEN_STATUSES = [s.value if hasattr(s, "value") else str(s) for s in OPEN_WORK_ORDER_STATUSES]
LOCK_NAMESPACE = "desk.assign"


class WorkOrderNotFound(NotFound):
    pass


class TechnicianNotFound(NotFound):
    pass


class TechnicianNotEligible(DeskError):
    pass


class WorkOrderClosed(DeskError):
    pass


class NotAssigned(DeskError):
    pass


@dataclass(frozen=True)
class Candidate:
    technician_id: int
    name: str
    rank: int | None
    distance_m: float | None
    matched_skills: dict[str, int]
    open_jobs: int
    max_open: int
    eligible: bool
    reason: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class CandidateList:
    work_order_id: int
    strategy: str
    candidates: tuple[Candidate, ...]
    explanation: str


@dataclass(frozen=True)
class WorkOrderView:
    id: int
    number: str
    status: str
    work_type: str
    priority: str
    duration_minutes: int
    technician_id: int | None
    technician_name: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    assignment_logic: str | None
    required_skills: tuple[str, ...]
    needs_assignment: bool
    assign_attempts: int
    next_assign_at: datetime | None
    unassigned_reason: str | None
    assignment_explanation: dict | None
    assigned_at: datetime | None
    source: str
    rule_id: int | None
    ticket_id: int | None
    ticket_number: str | None
    ticket_subject: str | None
    customer_name: str | None
    lat: float | None
    lon: float | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class AssignBatchResult:
    assigned: int = 0
    unassigned: int = 0
    errors: int = 0
    work_order_ids: tuple[int, ...] = field(default_factory=tuple)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _lock_org(uow: UnitOfWork, organization_id: int) -> None:
    """Serialize assignment decisions of one organization until the transaction ends."""
    uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:ns), CAST(:org AS integer))"),
        {"ns": LOCK_NAMESPACE, "org": organization_id},
    )


def prepare_transaction(uow: UnitOfWork) -> None:
    """Once per transaction that runs candidate queries: no JIT. The planner's estimates
    for the eligibility filters are pessimistic, which pushes the estimated cost over
    ``jit_above_cost``; compiling then costs ~150 ms for a query that runs in ~1 ms.

    And generic plans for the statements the driver has prepared (psycopg prepares a
    statement after a few uses on a connection): the candidate queries' plans do not depend
    on the parameter values (the KNN walk, the radius index scan), but left to choose,
    PostgreSQL keeps planning them afresh on every call (~0.4-0.6 ms, as much as running
    them)."""
    uow.session.execute(text("SELECT set_config('jit', 'off', true), "
                             "set_config('plan_cache_mode', 'force_generic_plan', true)"))


def _org_timezone(uow: UnitOfWork, organization_id: int) -> str:
    return uow.session.scalar(select(Organization.timezone).where(Organization.id == organization_id)) or "UTC"


# --------------------------------------------------------------------------- candidate queries

# The open statuses written out in the SQL (not a parameter), so the planner can use the
# partial index ix_work_orders_open_by_technician whose predicate lists the same statuses.
OPEN_SQL = "(" + ",".join(f"'{st}'" for st in OPEN_STATUSES) + ")"

_TECH_COLUMNS = """
    t.id, t.name, t.max_open_work_orders AS max_open, t.active, t.working_hours,
    (SELECT count(*) FROM work_orders w
      WHERE w.organization_id = :org AND w.technician_id = t.id AND w.status IN """ + OPEN_SQL + """) AS open_jobs,
    t.skill_levels AS skills
"""

# Skills first: the test that rules out most technicians is evaluated first (PostgreSQL
# evaluates these in the order written when they sit inside an OR, as in ``_knn_sql``).
# ``skill_levels`` is the technician row's copy of its technician_skills rows (kept exact
# by triggers, migration 0003): the test needs no lookup per technician the walk passes.
_SKILL_TEST = """(:nreq = 0 OR t.skill_levels ?& CAST(:req AS text[]))"""
_CAPACITY_TEST = """(SELECT count(*) FROM work_orders w
          WHERE w.organization_id = :org AND w.technician_id = t.id
            AND w.status IN """ + OPEN_SQL + """) < t.max_open_work_orders"""
_ELIGIBLE_FILTER = """
    AND """ + _SKILL_TEST + """
    AND """ + _CAPACITY_TEST + """
"""

# current_location is used when fresh (or when there is no home base at all).
_USE_CURRENT = ("(t.current_location IS NOT NULL AND "
                "(coalesce(t.location_updated_at >= :fresh, false) OR t.home_base IS NULL))")

# The site as an init-plan: computed once per query. Written inline, a generic plan (the
# candidate queries are prepared) would build the geography again for every row it
# measures (about 15 % of the nearest query at 100,000 technicians).
_POINT = "(SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography))"


def _spheroid_distance(a: str, b: str) -> str:
    """Metres between two points on the WGS 84 spheroid: the value ``ST_Distance`` gives for
    two geographies (equal to 1e-8 m), without its per-statement cache of a repeated
    argument, which costs more than it saves for points (0.2 ms of a 1 ms nearest query)."""
    return (f"ST_DistanceSpheroid(CAST({a} AS geometry), CAST({b} AS geometry), "
            "CAST('SPHEROID[\"WGS 84\",6378137,298.257223563]' AS spheroid))")


def _home_cond(skill: str | None) -> str:
    """Who is placed at their home base — and, given one required skill, has it: written out,
    so the planner walks that skill's own home-base index (``ix_technicians_home_base_<skill>``,
    migration 0005) and never passes the technicians without it (about 70 % of the walk at one
    skill in three; 0.83 → 0.68 ms for the nearest query at 100,000 technicians)."""
    cond = f"t.home_base IS NOT NULL AND NOT {_USE_CURRENT}"
    if skill is None:
        return cond
    if skill not in _INDEXED_SKILLS:  # only the known skills (plain words) are ever written into SQL
        raise ValueError(f"no home-base index for skill {skill!r}")
    return f"t.skill_levels ? '{skill}' AND {cond}"


def _index_skill(required: list[str] | tuple[str, ...]) -> str | None:
    """The required skill whose home-base index the candidate queries walk (None: the index of all)."""
    known = sorted(set(required) & _INDEXED_SKILLS)
    return known[0] if known else None


def _branch_sql(which: str, select_list: str, order_and_limit: str, skill: str | None = None) -> str:
    """One of the two KNN index scans: fresh current locations, or home bases."""
    if which == "current":
        pos, cond = "t.current_location", _USE_CURRENT
    else:
        pos, cond = "t.home_base", _home_cond(skill)
    return f"""
        SELECT {select_list.format(pos=pos)}
          FROM technicians t
         WHERE t.organization_id = :org AND t.active AND {cond}
         ORDER BY {pos} <-> {_POINT}
         {order_and_limit}"""


@functools.cache
def _knn_sql(eligible_only: bool, facts: bool = True, skill: str | None = None) -> str:
    """``nearest``: one walk over both positions in distance order. Per branch (fresh current
    locations, home bases) the GiST index is walked in KNN order (``<->`` in ORDER BY with a
    constant point) over at most ``:scan`` technicians; the two ordered walks are merged
    (Merge Append) and filtered lazily in distance order, so only as many technicians are
    checked (radius, capacity, skills) as it takes to find ``:k`` eligible ones. The filters
    sit outside the inner LIMIT so the planner cannot trade the ordered index scan for a
    bitmap scan plus sort.

    Two kinds of rows pass the filter without being candidates, so the walk can stop early
    and the caller knows whether it saw everything: the first technicians beyond the radius
    (everything after them in the merged order is farther still — the walk ends after at
    most ``:k`` of them instead of running to ``:scan``), and a branch's ``:scan``-th
    technician (``rn = :scan``): if that one comes back within the radius the walk limit was
    reached before the answer was complete, and the caller walks further. The outer query
    drops neither — the caller does — and computes the columns only for the rows kept.
    The radius test uses the KNN (sphere) distance the scan orders by; the distance
    reported is the one on the spheroid (``_spheroid_distance``).

    ``facts``: the technicians' facts (``_TECH_COLUMNS``) come along the walk from the rows
    the index scan read (no second lookup of each technician); without, only ids."""
    elig = _ELIGIBLE_FILTER if eligible_only else ""
    carried = "t.name, t.active, t.working_hours, " if facts else ""
    branches = []
    for which in ("current", "home"):
        cols = f"t.id, {carried}t.max_open_work_orders, t.skill_levels, {{pos}} AS pos, {{pos}} <-> {_POINT} AS knn_d"
        # Numbered over knn_d, which the scan already computed and delivers in order (no
        # second distance computation per row for the window, no sort).
        branches.append("(SELECT b.*, row_number() OVER (ORDER BY b.knn_d) AS rn FROM ("
                        + _branch_sql(which, cols, "LIMIT :scan", skill) + ") b)")
    return f"""
    SELECT t.rn, t.knn_d, {_TECH_COLUMNS if facts else "t.id AS id"},
           {_spheroid_distance("t.pos", _POINT)} AS distance_m,
           ST_Y(CAST(t.pos AS geometry)) AS lat, ST_X(CAST(t.pos AS geometry)) AS lon
      FROM (SELECT t.*
              FROM ({branches[0]}
                    UNION ALL
                    {branches[1]}) t
             WHERE (t.knn_d <= :radius {elig}) OR t.knn_d > :radius OR t.rn = :scan
             ORDER BY t.knn_d
             LIMIT :k) t
     ORDER BY t.knn_d > :radius, distance_m, t.id
    """


@functools.cache
def _radius_sql(eligible_only: bool, columns: str | None = _TECH_COLUMNS, skill: str | None = None) -> str:
    """``skill_match``, ``workload``, ``round_robin``: everyone (eligible) within the radius —
    the bounding-box test ``ST_DWithin`` would add (``&& _ST_Expand``, on each position's GiST
    index), then the sphere distance ``<->`` (the same value as ``ST_DWithin(…, false)``
    tests, about ten times cheaper to compute, and the radius test ``nearest`` uses) —
    nearest first, at most ``:k``.

    The tests run cheapest-and-most-selective first, each level behind an ``OFFSET 0`` fence
    (left to itself the planner checks capacity and skills of everybody in the bounding
    box before the exact distance): within the radius, then the skills (which rule out
    most), then the open-order count."""
    branches = []
    for which in ("current", "home"):
        if which == "current":
            pos, cond = "t.current_location", _USE_CURRENT
        else:
            pos, cond = "t.home_base", _home_cond(skill)
        near = f"""
        SELECT t.id, t.max_open_work_orders, t.skill_levels, {pos} AS pos
          FROM technicians t
         WHERE t.organization_id = :org AND t.active AND {cond}
           AND {pos} && _ST_Expand({_POINT}, :radius) AND {pos} <-> {_POINT} <= :radius"""
        if eligible_only:
            skilled = f"""
        SELECT t.* FROM ({near} OFFSET 0) t
         WHERE {_SKILL_TEST}"""
            near = f"""
        SELECT t.* FROM ({skilled} OFFSET 0) t
         WHERE {_CAPACITY_TEST}"""
        branches.append(f"SELECT n.id, n.pos FROM ({near}) n")
    return f"""
    SELECT {columns or "n.id AS id"},
           {_spheroid_distance("n.pos", _POINT)} AS distance_m,
           ST_Y(CAST(n.pos AS geometry)) AS lat, ST_X(CAST(n.pos AS geometry)) AS lon
      FROM ({branches[0]}
            UNION ALL
            {branches[1]}) n
      {"JOIN technicians t ON t.id = n.id AND t.organization_id = :org" if columns else ""}
     ORDER BY distance_m, n.id
     LIMIT :k
    """


@functools.cache
def _unlocated_sql(eligible_only: bool, order_by: str) -> str:
    elig = _ELIGIBLE_FILTER if eligible_only else ""
    return f"""
    SELECT * FROM (
      SELECT {_TECH_COLUMNS}, NULL::float8 AS distance_m,
             ST_Y(CAST(CASE WHEN {_USE_CURRENT} THEN t.current_location ELSE t.home_base END AS geometry)) AS lat,
             ST_X(CAST(CASE WHEN {_USE_CURRENT} THEN t.current_location ELSE t.home_base END AS geometry)) AS lon,
             {_USE_CURRENT} AS fresh
        FROM technicians t
       WHERE t.organization_id = :org AND t.active {elig}
    ) c
    ORDER BY {order_by}
    LIMIT :k
    """


def _facts_from_rows(rows, required: list[str], radius_m: float | None,
                     hours_out: dict[int, dict | None] | None = None) -> list[TechFacts]:
    out = []
    for r in rows:
        if hours_out is not None:
            hours_out[r.id] = r.working_hours
        skills = dict(r.skills or {})
        out.append(
            TechFacts(
                technician_id=r.id,
                name=r.name,
                distance_m=float(r.distance_m) if r.distance_m is not None else None,
                skills=skills,
                open_jobs=int(r.open_jobs),
                max_open=int(r.max_open),
                active=bool(r.active),
                within_radius=(radius_m is None or r.distance_m is None or float(r.distance_m) <= radius_m),
                lat=r.lat,
                lon=r.lon,
            )
        )
    return out


@functools.cache
def _stmt(sql: str):
    """One ``text()`` construct per distinct SQL string: built and parsed once per process, so
    each call only binds parameters (the SQL strings come from the few builders above)."""
    return text(sql)


def _run(uow: UnitOfWork, sql: str, params: dict[str, Any]) -> list:
    """Run a candidate query straight on the session's psycopg connection (same transaction):
    prepared on the server at its first use, rows as named tuples — without SQLAlchemy's
    statement and result handling for the product's hottest query."""
    conn = uow.session.connection().connection.driver_connection
    drain_before_use(conn)
    with conn.cursor(row_factory=namedtuple_row) as cur:
        cur.execute(driver_sql(sql), params, prepare=True)
        return cur.fetchall()


def fetch_candidates(
    uow: UnitOfWork,
    *,
    organization_id: int,
    location: tuple[float, float] | None,
    required_skills: list[str],
    strategy: str,
    now: datetime,
    radius_km: float = DEFAULT_RADIUS_KM,
    eligible_only: bool = True,
    k: int = MAX_CANDIDATES,
    last_technician_id: int | None = None,
    hours_out: dict[int, dict | None] | None = None,
) -> list[TechFacts]:
    """Technician facts for one order (see the module docstring for the candidate set)."""
    params: dict[str, Any] = {
        "org": organization_id,
        "open": OPEN_STATUSES,
        "req": sorted(set(required_skills)),
        "nreq": len(set(required_skills)),
        "fresh": now - timedelta(hours=FRESH_LOCATION_HOURS),
        "k": k,
    }
    if location is not None:
        radius_m = radius_km * 1000.0
        params.update(lat=location[0], lon=location[1], radius=radius_m)
        # Only eligible technicians: the walk may take a required skill's own index.
        skill = _index_skill(required_skills) if eligible_only else None
        if strategy != AssignmentLogic.NEAREST:
            rows = _run(uow, _radius_sql(eligible_only, _TECH_COLUMNS, skill), params)
            return _facts_from_rows(rows, required_skills, radius_m, hours_out)
        params["scan"] = max(SCAN_START, 4 * k)
        sql = _knn_sql(eligible_only, True, skill)
        while True:
            rows = _run(uow, sql, params)
            # A branch's scan-th technician comes back when its walk limit was reached before
            # k were found: if it is still within the radius, walk further (rare; exact).
            if not any(r.rn == params["scan"] and r.knn_d <= radius_m for r in rows):
                break
            params["scan"] *= 8
        # Rows beyond the radius only marked where the walk could stop.
        rows = [r for r in rows if r.knn_d <= radius_m]
        return _facts_from_rows(rows, required_skills, radius_m, hours_out)
    if strategy == AssignmentLogic.SKILL_MATCH and required_skills:
        order_by = ("(SELECT coalesce(sum((c.skills ->> s)::int), 0) FROM unnest(CAST(:req AS text[])) s) DESC, "
                    "c.open_jobs, c.id")
    elif strategy == AssignmentLogic.ROUND_ROBIN:
        params["last"] = last_technician_id if last_technician_id is not None else -1
        order_by = "(c.id <= :last), c.id"
    else:
        order_by = "c.open_jobs, c.id"
    rows = _run(uow, _unlocated_sql(eligible_only, order_by), params)
    return _facts_from_rows(rows, required_skills, None, hours_out)


def _technician_facts(uow: UnitOfWork, *, organization_id: int, technician_id: int,
                      location: tuple[float, float] | None, now: datetime, radius_km: float) -> TechFacts | None:
    params: dict[str, Any] = {"org": organization_id, "open": OPEN_STATUSES, "tid": technician_id,
                              "fresh": now - timedelta(hours=FRESH_LOCATION_HOURS),
                              "lat": location[0] if location else None, "lon": location[1] if location else None}
    pos = f"CASE WHEN {_USE_CURRENT} THEN t.current_location ELSE t.home_base END"
    dist = _spheroid_distance(pos, _POINT) if location else "NULL::float8"
    row = uow.session.execute(
        text(f"SELECT {_TECH_COLUMNS}, {dist} AS distance_m, ST_Y(CAST({pos} AS geometry)) AS lat, "
             f"ST_X(CAST({pos} AS geometry)) AS lon FROM technicians t WHERE t.organization_id = :org AND t.id = :tid"),
        params,
    ).first()
    if row is None:
        return None
    return _facts_from_rows([row], [], radius_km * 1000.0 if location else None)[0]


def _order_location(uow: UnitOfWork, wo: WorkOrder) -> tuple[float, float] | None:
    if wo.source_ticket_id is None:
        return None
    row = uow.session.execute(
        text(
            "SELECT ST_Y(CAST(coalesce(t.location, s.location) AS geometry)) AS lat, "
            "       ST_X(CAST(coalesce(t.location, s.location) AS geometry)) AS lon "
            "FROM tickets t LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = t.organization_id "
            "WHERE t.id = :id AND t.organization_id = :org"
        ),
        {"id": wo.source_ticket_id, "org": wo.organization_id},
    ).first()
    if row is None or row.lat is None:
        return None
    return (float(row.lat), float(row.lon))


# --------------------------------------------------------------------------- explanation


def _candidate_json(r: Ranked, required: list[str]) -> dict:
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


def _to_candidate(r: Ranked, required: list[str]) -> Candidate:
    t = r.facts
    return Candidate(
        technician_id=t.technician_id,
        name=t.name,
        rank=r.rank,
        distance_m=t.distance_m,
        matched_skills={s: t.skills[s] for s in required if s in t.skills},
        open_jobs=t.open_jobs,
        max_open=t.max_open,
        eligible=r.eligible,
        reason=r.reason,
        lat=t.lat,
        lon=t.lon,
    )


def _km(d: float | None) -> str:
    if d is None:
        return "distance unknown"
    return f"{d:.0f} m" if d < 1000 else f"{d / 1000:.1f} km"


def _strategy_label(strategy: str) -> str:
    """'round_robin' → 'round robin', 'skill_match' → 'skill match' (words, not ids)."""
    return str(strategy).replace("_", " ")


def _local_time_text(iso: str | None, tz_name: str | None) -> str:
    """An ISO timestamp as a dispatcher reads it: 'Wed 25 Nov 08:00 America/Chicago'."""
    if not iso:
        return "an unknown time"
    try:
        from zoneinfo import ZoneInfo

        at = datetime.fromisoformat(iso)
        zone = tz_name or "UTC"
        return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M ") + zone
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
                f"  {mark} {c.get('name')}: {_km(c.get('distance_m'))}, {c.get('open_jobs')}/{c.get('max_open')} open"
                + (f", {skills}" if skills else "") + ("" if c.get("eligible") else f" — not eligible: {c.get('reason')}")
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- core decision


@dataclass
class _Decision:
    strategy: str
    requested: str
    fallback: str | None
    ranked: list[Ranked]
    located: bool
    pointer_id: int | None
    pointer_name: str | None


@dataclass
class _Batch:
    """What one transaction of the assign job keeps between orders (it holds the
    organization's advisory lock, so nobody else changes these meanwhile)."""

    tz_name: str = "UTC"
    pointers: dict[int, tuple[int | None, str | None]] = field(default_factory=dict)
    hours: dict[int, dict | None] = field(default_factory=dict)  # working hours of technicians seen
    audits: list[dict] | None = None  # deferred audit rows, written together at the end
    # The assign job decides a whole claimed batch before writing it: the orders' changes
    # stay in the session (no flush per order), the notifications and the round-robin
    # pointer are written once at the end (``finish``). The candidate queries read the
    # technicians' load from the database, so the load this batch has added and not yet
    # written is kept here and added to what they report.
    deferred: bool = False
    load: dict[int, int] = field(default_factory=dict)  # technician -> open orders gained (+) / given up (-)
    notices: list[tuple[int, str, int | None]] = field(default_factory=list)  # (work order, event, technician)
    pointer_writes: dict[int, tuple[int, int]] = field(default_factory=dict)  # rule -> (organization, technician)
    now: datetime | None = None  # the job's "now" (written with the round-robin pointer)
    organization_id: int | None = None
    syncs: int = 0  # how often the batch had to write early to ask the database again
    # Candidates of the batch's located orders, fetched together at the start of the batch
    # (one query per kind of question): work order -> (question, facts as of the start).
    prefetched: dict[int, tuple[tuple, list[TechFacts], int]] = field(default_factory=dict)  # + the query's limit
    since_start: dict[int, int] = field(default_factory=dict)  # load gained since the prefetch
    json_cache: _JsonCache = field(default_factory=lambda: _JsonCache())
    # The assign job writes each part of the batch through a statement pipe while it decides
    # the next part (``write_part``): the outbox facts asked after a part's order update,
    # its rows rendered and inserted after the next part is decided.
    pipe: StatementPipe | None = None
    outbox_facts: list[tuple[Future, list[tuple[int, str, int | None]]]] = field(default_factory=list)
    outbox_written: list[Future] = field(default_factory=list)

    def sync(self, uow: UnitOfWork) -> None:
        """Write the orders' pending changes, so the database's load counts are exact again."""
        _write_orders(uow, [o for o in uow.session.dirty if isinstance(o, WorkOrder)], self.json_cache)
        uow.session.flush()  # anything else pending (nothing, in the assign job)
        self.syncs += 1
        self.load.clear()

    def add_load(self, technician_id: int, delta: int) -> None:
        self.load[technician_id] = self.load.get(technician_id, 0) + delta
        self.since_start[technician_id] = self.since_start.get(technician_id, 0) + delta

    def with_load(self, facts: list[TechFacts], *, eligible_only: bool, k: int,
                  ordered_by_load: bool) -> tuple[list[TechFacts], bool]:
        """The facts with this batch's unwritten load added. Technicians it has filled up are
        left out when only eligible ones were asked for. Returns ``(facts, stale)``: stale when
        the query may have left out someone who now belongs in the answer (it returned a full
        ``k`` rows and dropped some, or ordered by load) — the caller then asks again after
        ``sync``."""
        load = self.load
        out: list[TechFacts] = []
        changed = dropped = False
        for f in facts:
            extra = load.get(f.technician_id, 0)
            if extra:
                changed = True
                f = TechFacts(**{**f.__dict__, "open_jobs": f.open_jobs + extra})
                if eligible_only and f.open_jobs >= f.max_open:
                    dropped = True
                    continue
            out.append(f)
        stale = len(facts) >= k and (dropped or (changed and ordered_by_load))
        return out, stale

    def write_part(self, uow: UnitOfWork, actor: Actor) -> None:
        """Through the pipe: the orders decided since the last part (one UPDATE), their audit
        rows (one insert) and the question for their outbox facts; then the outbox rows of
        the part before, whose facts have arrived meanwhile."""
        pipe = self.pipe
        cache, self.json_cache = self.json_cache, _JsonCache()
        orders = [o for o in uow.session.dirty if isinstance(o, WorkOrder)]
        for org_id, doc in _order_docs(orders, cache).items():
            pipe.submit(driver_sql(_UPDATE_ORDERS_SQL), {"org": org_id, "rows": doc})
        for wo in orders:
            uow.session.expunge(wo)
        self.load.clear()
        if self.audits:
            pipe.submit(driver_sql(_INSERT_AUDITS_SQL), {"rows": _audit_doc(self.audits, cache)})
            self.audits = []
        self._write_outbox(uow, actor, ready_only=True)
        notices, self.notices = self.notices, []
        if any(tech is not None or event != "work_order.assigned" for _, event, tech in notices):
            # About a former technician: read their facts in this transaction (rare in the job),
            # after the outbox rows of the parts before.
            from desk_desktop.services import notifications

            self._write_outbox(uow, actor)
            notifications.enqueue_work_order_events(uow=uow, events=notices, actor=actor)
        elif notices:
            from desk_desktop.services import notifications

            ids = sorted({wo_id for wo_id, _, _ in notices})
            self.outbox_facts.append((pipe.submit(notifications.work_order_facts_sql(), {"ids": ids}, fetch=True,
                                                  row_factory=namedtuple_row), notices))

    def _write_outbox(self, uow: UnitOfWork, actor: Actor, *, ready_only: bool = False) -> None:
        """The outbox rows of the parts whose facts have arrived (all of them, waiting for
        the facts, unless ``ready_only``), in the order of the parts."""
        from desk_desktop.services import notifications

        while self.outbox_facts and not (ready_only and not self.outbox_facts[0][0].done()):
            facts_future, notices = self.outbox_facts.pop(0)
            facts = {r.id: r for r in self.pipe.result(facts_future)}
            rows = notifications.outbox_rows(facts=facts, events=notices, actor=actor)
            if rows:
                self.outbox_written.append(self.pipe.submit(
                    notifications.outbox_insert_sql(), {"rows": notifications.encode_outbox_rows(rows)}, fetch=True))

    def finish(self, uow: UnitOfWork, actor: Actor) -> None:
        """Write what the batch decided: the orders (one UPDATE), the round-robin pointers
        (once per rule), the notifications (one query, one insert), the audit rows (one insert)
        — with a pipe, the last part through it, then wait until all of it is written."""
        if self.pipe is not None:
            self.write_part(uow, actor)
            self._write_outbox(uow, actor)
            self.pipe.drain()
            for fut in self.outbox_written:
                for wo_id in dict.fromkeys(r[0] for r in self.pipe.result(fut)):
                    uow.record_change("notification", wo_id, self.organization_id, "queued")
            self.outbox_written = []
        cache = self.json_cache
        _write_orders(uow, [o for o in uow.session.dirty if isinstance(o, WorkOrder)], cache)
        self.load.clear()
        for rule_id, (org_id, tech_id) in self.pointer_writes.items():
            _write_pointer(uow, org_id, rule_id, tech_id, self.now)
        self.pointer_writes.clear()
        if self.notices:
            from desk_desktop.services import notifications

            notifications.enqueue_work_order_events(uow=uow, events=self.notices, actor=actor)
            self.notices = []
        if self.audits:
            _write_audits(uow, self.audits, cache)
            self.audits = []
        self.json_cache = _JsonCache()


# What the assign job changes on an order, written for a whole batch in one statement. The
# rows travel as one JSON document: one parameter, encoded by the C json module, instead of
# one array per column that the driver would escape value by value. Read as jsonb, not json:
# json_to_recordset parses each row's nested explanation a second time to store it as jsonb
# (200 orders: 25 ms on the server, against 11 ms from jsonb).
_ORDER_COLUMNS = (("technician_id", "bigint"), ("status", "text"), ("assigned_at", "timestamptz"),
                  ("needs_assignment", "boolean"), ("next_assign_at", "timestamptz"),
                  ("unassigned_reason", "text"), ("assignment_explanation", "jsonb"), ("updated_at", "timestamptz"),
                  ("scheduled_start", "timestamptz"), ("scheduled_end", "timestamptz"), ("assign_attempts", "integer"))
_UPDATE_ORDERS_SQL = (
    "UPDATE work_orders w SET " + ", ".join(f"{c} = v.{c}" for c, _ in _ORDER_COLUMNS)
    + " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, "
    + ", ".join(f"{c} {t}" for c, t in _ORDER_COLUMNS) + ") "
    + "WHERE w.id = v.id AND w.organization_id = :org"
)
_UPDATE_ORDERS = text(_UPDATE_ORDERS_SQL)
_AUDIT_COLUMNS = (("organization_id", "bigint"), ("actor", "text"), ("action", "text"), ("entity", "text"),
                  ("entity_id", "bigint"), ("summary", "text"), ("details", "jsonb"))
_INSERT_AUDITS_SQL = insert_json_rows_sql("audit_log", _AUDIT_COLUMNS, jsonb=True)
_INSERT_AUDITS = text(_INSERT_AUDITS_SQL)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _JsonCache:
    """JSON text of the explanations a batch writes, encoded once: each one goes into the
    order's row and again into its audit row. Keeps the objects alive so ids stay unique."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Any, str]] = {}

    def encode(self, value: Any) -> str:
        if not isinstance(value, dict):
            return json.dumps(value, default=_json_default)
        hit = self._by_id.get(id(value))
        if hit is None or hit[0] is not value:
            hit = (value, json.dumps(value, default=_json_default))
            self._by_id[id(value)] = hit
        return hit[1]


def _json_object(fields: dict, key: str, encoded: str) -> str:
    """``json.dumps({**fields, key: value})`` where ``encoded`` is ``value``'s JSON already."""
    head = json.dumps(fields, default=_json_default)
    return f'{head[:-1]}, "{key}": {encoded}}}' if fields else f'{{"{key}": {encoded}}}'


def _json_rows(rows: list[dict], key: str, cache: _JsonCache) -> str:
    """``json.dumps(rows)`` with each row's ``key`` value spliced in from the cache."""
    return "[" + ",".join(_json_object(row, key, cache.encode(row.pop(key))) for row in rows) + "]"


def _order_docs(orders: list[WorkOrder], cache: _JsonCache) -> dict[int, str]:
    """The rows of ``_UPDATE_ORDERS`` for these orders, per organization."""
    by_org: dict[int, list[dict]] = {}
    for wo in orders:
        row = {c: getattr(wo, c) for c, _ in _ORDER_COLUMNS}
        row["id"] = wo.id
        by_org.setdefault(wo.organization_id, []).append(row)
    return {org_id: _json_rows(rows, "assignment_explanation", cache) for org_id, rows in by_org.items()}


def _write_orders(uow: UnitOfWork, orders: list[WorkOrder], cache: _JsonCache | None = None) -> None:
    """The batch's changed orders in one UPDATE (instead of one per order); the session then
    forgets them — nothing in this transaction reads them through the ORM again."""
    for org_id, doc in _order_docs(orders, cache or _JsonCache()).items():
        uow.session.execute(_UPDATE_ORDERS, {"org": org_id, "rows": doc})
    for wo in orders:
        uow.session.expunge(wo)


def _write_audits(uow: UnitOfWork, entries: list[dict], cache: _JsonCache | None = None) -> None:
    """``audit()`` for many rows in one INSERT: the same columns and values."""
    uow.session.execute(_INSERT_AUDITS, {"rows": _audit_doc(entries, cache or _JsonCache())})


def _audit_doc(entries: list[dict], cache: _JsonCache) -> str:
    """The rows of ``_INSERT_AUDITS``."""
    parts = []
    for e in entries:
        details = e.get("details")
        if isinstance(details, dict) and isinstance(details.get("explanation"), dict):
            rest = {k: v for k, v in details.items() if k != "explanation"}
            details_json = _json_object(rest, "explanation", cache.encode(details["explanation"]))
        else:
            details_json = json.dumps(details, default=_json_default)
        row = {"organization_id": e.get("organization_id") or e["actor"].organization_id,
               "actor": e["actor"].name, "action": e["action"], "entity": e["entity"],
               "entity_id": e.get("entity_id"), "summary": e.get("summary", "")}
        parts.append(_json_object(row, "details", details_json))
    return "[" + ",".join(parts) + "]"


def _question(kw: dict) -> tuple:
    """What a candidate query asks, as far as the prefetch is concerned."""
    return (str(kw["strategy"]) == AssignmentLogic.NEAREST, kw.get("k", MAX_CANDIDATES),
            kw.get("eligible_only", True), float(kw.get("radius_km", DEFAULT_RADIUS_KM)),
            tuple(sorted(set(kw["required_skills"]))), kw.get("location"))


def _fetch(uow: UnitOfWork, batch: _Batch | None, work_order_id: int | None = None, **kw: Any) -> list[TechFacts]:
    """``fetch_candidates``, with the load a deferred batch has not written yet."""
    if batch is None or not batch.deferred:
        return fetch_candidates(uow, **kw)
    pre = batch.prefetched.pop(work_order_id, None) if work_order_id is not None else None
    if pre is not None and pre[0] == _question(kw) and not any(v < 0 for v in batch.since_start.values()):
        _, found, limit = pre
        # Eligible now: below their limit with the load of the batch so far. The answer is
        # complete if the query did not stop at its limit, or if enough of what it found are
        # still eligible (everyone beyond its limit is farther than all of them).
        k = kw.get("k", MAX_CANDIDATES)
        facts = []
        for f in found:
            extra = batch.since_start.get(f.technician_id, 0)
            if f.open_jobs + extra < f.max_open:
                facts.append(TechFacts(**{**f.__dict__, "open_jobs": f.open_jobs + extra}) if extra else f)
        if len(found) < limit or len(facts) >= k:
            return facts[:k]
    if any(v < 0 for v in batch.load.values()):
        batch.sync(uow)  # someone gave up an order: they may be eligible again, which the query must see
    facts = fetch_candidates(uow, **kw)
    if batch.load:
        facts, stale = batch.with_load(facts, eligible_only=kw.get("eligible_only", True),
                                       k=kw.get("k", MAX_CANDIDATES), ordered_by_load=kw.get("location") is None)
        if stale:
            batch.sync(uow)
            facts = fetch_candidates(uow, **kw)
    return facts


@functools.cache
def _prefetch_sql(nearest: bool, skill: str | None = None) -> str:
    """The candidate query of ``nearest`` (``_knn_sql``) or of the other strategies
    (``_radius_sql``) for many points at once: the same query per point (LATERAL), in the
    same order. Only the technicians' ids, distances and positions: their other facts are
    read once per technician (``_TECH_FACTS_SQL``), not once per order they are near.

    Without the open-order limit: who is full is decided from those facts (``_fetch``),
    which count the open orders of these technicians anyway. Asked in SQL, it would count
    every open order of the organization once more per batch (34 ms of an 80 ms query at
    10,000 open orders)."""
    inner = (_knn_sql(True, False, skill) if nearest else _radius_sql(True, None, skill))
    inner = inner.replace(_POINT, "o.pt").replace(_CAPACITY_TEST, "true")
    order = "c.knn_d > :radius, c.distance_m, c.id" if nearest else "c.distance_m, c.id"
    return f"""
    SELECT o.i AS order_index, c.*
      FROM (SELECT u.i, CAST(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326) AS geography) AS pt
              FROM unnest(CAST(:lats AS float8[]), CAST(:lons AS float8[])) WITH ORDINALITY AS u(lat, lon, i)) o
     CROSS JOIN LATERAL ({inner}) c
     ORDER BY o.i, {order}
    """


# Each technician's open orders counted through the partial index of open orders by
# technician (a few entries each), not by aggregating the organization's open orders: that
# grows with every order the job assigns (97 ms per batch at 10,000 open orders, against
# 20 ms at the start).
_TECH_FACTS_SQL = f"""
    SELECT t.id, t.name, t.max_open_work_orders AS max_open, t.active, t.working_hours,
           (SELECT count(*) FROM work_orders w
             WHERE w.organization_id = :org AND w.technician_id = t.id AND w.status IN {OPEN_SQL}) AS open_jobs,
           t.skill_levels AS skills
      FROM technicians t
     WHERE t.organization_id = :org AND t.id = ANY(CAST(:ids AS bigint[]))"""


def _prefetch(uow: UnitOfWork, batch: _Batch, orders: list[tuple[WorkOrder, tuple[float, float] | None]], *,
              now: datetime, radius_km: float) -> None:
    """Fetch the candidates of the batch's located orders together — one query per kind of
    question (nearest or not, required skills) instead of one per order. ``_fetch`` uses
    them with the load the batch has added since, or asks again when they may be stale."""
    groups: dict[tuple[bool, tuple[str, ...]], list[tuple[int, dict]]] = {}
    for wo, location in orders:
        strategy = wo.assignment_logic or AssignmentLogic.NEAREST.value
        if location is None or strategy not in _STRATEGIES:
            continue
        nearest = strategy == AssignmentLogic.NEAREST
        required = list(wo.required_skills or ())
        kw = dict(strategy=AssignmentLogic.NEAREST.value if nearest else AssignmentLogic.WORKLOAD.value,
                  k=NEAREST_K if nearest else MAX_CANDIDATES, eligible_only=True, radius_km=radius_km,
                  required_skills=required, location=location)
        groups.setdefault((nearest, tuple(sorted(set(required)))), []).append((wo.id, kw))
    radius_m = radius_km * 1000.0
    for (nearest, req), items in groups.items():
        k = NEAREST_K + NEAREST_SPARE if nearest else MAX_CANDIDATES
        scan = max(SCAN_START, 4 * k)
        params: dict[str, Any] = {
            "org": batch.organization_id, "req": list(req), "nreq": len(req), "k": k, "scan": scan,
            "fresh": now - timedelta(hours=FRESH_LOCATION_HOURS), "radius": radius_m,
            "lats": [kw["location"][0] for _, kw in items], "lons": [kw["location"][1] for _, kw in items],
        }
        rows = _run(uow, _prefetch_sql(nearest, _index_skill(req)), params)
        ids = sorted({r.id for r in rows})
        techs: dict[int, tuple] = {}
        if ids:
            for t in _run(uow, _TECH_FACTS_SQL, {"org": batch.organization_id, "ids": ids}):
                # Read once per technician; shared by every order they are near (nobody changes them).
                techs[t.id] = (t.name, dict(t.skills or {}), int(t.open_jobs), int(t.max_open), bool(t.active))
                batch.hours[t.id] = t.working_hours
        per_order: dict[int, list] = {}
        for r in rows:
            per_order.setdefault(r.order_index, []).append(r)
        for i, (wo_id, kw) in enumerate(items, start=1):
            got = per_order.get(i, [])
            if nearest:
                if any(r.rn == scan and r.knn_d <= radius_m for r in got):
                    continue  # its walk needs to go further: asked on its own, as fetch_candidates does
                got = [r for r in got if r.knn_d <= radius_m]
            facts = []
            for r in got:
                name, skills, open_jobs, max_open, active = techs[r.id]
                d = float(r.distance_m)
                facts.append(TechFacts(technician_id=r.id, name=name, distance_m=d, skills=skills,
                                       open_jobs=open_jobs, max_open=max_open, active=active,
                                       within_radius=d <= radius_m, lat=r.lat, lon=r.lon))
            batch.prefetched[wo_id] = (_question(kw), facts, k)


def _decide(uow: UnitOfWork, wo: WorkOrder, *, strategy: str | None, now: datetime, radius_km: float,
            location: tuple[float, float] | None, eligible_only: bool = True,
            k: int = MAX_CANDIDATES, batch: _Batch | None = None) -> _Decision:
    requested = strategy or wo.assignment_logic or AssignmentLogic.NEAREST.value
    if requested not in _STRATEGIES:
        raise ValidationFailed(f"Unknown assignment strategy '{requested}'. Choose one of "
                               + ", ".join(s.value for s in AssignmentLogic) + ".", "strategy")
    effective = requested
    fallback = None
    if requested == AssignmentLogic.NEAREST and location is None:
        effective = AssignmentLogic.WORKLOAD.value
        fallback = ("The ticket has no location, so 'nearest' fell back to 'workload' "
                    "(fewest open work orders).")
    pointer_id = pointer_name = None
    if effective == AssignmentLogic.ROUND_ROBIN:
        if wo.rule_id is None:
            effective = AssignmentLogic.WORKLOAD.value
            fallback = ("This order was not created by a rule, so there is no rotation to follow; "
                        "'round_robin' fell back to 'workload' (fewest open work orders).")
        elif batch is not None and wo.rule_id in batch.pointers:
            pointer_id, pointer_name = batch.pointers[wo.rule_id]
        else:
            pointer_id, pointer_name = _read_pointers(uow, wo.organization_id, [wo.rule_id]).get(wo.rule_id,
                                                                                                   (None, None))
            if batch is not None:
                batch.pointers[wo.rule_id] = (pointer_id, pointer_name)
    required = list(wo.required_skills or ())
    if effective == AssignmentLogic.NEAREST and location is not None:
        # Only the closest few matter (the winner plus the ones the explanation lists).
        k = min(k, NEAREST_K if eligible_only else NEAREST_K_ALL)
    facts = _fetch(uow, batch, wo.id, organization_id=wo.organization_id, location=location,
                   required_skills=required,
                   strategy=effective, now=now, radius_km=radius_km, eligible_only=eligible_only, k=k,
                   last_technician_id=pointer_id, hours_out=batch.hours if batch is not None else None)
    ranked = rank_candidates(effective, facts, required, last_technician_id=pointer_id)
    return _Decision(effective, requested, fallback, ranked, location is not None, pointer_id, pointer_name)


def _read_pointers(uow: UnitOfWork, organization_id: int, rule_ids: list[int]) -> dict[int, tuple[int | None, str | None]]:
    """The round-robin pointers of these rules: rule -> (last technician, their name)."""
    rows = uow.session.execute(
        select(AssignmentState.rule_id, AssignmentState.last_technician_id, Technician.name)
        .outerjoin(Technician, Technician.id == AssignmentState.last_technician_id)
        .where(AssignmentState.rule_id.in_(rule_ids), AssignmentState.organization_id == organization_id)
    ).all()
    return {r.rule_id: (r.last_technician_id, r.name) for r in rows}


def _explanation(d: _Decision, wo: WorkOrder, *, radius_km: float, now: datetime, winner: Ranked | None,
                 why: str | None, reason: str | None = None, extra: dict | None = None) -> dict:
    required = list(wo.required_skills or ())
    listed = d.ranked[:EXPLANATION_CANDIDATES]
    if winner is not None and all(r.facts.technician_id != winner.facts.technician_id for r in listed):
        listed = listed + [winner]
    e = {
        "strategy": d.strategy,
        "requested_strategy": d.requested,
        "fallback": d.fallback,
        "required_skills": required,
        "radius_km": radius_km,
        "located": d.located,
        "position_rule": f"current location if reported within {FRESH_LOCATION_HOURS} h, else home base",
        "candidates_total": len(d.ranked),
        "eligible_total": sum(1 for r in d.ranked if r.eligible),
        "candidates": [_candidate_json(r, required) for r in listed],
        "winner": _candidate_json(winner, required) if winner is not None else None,
        "why": why,
        "reason": reason,
        "at": now.isoformat(),
    }
    if d.strategy == AssignmentLogic.ROUND_ROBIN:
        e["rotation_after"] = {"technician_id": d.pointer_id, "name": d.pointer_name}
    if extra:
        e.update(extra)
    return e


def _notify(uow: UnitOfWork, wo: WorkOrder, event: str, actor: Actor | None, technician_id: int | None = None) -> None:
    """Queue the event's notifications in this transaction (the outbox decides who hears
    what). An order that notifies nobody is skipped without asking the outbox."""
    if not (wo.notify_customer or wo.notify_technician):
        return
    from desk_desktop.services import notifications

    wo_id = wo.id

    kw: dict[str, Any] = {}
    if technician_id is not None:
        kw["technician_id"] = technician_id
    notifications.enqueue_work_order_event(uow=uow, work_order_id=wo_id, event=event, actor=actor, **kw)


def _defer_notice(batch: _Batch, wo: WorkOrder, event: str, technician_id: int | None) -> None:
    """``_notify`` for a deferred batch: queued with the batch's other notifications."""
    if wo.notify_customer or wo.notify_technician:
        batch.notices.append((wo.id, event, technician_id))


def _schedule(uow: UnitOfWork, wo: WorkOrder, tech_hours: dict | None, tz_name: str, now: datetime,
              *, force: bool) -> dict | None:
    """Set scheduled_start/end when the order asks for it (or ``force``); returns the
    schedule part of the explanation, or None when the order is not scheduled."""
    if wo.scheduled_start is not None:
        requested = max(wo.scheduled_start, now)  # never schedule into the past
    elif wo.auto_schedule or force:
        requested = now + timedelta(minutes=wo.schedule_offset_minutes or 0)
    else:
        return None
    fit = fit_into_working_hours(requested, wo.duration_minutes, tech_hours, tz_name)
    wo.scheduled_start, wo.scheduled_end = fit.start, fit.end
    return {"requested_start": fit.requested_start.isoformat(), "start": fit.start.isoformat(),
            "end": fit.end.isoformat(), "moved": fit.moved, "note": fit.note, "timezone": tz_name}


def _apply_assignment(uow: UnitOfWork, actor: Actor, wo: WorkOrder, tech_id: int, explanation: dict, *,
                      now: datetime, tz_name: str, schedule: bool, force_schedule: bool, manual: bool,
                      batch: _Batch | None = None) -> None:
    previous_tech = wo.technician_id
    deferred = batch is not None and batch.deferred
    if previous_tech is not None and previous_tech != tech_id:
        if deferred:
            _defer_notice(batch, wo, "work_order.unassigned", previous_tech)
        else:
            _notify(uow, wo, "work_order.unassigned", actor, technician_id=previous_tech)
    if deferred:
        if previous_tech is not None and wo.status in OPEN_STATUSES:
            batch.add_load(previous_tech, -1)
        batch.add_load(tech_id, +1)
    if batch is not None and tech_id in batch.hours:
        tech_name = next((c["name"] for c in explanation.get("candidates", ())
                          if c.get("technician_id") == tech_id), None)
        hours = batch.hours[tech_id]
    else:
        tech_name, hours = None, None
    if tech_name is None:
        row = uow.session.execute(select(Technician.name, Technician.working_hours)
                                  .where(Technician.id == tech_id)).first()
        tech_name, hours = (row.name, row.working_hours) if row is not None else (f"technician {tech_id}", None)
    sched = None
    if schedule:
        sched = _schedule(uow, wo, hours, tz_name, now, force=force_schedule)
    if sched is not None:
        explanation["schedule"] = sched
        if sched["moved"]:
            explanation["why"] = (explanation.get("why") or "") + f" Start {sched['note']}."
    wo.technician_id = tech_id
    wo.status = WorkOrderStatus.SCHEDULED.value if wo.scheduled_start is not None else WorkOrderStatus.ASSIGNED.value
    wo.assigned_at = now
    wo.needs_assignment = False
    wo.next_assign_at = None
    wo.unassigned_reason = None
    wo.assignment_explanation = explanation
    wo.updated_at = now
    if not deferred:
        uow.session.flush()
    name = tech_name
    number = work_order_number(wo.id)
    summary = (f"{number} assigned to {name} by hand" if manual
               else f"{number} assigned to {name} ({explanation.get('strategy')})")
    if wo.scheduled_start is not None:
        summary += f", scheduled {wo.scheduled_start:%Y-%m-%d %H:%M} UTC"
    entry = dict(actor=actor, action="work_order.assigned", entity="work_order", entity_id=wo.id,
                 organization_id=wo.organization_id, summary=summary,
                 details={"technician_id": tech_id, "previous_technician_id": previous_tech,
                          "explanation": explanation})
    if batch is not None and batch.audits is not None:
        batch.audits.append(entry)
    else:
        audit(uow, **entry)
    # "assigned" tells the technician and announces the visit (who and when) to the customer;
    # a separate "scheduled" would announce the same visit again (the outbox would drop it as
    # a duplicate), so it is only sent when the schedule changes without a new assignment.
    if deferred:
        _defer_notice(batch, wo, "work_order.assigned", None)
    else:
        _notify(uow, wo, "work_order.assigned", actor)
    uow.record_change("work_order", wo.id, wo.organization_id, "assigned")


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(BACKOFF_CAP_MINUTES, 2 ** max(0, attempts - 1)))


def _assign_automatically(uow: UnitOfWork, actor: Actor, wo: WorkOrder, *, now: datetime, radius_km: float,
                          batch: _Batch, location: tuple[float, float] | None) -> bool:
    d = _decide(uow, wo, strategy=None, now=now, radius_km=radius_km, location=location, batch=batch)
    elig = [r for r in d.ranked if r.eligible]
    required = list(wo.required_skills or ())
    if not elig:
        # For the reason, look at everybody nearby (not only the eligible ones).
        everyone = _fetch(uow, batch, organization_id=wo.organization_id, location=location,
                          required_skills=required, strategy=d.strategy, now=now, radius_km=radius_km,
                          eligible_only=False, k=200)
        d.ranked = rank_candidates(d.strategy, everyone, required, last_technician_id=d.pointer_id)
        reason = no_eligible_reason(d.ranked, radius_km=radius_km, located=location is not None,
                                    required_skills=required)
        wo.assign_attempts = (wo.assign_attempts or 0) + 1
        wo.next_assign_at = now + _backoff(wo.assign_attempts)
        changed = wo.unassigned_reason != reason
        wo.unassigned_reason = reason
        wo.assignment_explanation = _explanation(d, wo, radius_km=radius_km, now=now, winner=None, why=None,
                                                 reason=reason, extra={"attempts": wo.assign_attempts,
                                                                       "retry_at": wo.next_assign_at.isoformat()})
        wo.updated_at = now
        if not batch.deferred:
            uow.session.flush()
        if changed:
            entry = dict(actor=actor, action="work_order.assignment_failed", entity="work_order", entity_id=wo.id,
                         organization_id=wo.organization_id,
                         summary=f"{work_order_number(wo.id)} could not be assigned: {reason} Retrying later.",
                         details={"explanation": wo.assignment_explanation})
            if batch.audits is not None:
                batch.audits.append(entry)
            else:
                audit(uow, **entry)
        uow.record_change("work_order", wo.id, wo.organization_id, "unassigned")
        return False
    winner = elig[0]
    why = why_winner(d.strategy, d.ranked, required, pointer_name=d.pointer_name)
    explanation = _explanation(d, wo, radius_km=radius_km, now=now, winner=winner, why=why)
    if d.strategy == AssignmentLogic.ROUND_ROBIN:
        if batch.deferred:
            batch.pointer_writes[wo.rule_id] = (wo.organization_id, winner.facts.technician_id)
        else:
            _advance_pointer(uow, wo, winner.facts.technician_id, now)
        batch.pointers[wo.rule_id] = (winner.facts.technician_id, winner.facts.name)
    _apply_assignment(uow, actor, wo, winner.facts.technician_id, explanation, now=now, tz_name=batch.tz_name,
                      schedule=True, force_schedule=False, manual=False, batch=batch)
    return True


def _advance_pointer(uow: UnitOfWork, wo: WorkOrder, technician_id: int, now: datetime) -> None:
    _write_pointer(uow, wo.organization_id, wo.rule_id, technician_id, now)


def _write_pointer(uow: UnitOfWork, organization_id: int, rule_id: int, technician_id: int,
                   now: datetime | None) -> None:
    uow.session.execute(
        text(
            "INSERT INTO assignment_state (organization_id, rule_id, last_technician_id, updated_at) "
            "VALUES (:org, :rule, :tech, :now) "
            "ON CONFLICT (rule_id) DO UPDATE SET last_technician_id = EXCLUDED.last_technician_id, "
            "updated_at = EXCLUDED.updated_at"
        ),
        {"org": organization_id, "rule": rule_id, "tech": technician_id, "now": now or _utcnow()},
    )


# --------------------------------------------------------------------------- the assign job


def assign_pending(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None, limit: int = 200,
                   radius_km: float = DEFAULT_RADIUS_KM) -> AssignBatchResult:
    """Assign (and schedule) due orders that want automatic assignment. Safe to run in many
    processes at once: per organization one transaction under an advisory lock; rows are
    claimed with ``FOR UPDATE SKIP LOCKED``."""
    now = now or _utcnow()
    with uow_factory() as uow:
        orgs = list(uow.session.execute(
            # Per organization: is there at least one due order (stops at the first one,
            # instead of reading every pending order to list the distinct organizations).
            text("SELECT o.id FROM organizations o WHERE EXISTS (SELECT 1 FROM work_orders w "
                 "WHERE w.organization_id = o.id AND w.needs_assignment "
                 "AND (w.next_assign_at IS NULL OR w.next_assign_at <= :now))"),
            {"now": now},
        ).scalars())
    assigned = unassigned = errors = 0
    ids: list[int] = []
    for org_id in sorted(orgs):
        remaining = limit - assigned - unassigned - errors
        if remaining <= 0:
            break
        a, u, e, done = _assign_org(uow_factory, org_id, now=now, limit=remaining, radius_km=radius_km)
        assigned, unassigned, errors = assigned + a, unassigned + u, errors + e
        ids.extend(done)
    return AssignBatchResult(assigned=assigned, unassigned=unassigned, errors=errors, work_order_ids=tuple(ids))


def _mark_failed(uow_factory: UnitOfWorkFactory, org_id: int, wo_id: int, exc: Exception, now: datetime) -> None:
    uow = uow_factory()
    with uow:
        wo = uow.session.scalar(select(WorkOrder).where(WorkOrder.id == wo_id, WorkOrder.organization_id == org_id)
                                .with_for_update())
        if wo is not None:
            wo.assign_attempts = (wo.assign_attempts or 0) + 1
            wo.next_assign_at = now + _backoff(wo.assign_attempts)
            wo.unassigned_reason = f"Automatic assignment failed: {exc}"[:1000]
            audit(uow, actor=Actor.system(org_id, name="assign job"), action="work_order.assignment_failed",
                  entity="work_order", entity_id=wo_id, organization_id=org_id,
                  summary=f"{work_order_number(wo_id)}: automatic assignment failed ({exc}); retrying later.")
            uow.record_change("work_order", wo_id, org_id, "updated")
        uow.commit()


def _assign_org(uow_factory: UnitOfWorkFactory, org_id: int, *, now: datetime, limit: int,
                radius_km: float, deferred: bool = True) -> tuple[int, int, int, list[int]]:
    actor = Actor.system(org_id, name="assign job")
    assigned = unassigned = errors = 0
    done: list[int] = []
    uow = uow_factory()
    with uow:
        _lock_org(uow, org_id)
        prepare_transaction(uow)
        batch = _Batch(tz_name=_org_timezone(uow, org_id), audits=[], deferred=deferred, now=now,
                       organization_id=org_id)
        claimed = uow.session.execute(
            text(
                "SELECT w.id, ST_Y(CAST(coalesce(t.location, s.location) AS geometry)) AS lat, "
                "       ST_X(CAST(coalesce(t.location, s.location) AS geometry)) AS lon "
                "FROM work_orders w "
                "LEFT JOIN tickets t ON t.id = w.source_ticket_id AND t.organization_id = w.organization_id "
                "LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = w.organization_id "
                "WHERE w.organization_id = :org AND w.needs_assignment "
                "  AND (w.next_assign_at IS NULL OR w.next_assign_at <= :now) "
                "  AND w.status NOT IN ('completed', 'cancelled') "
                "ORDER BY w.next_assign_at NULLS FIRST, w.id "
                "LIMIT :limit FOR UPDATE OF w SKIP LOCKED"
            ),
            {"org": org_id, "now": now, "limit": limit},
        ).all()
        if not claimed:
            uow.commit()
            return 0, 0, 0, []
        orders = {wo.id: wo for wo in uow.session.scalars(
            select(WorkOrder).where(WorkOrder.id.in_([c.id for c in claimed])))}
        failed: tuple[int, Exception] | None = None
        locations = {c.id: (float(c.lat), float(c.lon)) if c.lat is not None else None for c in claimed}
        rotating = sorted({wo.rule_id for wo in orders.values()
                           if wo.rule_id is not None and wo.assignment_logic == AssignmentLogic.ROUND_ROBIN})
        if rotating:  # read now, not in the middle of the batch (that would wait for the pipe)
            found = _read_pointers(uow, org_id, rotating)
            batch.pointers.update({rule_id: found.get(rule_id, (None, None)) for rule_id in rotating})
        try:
            if deferred:
                batch.pipe = StatementPipe(uow)
                try:
                    _prefetch(uow, batch, [(orders[c.id], locations[c.id]) for c in claimed], now=now,
                              radius_km=radius_km)
                except Exception as exc:  # noqa: BLE001 — redone order by order, below
                    failed = (None, exc)
            with uow.session.no_autoflush:  # the batch writes its changes itself (Batch.sync/finish)
                for n, c in enumerate(claimed if failed is None else (), start=1):
                    wo = orders[c.id]
                    try:
                        ok = _assign_automatically(uow, actor, wo, now=now, radius_km=radius_km, batch=batch,
                                                   location=locations[c.id])
                        if batch.pipe is not None and n % PIPE_PART == 0 and n < len(claimed):
                            batch.write_part(uow, actor)
                    except StatementFailed as exc:
                        failed = (None, exc.__cause__)  # writing an earlier part failed: see below
                        break
                    except Exception as exc:  # noqa: BLE001 — handled below, outside this transaction
                        failed = (c.id, exc)
                        break
                    done.append(c.id)
                    if ok:
                        assigned += 1
                    else:
                        unassigned += 1
            if failed is None:
                try:
                    batch.finish(uow, actor)
                except StatementFailed as exc:
                    failed = (None, exc.__cause__)
                except Exception as exc:  # noqa: BLE001 — the batch is rolled back; see below
                    failed = (None, exc)
        finally:
            if batch.pipe is not None:
                batch.pipe.close()
        if failed is None:
            uow.commit()
    if failed is not None and failed[0] is None:
        # Fetching or writing the batch failed and the database does not say for which order:
        # do this batch again order by order (each asked and written on its own), which names
        # the culprit.
        log.warning("assignment batch failed as a whole (%r); redoing it order by order", failed[1])
        return _assign_org(uow_factory, org_id, now=now, limit=limit, radius_km=radius_km, deferred=False)
    if failed is not None:
        # One bad order must not block the others: this batch is rolled back (no savepoint
        # per order — they cost two round trips each), the bad order is put aside with
        # its reason and a backoff, and the next call does the rest again.
        wo_id, exc = failed
        log.error("assigning %s failed: %r", work_order_number(wo_id), exc, exc_info=exc)
        _mark_failed(uow_factory, org_id, wo_id, exc, now)
        return 0, 0, 1, []
    return assigned, unassigned, errors, done


# --------------------------------------------------------------------------- manual operations


def _load_order(uow: UnitOfWork, actor: Actor, work_order_id: int, *, for_update: bool = False) -> WorkOrder:
    stmt = select(WorkOrder).where(WorkOrder.id == work_order_id, WorkOrder.organization_id == actor.organization_id)
    if for_update:
        stmt = stmt.with_for_update()
    wo = uow.session.scalar(stmt)
    if wo is None:
        raise WorkOrderNotFound(f"Work order {work_order_number(work_order_id)} does not exist.")
    return wo


def list_candidates(*, uow: UnitOfWork, actor: Actor, work_order_id: int, strategy: str | None = None,
                    limit: int = 10, now: datetime | None = None,
                    radius_km: float = DEFAULT_RADIUS_KM) -> CandidateList:
    """Ranked technicians for an order under any strategy: eligible ones first (rank 1 would
    win), then nearby ones that are not eligible, with the reason."""
    now = now or _utcnow()
    with uow:
        prepare_transaction(uow)
        wo = _load_order(uow, actor, work_order_id)
        location = _order_location(uow, wo)
        d = _decide(uow, wo, strategy=strategy, now=now, radius_km=radius_km, location=location,
                    eligible_only=False)
        required = list(wo.required_skills or ())
        elig = [r for r in d.ranked if r.eligible]
        if elig:
            text_ = why_winner(d.strategy, d.ranked, required, pointer_name=d.pointer_name)
        else:
            text_ = no_eligible_reason(d.ranked, radius_km=radius_km, located=location is not None,
                                       required_skills=required)
        if d.fallback:
            text_ = d.fallback + " " + text_
        shown = tuple(_to_candidate(r, required) for r in d.ranked[:limit])
        uow.commit()
        return CandidateList(work_order_id=wo.id, strategy=d.strategy, candidates=shown, explanation=text_)


def assign_work_order(*, uow: UnitOfWork, actor: Actor, work_order_id: int, technician_id: int,
                      strategy: str | None = None, schedule: bool = True, now: datetime | None = None,
                      force: bool = False, radius_km: float = DEFAULT_RADIUS_KM) -> WorkOrderView:
    """A dispatcher assigns a technician by hand. The explanation records where the chosen
    technician ranked under the strategy. A technician who is not eligible (inactive,
    missing a skill, at capacity, out of range) is refused unless ``force`` is set."""
    now = now or _utcnow()
    with uow:
        _lock_org(uow, actor.organization_id)
        prepare_transaction(uow)
        wo = _load_order(uow, actor, work_order_id, for_update=True)
        if wo.status in CLOSED_STATUSES:
            raise WorkOrderClosed(f"{work_order_number(wo.id)} is {wo.status}; it cannot be assigned.")
        tech = uow.session.scalar(select(Technician).where(Technician.id == technician_id,
                                                           Technician.organization_id == actor.organization_id))
        if tech is None:
            raise TechnicianNotFound(f"Technician {technician_id} does not exist in this organization.")
        location = _order_location(uow, wo)
        d = _decide(uow, wo, strategy=strategy, now=now, radius_km=radius_km, location=location,
                    eligible_only=False)
        required = list(wo.required_skills or ())
        chosen = next((r for r in d.ranked if r.facts.technician_id == technician_id), None)
        if chosen is None:
            facts = _technician_facts(uow, organization_id=actor.organization_id, technician_id=technician_id,
                                      location=location, now=now, radius_km=radius_km)
            if wo.technician_id == technician_id and facts is not None:
                # Already theirs: their own order must not count against their capacity.
                facts = TechFacts(**{**facts.__dict__, "open_jobs": max(0, facts.open_jobs - 1)})
            ok, reason = eligibility(facts, required)
            chosen = Ranked(facts, ok, reason, None, None)
        elif wo.technician_id == technician_id:
            facts = TechFacts(**{**chosen.facts.__dict__, "open_jobs": max(0, chosen.facts.open_jobs - 1)})
            ok, reason = eligibility(facts, required)
            chosen = Ranked(facts, ok, reason, chosen.rank, chosen.skill_score)
        if not chosen.eligible and not force:
            raise TechnicianNotEligible(f"{tech.name} cannot take {work_order_number(wo.id)}: {chosen.reason}.")
        best = next((r for r in d.ranked if r.eligible), None)
        rank_text = (f"ranked #{chosen.rank} under {d.strategy}" if chosen.rank
                     else f"not eligible under {d.strategy} ({chosen.reason}); assigned anyway")
        why = f"Chosen by {actor.name}: {tech.name}, {rank_text}."
        if best is not None and best.facts.technician_id != technician_id:
            why += f" The strategy's first choice was {best.facts.name}."
        explanation = _explanation(d, wo, radius_km=radius_km, now=now, winner=chosen, why=why,
                                   extra={"manual": True, "by": actor.name, "forced": bool(force and not chosen.eligible)})
        _apply_assignment(uow, actor, wo, technician_id, explanation, now=now,
                          tz_name=_org_timezone(uow, actor.organization_id), schedule=schedule,
                          force_schedule=False, manual=True)
        view = _view_of(uow, actor, wo.id)
        uow.commit()
        return view


def unassign_work_order(*, uow: UnitOfWork, actor: Actor, work_order_id: int, reason: str = "",
                        reassign: bool = False) -> WorkOrderView:
    """Take the order away from its technician (they are told). It stays unassigned until a
    dispatcher assigns it, or — with ``reassign`` — the assign job picks it up again."""
    with uow:
        _lock_org(uow, actor.organization_id)
        wo = _load_order(uow, actor, work_order_id, for_update=True)
        if wo.technician_id is None:
            raise NotAssigned(f"{work_order_number(wo.id)} is not assigned to anyone.")
        if wo.status in CLOSED_STATUSES:
            raise WorkOrderClosed(f"{work_order_number(wo.id)} is {wo.status}; it cannot be unassigned.")
        previous = wo.technician_id
        prev_name = uow.session.scalar(select(Technician.name).where(Technician.id == previous))
        now = _utcnow()
        wo.technician_id = None
        wo.status = WorkOrderStatus.UNASSIGNED.value
        wo.assigned_at = None
        wo.unassigned_reason = (reason or "").strip() or f"Unassigned by {actor.name}"
        wo.needs_assignment = bool(reassign)
        wo.next_assign_at = now if reassign else None
        wo.assign_attempts = 0
        wo.updated_at = now
        uow.session.flush()
        _notify(uow, wo, "work_order.unassigned", actor, technician_id=previous)
        audit(uow, actor=actor, action="work_order.unassigned", entity="work_order", entity_id=wo.id,
              summary=f"{work_order_number(wo.id)} taken from {prev_name}"
              + (f": {reason.strip()}" if reason and reason.strip() else ""),
              details={"previous_technician_id": previous, "reason": reason, "reassign": bool(reassign)})
        uow.record_change("work_order", wo.id, wo.organization_id, "unassigned")
        view = _view_of(uow, actor, wo.id)
        uow.commit()
        return view


def reschedule_work_order(*, uow: UnitOfWork, actor: Actor, work_order_id: int, start: datetime,
                          duration_minutes: int | None = None) -> WorkOrderView:
    """Move the visit to ``start`` (kept as given — the dispatcher's decision); the end
    follows from the duration. The customer and the technician are told."""
    if start is None:
        raise ValidationFailed("Give a start time.", "start")
    if start.tzinfo is None:
        raise ValidationFailed("The start time needs a time zone.", "start")
    with uow:
        wo = _load_order(uow, actor, work_order_id, for_update=True)
        if wo.status in CLOSED_STATUSES:
            raise WorkOrderClosed(f"{work_order_number(wo.id)} is {wo.status}; it cannot be rescheduled.")
        if duration_minutes is not None:
            if not 15 <= int(duration_minutes) <= 1440:
                raise ValidationFailed("The duration must be between 15 minutes and 24 hours.", "duration_minutes")
            wo.duration_minutes = int(duration_minutes)
        before = wo.scheduled_start
        wo.scheduled_start = start.astimezone(UTC)
        wo.scheduled_end = wo.scheduled_start + timedelta(minutes=wo.duration_minutes)
        if wo.technician_id is not None and wo.status == WorkOrderStatus.ASSIGNED:
            wo.status = WorkOrderStatus.SCHEDULED.value
        wo.updated_at = _utcnow()
        uow.session.flush()
        event = "work_order.rescheduled" if before is not None else "work_order.scheduled"
        _notify(uow, wo, event, actor)
        number = work_order_number(wo.id)
        audit(uow, actor=actor, action="work_order.rescheduled", entity="work_order", entity_id=wo.id,
              summary=(f"{number} moved from {before:%Y-%m-%d %H:%M} to {wo.scheduled_start:%Y-%m-%d %H:%M} UTC"
                       if before else f"{number} scheduled for {wo.scheduled_start:%Y-%m-%d %H:%M} UTC"),
              details={"from": before.isoformat() if before else None, "to": wo.scheduled_start.isoformat(),
                       "duration_minutes": wo.duration_minutes})
        uow.record_change("work_order", wo.id, wo.organization_id, "rescheduled")
        view = _view_of(uow, actor, wo.id)
        uow.commit()
        return view


# --------------------------------------------------------------------------- reading

_VIEW_SQL = """
SELECT w.id, w.status, w.work_type, w.priority, w.duration_minutes, w.technician_id, tech.name AS technician_name,
       w.scheduled_start, w.scheduled_end, w.assignment_logic, w.required_skills, w.needs_assignment,
       w.assign_attempts, w.next_assign_at, w.unassigned_reason, w.assignment_explanation, w.assigned_at,
       w.source, w.rule_id, w.source_ticket_id AS ticket_id, t.number AS ticket_number, t.subject AS ticket_subject,
       t.customer_name, w.created_at,
       ST_Y(CAST(coalesce(t.location, s.location) AS geometry)) AS lat,
       ST_X(CAST(coalesce(t.location, s.location) AS geometry)) AS lon
  FROM work_orders w
  LEFT JOIN technicians tech ON tech.id = w.technician_id AND tech.organization_id = w.organization_id
  LEFT JOIN tickets t ON t.id = w.source_ticket_id AND t.organization_id = w.organization_id
  LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = w.organization_id
 WHERE w.organization_id = :org
"""


def _row_view(r) -> WorkOrderView:
    return WorkOrderView(
        id=r.id, number=work_order_number(r.id), status=r.status, work_type=r.work_type, priority=r.priority,
        duration_minutes=r.duration_minutes, technician_id=r.technician_id, technician_name=r.technician_name,
        scheduled_start=r.scheduled_start, scheduled_end=r.scheduled_end, assignment_logic=r.assignment_logic,
        required_skills=tuple(r.required_skills or ()), needs_assignment=r.needs_assignment,
        assign_attempts=r.assign_attempts, next_assign_at=r.next_assign_at, unassigned_reason=r.unassigned_reason,
        assignment_explanation=r.assignment_explanation, assigned_at=r.assigned_at, source=r.source,
        rule_id=r.rule_id, ticket_id=r.ticket_id, ticket_number=r.ticket_number, ticket_subject=r.ticket_subject,
        customer_name=r.customer_name, lat=r.lat, lon=r.lon, created_at=r.created_at,
    )


def _view_of(uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrderView:
    uow.session.flush()
    row = uow.session.execute(text(_VIEW_SQL + " AND w.id = :id"),
                              {"org": actor.organization_id, "id": work_order_id}).first()
    if row is None:
        raise WorkOrderNotFound(f"Work order {work_order_number(work_order_id)} does not exist.")
    return _row_view(row)


def get_work_order_or_raise(*, uow: UnitOfWork, actor: Actor, work_order_id: int) -> WorkOrderView:
    with uow:
        view = _view_of(uow, actor, work_order_id)
        uow.commit()
        return view


def list_open_work_orders(*, uow: UnitOfWork, actor: Actor, unassigned_only: bool = False,
                          limit: int | None = None) -> tuple[WorkOrderView, ...]:
    """Orders still to be done (unassigned or open), most urgent first."""
    statuses = [WorkOrderStatus.UNASSIGNED.value] if unassigned_only else [WorkOrderStatus.UNASSIGNED.value,
                                                                             *OPEN_STATUSES]
    sql = (_VIEW_SQL + " AND w.status = ANY(CAST(:st AS text[])) "
           "ORDER BY CASE w.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, w.id")
    params: dict[str, Any] = {"org": actor.organization_id, "st": statuses}
    if limit is not None:
        sql += " LIMIT :lim"
        params["lim"] = limit
    with uow:
        rows = uow.session.execute(text(sql), params).all()
        out = tuple(_row_view(r) for r in rows)
        uow.commit()
        return out
