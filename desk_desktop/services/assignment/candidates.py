"""The candidate queries: which technicians could take an order, with their facts.

Eligible technicians are active, have every required skill, and have fewer open work
orders than their maximum ("open": ``domain.enums.OPEN_WORK_ORDER_STATUSES``). Their
position follows ``position`` (current location when fresh, else home base); distances
are metres on the WGS 84 spheroid.

When the order has a location, the candidates are the technicians within the radius
(``Settings.assign_radius_km``, default 100 km), found with the PostGIS KNN operator
``<->`` on the GiST indexes (one walk over fresh current locations, one over home bases, each
over the technicians who have one of the required skills — any skill, a bind parameter — or
over everyone when none is required; merged), nearest first, at most ``MAX_CANDIDATES``.
Every strategy ranks this same set, so a technician far away never wins on load or skill
alone. Without a location there are no distances: every
eligible technician of the organization is a candidate.

``prefetch_sql`` asks the same question for many points at once (the assign job).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES, AssignmentLogic
from desk_desktop.domain.scoring import TechFacts
from desk_desktop.services.assignment.position import fresh_after, position, uses_current_location

DEFAULT_RADIUS_KM = 100.0
DEFAULT_SPEED_KMH = 40.0  # the drives around a visit, when not given (Settings.travel_speed_kmh's default)
MAX_CANDIDATES = 500  # per order, nearest first, within the radius
# The ``:walk`` bound of each KNN walk: never reached (LIMIT's largest value). The bound is a
# parameter for the planner's sake: a walk under a LIMIT whose value the (generic) plan does
# not know is planned as an index-ordered walk that stops when the query has its rows;
# without one, or with a constant, the planner sorts all of a skill's rows instead
# (measured: 20-100 ms instead of 0.7).
WALK_ALL = 2**63 - 1
NEAREST_K = 10  # nearest: the walk stops after this many eligible technicians (the explanation lists 10)
NEAREST_K_ALL = 100  # nearest, listing ineligible ones too (map view)
OPEN_STATUSES = [s.value for s in OPEN_WORK_ORDER_STATUSES]

# The open statuses written out in the SQL (not a parameter), so the planner can use the
# partial index of open orders by technician, whose predicate lists the same statuses.
OPEN_SQL = "(" + ",".join(f"'{st}'" for st in OPEN_STATUSES) + ")"

_OPEN_JOBS = ("(SELECT count(*) FROM work_orders w WHERE w.organization_id = :org AND w.technician_id = t.id "
              "AND w.status IN " + OPEN_SQL + ")")

# A technician's facts (``TechFacts``), read from their row.
TECH_COLUMNS = f"""
    t.id, t.name, t.max_open_work_orders AS max_open, t.active, t.working_hours,
    {_OPEN_JOBS} AS open_jobs, t.skill_levels AS skills
"""

# ``skill_levels`` is the technician row's copy of its technician_skills rows (kept exact by
# triggers, migration 0003). Skills first: the test that rules out most runs first.
SKILL_TEST = "(:nreq = 0 OR t.skill_levels ?& CAST(:req AS text[]))"
CAPACITY_TEST = f"{_OPEN_JOBS} < t.max_open_work_orders"

# The skill rows' index key for the skill (migration 0017): a 64-bit hash of the key, not
# the text, so the GiST index keeps each skill's rows in subtrees of their own (text ranges
# of btree_gist interleave the skills: a walk for one skill read pages of many).
SKILL_KEY = "hashtextextended(s.skill, 0)"

# The order's point as an init-plan: computed once per query, not once per row measured.
POINT = "(SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography))"


def eligible_filter(capacity: bool = True) -> str:
    """``AND`` the skill test (and the open-order limit, unless the caller decides it)."""
    return f" AND {SKILL_TEST}" + (f" AND {CAPACITY_TEST}" if capacity else "")


def spheroid_distance(a: str, b: str) -> str:
    """Metres between two points on the WGS 84 spheroid: what ``ST_Distance`` gives for two
    geographies, without its per-statement cache (which costs more than it saves here)."""
    return (f"ST_DistanceSpheroid(CAST({a} AS geometry), CAST({b} AS geometry), "
            "CAST('SPHEROID[\"WGS 84\",6378137,298.257223563]' AS spheroid))")


def index_skill(required: list[str] | tuple[str, ...]) -> str | None:
    """The required skill whose rows the home-base walk goes through (the ``:skill``
    parameter; None: no skill required, the walk goes over all technicians)."""
    return min(required) if required else None


def _branches(by_skill: bool) -> list[tuple[str, str, str]]:
    """The two KNN walks as (position column, rows walked, who is placed there). With
    ``by_skill`` both walks go over the skill rows of the skill ``:skill``, whose copies of
    the home base and of the current location are indexed with organization and skill
    (migrations 0009, 0017): index-ordered walks that never pass technicians without that
    skill, for any skill (the indexes hold the hash of the skill, ``SKILL_KEY``; the key
    itself is tested too). ``CAST(:org AS bigint)``: btree_gist compares bigint with bigint
    only, and the driver sends a small id as a smallint — uncast, the organization would be
    a filter, not part of the index condition."""
    home = f"t.home_base IS NOT NULL AND NOT {uses_current_location()}"
    current = uses_current_location()
    if by_skill:
        skill_rows = "technician_skills s JOIN technicians t ON t.id = s.technician_id"
        of_skill = (f"s.organization_id = CAST(:org AS bigint) AND {SKILL_KEY} = hashtextextended(:skill, 0) "
                    "AND s.skill = :skill")
        return [("s.current_location", skill_rows, f"{of_skill} AND s.current_location IS NOT NULL AND {current}"),
                ("s.home_base", skill_rows, f"{of_skill} AND {home}")]
    return [("t.current_location", "technicians t", current), ("t.home_base", "technicians t", home)]


@functools.cache
def knn_sql(eligible_only: bool, facts: bool = True, by_skill: bool = False, point: str = POINT,
            capacity: bool = True) -> str:
    """``nearest``: per branch the GiST index is walked in distance order (``LIMIT :walk``:
    ``WALK_ALL``); the two walks are merged and filtered lazily, so only as many technicians
    are checked as it takes to find ``:k`` eligible ones. The first ones beyond the radius
    pass the filter without being candidates, so the walk stops there (all after them are
    farther still); the caller drops them. ``facts``: the technicians' facts come along
    (else only ids); ``by_skill``: the walks are those of the skill ``:skill``
    (``_branches``); ``capacity``: whether the open-order limit is tested here."""
    elig = eligible_filter(capacity) if eligible_only else ""
    carried = "t.name, t.active, t.working_hours, " if facts else ""
    walks = []
    for pos, walked, cond in _branches(by_skill):
        walks.append(f"""(SELECT t.id, {carried}t.max_open_work_orders, t.skill_levels, {pos} AS pos,
                   {pos} <-> {point} AS knn_d
              FROM {walked}
             WHERE t.organization_id = :org AND t.active AND {cond}
             ORDER BY {pos} <-> {point}
             LIMIT :walk)""")
    return f"""
    SELECT t.knn_d, {TECH_COLUMNS if facts else "t.id AS id"},
           {spheroid_distance("t.pos", point)} AS distance_m,
           ST_Y(CAST(t.pos AS geometry)) AS lat, ST_X(CAST(t.pos AS geometry)) AS lon
      FROM (SELECT t.* FROM ({walks[0]} UNION ALL {walks[1]}) t
             WHERE (t.knn_d <= :radius {elig}) OR t.knn_d > :radius
             ORDER BY t.knn_d
             LIMIT :k) t
     ORDER BY t.knn_d > :radius, distance_m, t.id
    """


@functools.cache
def radius_sql(eligible_only: bool, facts: bool = True, by_skill: bool = False, point: str = POINT,
               capacity: bool = True) -> str:
    """``skill_match``, ``workload``, ``round_robin``: everyone (eligible) within the radius,
    nearest first, at most ``:k``. The tests run cheapest-and-most-selective first, each
    level behind an ``OFFSET 0`` fence: bounding box and sphere distance, then the skills,
    then the open-order count."""
    walks = []
    for pos, walked, cond in _branches(by_skill):
        near = f"""SELECT t.id, t.max_open_work_orders, t.skill_levels, {pos} AS pos
          FROM {walked}
         WHERE t.organization_id = :org AND t.active AND {cond}
           AND {pos} && _ST_Expand({point}, :radius) AND {pos} <-> {point} <= :radius"""
        if eligible_only:
            near = f"SELECT t.* FROM ({near} OFFSET 0) t WHERE {SKILL_TEST}"
            if capacity:
                near = f"SELECT t.* FROM ({near} OFFSET 0) t WHERE {CAPACITY_TEST}"
        walks.append(f"SELECT n.id, n.pos FROM ({near}) n")
    join = "JOIN technicians t ON t.id = n.id AND t.organization_id = :org" if facts else ""
    return f"""
    SELECT {TECH_COLUMNS if facts else "n.id AS id"},
           {spheroid_distance("n.pos", point)} AS distance_m,
           ST_Y(CAST(n.pos AS geometry)) AS lat, ST_X(CAST(n.pos AS geometry)) AS lon
      FROM ({walks[0]} UNION ALL {walks[1]}) n {join}
     ORDER BY distance_m, n.id
     LIMIT :k
    """


@functools.cache
def unlocated_sql(eligible_only: bool, order_by: str) -> str:
    """Every (eligible) technician of the organization, in ``order_by``, at most ``:k``."""
    pos = position()
    return f"""
    SELECT * FROM (
      SELECT {TECH_COLUMNS}, NULL::float8 AS distance_m,
             ST_Y(CAST({pos} AS geometry)) AS lat, ST_X(CAST({pos} AS geometry)) AS lon
        FROM technicians t
       WHERE t.organization_id = :org AND t.active {eligible_filter() if eligible_only else ""}
    ) c
    ORDER BY {order_by}
    LIMIT :k
    """


# The orders of the candidates of an order without a location.
_BY_SKILL = "(SELECT coalesce(sum((c.skills ->> s)::int), 0) FROM unnest(CAST(:req AS text[])) s) DESC, c.open_jobs, c.id"
_AFTER_LAST = "(c.id <= :last), c.id"
_BY_LOAD = "c.open_jobs, c.id"


def facts_from_rows(rows, radius_m: float | None) -> list[TechFacts]:
    return [TechFacts(technician_id=r.id, name=r.name,
                      distance_m=float(r.distance_m) if r.distance_m is not None else None,
                      skills=dict(r.skills or {}), open_jobs=int(r.open_jobs), max_open=int(r.max_open),
                      active=bool(r.active),
                      within_radius=radius_m is None or r.distance_m is None or float(r.distance_m) <= radius_m,
                      lat=r.lat, lon=r.lon)
            for r in rows]


def prepare_transaction(uow: UnitOfWork) -> None:
    """Once per transaction that runs candidate queries: no JIT (the planner's pessimistic
    estimates would compile a 1 ms query for 150 ms), and generic plans for the prepared
    candidate statements (their plans do not depend on the values; replanning each call
    costs as much as running them)."""
    sql.execute(uow, "SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)")


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
    """Technician facts for one order (the candidate set described above). ``hours_out``
    receives each technician's working hours."""
    req = sorted(set(required_skills))
    params: dict[str, Any] = {"org": organization_id, "req": req, "nreq": len(req), "fresh": fresh_after(now),
                              "k": k}
    radius_m = None
    if location is None:
        if strategy == AssignmentLogic.SKILL_MATCH and req:
            order_by = _BY_SKILL
        elif strategy == AssignmentLogic.ROUND_ROBIN:
            order_by = _AFTER_LAST
            params["last"] = last_technician_id if last_technician_id is not None else -1
        else:
            order_by = _BY_LOAD
        rows = sql.hot_rows(uow, unlocated_sql(eligible_only, order_by), params)
    else:
        radius_m = radius_km * 1000.0
        # Only eligible ones: the home-base walk of one required skill.
        skill = index_skill(req) if eligible_only else None
        params.update(lat=location[0], lon=location[1], radius=radius_m, skill=skill)
        if strategy != AssignmentLogic.NEAREST:
            rows = sql.hot_rows(uow, radius_sql(eligible_only, True, skill is not None), params)
        else:
            params["walk"] = WALK_ALL
            rows = sql.hot_rows(uow, knn_sql(eligible_only, True, skill is not None), params)
            rows = [r for r in rows if r.knn_d <= radius_m]  # the rest only marked where to stop
    if hours_out is not None:
        hours_out.update((r.id, r.working_hours) for r in rows)
    return facts_from_rows(rows, radius_m)


def technician_facts(uow: UnitOfWork, *, organization_id: int, technician_id: int,
                     location: tuple[float, float] | None, now: datetime, radius_km: float) -> TechFacts | None:
    """One technician's facts for an order, whether or not they are a candidate."""
    pos = position()
    dist = spheroid_distance(pos, POINT) if location else "NULL::float8"
    row = sql.one_or_none(
        uow, f"SELECT {TECH_COLUMNS}, {dist} AS distance_m, ST_Y(CAST({pos} AS geometry)) AS lat, "
             f"ST_X(CAST({pos} AS geometry)) AS lon FROM technicians t WHERE t.organization_id = :org AND t.id = :tid",
        {"org": organization_id, "tid": technician_id, "fresh": fresh_after(now),
         "lat": location[0] if location else None, "lon": location[1] if location else None})
    if row is None:
        return None
    return facts_from_rows([row], radius_km * 1000.0 if location else None)[0]


# Where a work order is: its ticket's location, else its site's.
ORDER_LAT_LON = ("ST_Y(CAST(coalesce(t.location, s.location) AS geometry)) AS lat, "
                 "ST_X(CAST(coalesce(t.location, s.location) AS geometry)) AS lon")


def order_location(uow: UnitOfWork, *, organization_id: int, ticket_id: int | None) -> tuple[float, float] | None:
    if ticket_id is None:
        return None
    row = sql.one_or_none(
        uow, f"SELECT {ORDER_LAT_LON} FROM tickets t "
             "LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = t.organization_id "
             "WHERE t.id = :id AND t.organization_id = :org",
        {"id": ticket_id, "org": organization_id})
    if row is None or row.lat is None:
        return None
    return (float(row.lat), float(row.lon))


@functools.cache
def prefetch_sql(nearest: bool, by_skill: bool = False) -> str:
    """The candidate query of ``nearest`` (``knn_sql``) or of the other strategies
    (``radius_sql``) for many points at once (``:lats``, ``:lons``): the same query per
    point (LATERAL), only ids, distances and positions, without the open-order limit —
    the caller reads each technician's facts once (``TECH_FACTS_SQL``) and decides who is
    full from them."""
    inner = (knn_sql(True, False, by_skill, "o.pt", capacity=False) if nearest
             else radius_sql(True, False, by_skill, "o.pt", capacity=False))
    order = "c.knn_d > :radius, c.distance_m, c.id" if nearest else "c.distance_m, c.id"
    return f"""
    SELECT o.i AS order_index, c.*
      FROM (SELECT u.i, CAST(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326) AS geography) AS pt
              FROM unnest(CAST(:lats AS float8[]), CAST(:lons AS float8[])) WITH ORDINALITY AS u(lat, lon, i)) o
     CROSS JOIN LATERAL ({inner}) c
     ORDER BY o.i, {order}
    """


TECH_FACTS_SQL = f"""SELECT {TECH_COLUMNS} FROM technicians t
     WHERE t.organization_id = :org AND t.id = ANY(CAST(:ids AS bigint[]))"""
