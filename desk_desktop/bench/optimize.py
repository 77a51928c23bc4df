"""bench optimize — a generated day planned by the product's greedy strategy and by Optimize day.

The day (a Tuesday in a city of about 40 × 33 km, organization time America/Chicago): 50
technicians (four of the twelve skills each, 08:00–17:00, at most 12 open orders, every tenth
away 12:00–15:00) and 400 open orders (one required skill each, 30–90 minutes, all
priorities, a booked window of two or three hours on a third of them). Two plans of it:

* **greedy** — the product's ``nearest`` strategy order by order: the assign job
  (``assign_pending``) with automatic scheduling from 08:00, as it runs every day;
* **optimized** — ``optimize_day`` (VROOM in a child process, the default 10 s budget), read
  from the same orders before the greedy run.

Both are measured the same way from the day's problem (``bench/plancheck.py``, which knows
nothing of either solver): driving kilometres (road factor 1.3 at 40 km/h), orders left
without a visit that day, and every rule a plan breaks (working hours, absences, overlaps
with the drive between visits, skills, booked windows, capacity). Then a reference: the same
problem solved by OR-Tools for 120 s (``bench/reference_plan.py``), and the optimizer's
driving as a ratio of it.

Target: optimized driving <= 0.75 × greedy; no more orders without a visit than greedy;
0 violations; solve <= 10 s; driving <= 1.05 × the reference's (serving as many orders).
"""

from __future__ import annotations

import json
import random
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from desk_desktop.bench.scratch import scratch_database
from desk_desktop.config import Settings

TZ = ZoneInfo("America/Chicago")
DAY = date(2026, 11, 24)  # a Tuesday
BOX = (41.70, 42.06, -87.95, -87.55)  # lat0, lat1, lon0, lon1
TECHNICIANS, ORDERS = 50, 400
BUDGET_S = 10.0
REFERENCE_S = 120.0
TARGET_KM_RATIO = 0.75
TARGET_REFERENCE_RATIO = 1.05
HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
PRIORITIES = (("low", 30), ("medium", 40), ("high", 20), ("urgent", 10))
DURATIONS = ((30, 30), (45, 30), (60, 25), (90, 15))


def local(h: int, m: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ)


def _generate(conn, rnd: random.Random) -> int:
    """The organization, its technicians and its open orders (all waiting for a technician)."""
    lat0, lat1, lon0, lon1 = BOX
    org = conn.execute(text("INSERT INTO organizations (name, slug, timezone) VALUES ('Bench', 'bench', "
                            "'America/Chicago') RETURNING id")).scalar_one()
    skills = conn.execute(text("SELECT key FROM skills WHERE organization_id = :o ORDER BY position"),
                          {"o": org}).scalars().all()[:12]
    techs = []
    for n in range(TECHNICIANS):
        tid = conn.execute(text(
            "INSERT INTO technicians (organization_id, name, email, home_base, max_open_work_orders, working_hours) "
            "VALUES (:o, :name, :email, CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), 12, "
            "CAST(:hours AS jsonb)) RETURNING id"),
            {"o": org, "name": f"Tech {n + 1:02d}", "email": f"tech{n + 1}@bench.example",
             "lat": rnd.uniform(lat0, lat1), "lon": rnd.uniform(lon0, lon1), "hours": json.dumps(HOURS)}
        ).scalar_one()
        techs.append(tid)
        conn.execute(text("INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency) "
                          "VALUES (:o, :t, :s, 3)"), [{"o": org, "t": tid, "s": s} for s in rnd.sample(skills, 4)])
    conn.execute(text("INSERT INTO technician_absences (organization_id, technician_id, starts_at, ends_at, reason, "
                      "created_by) VALUES (:o, :t, :a, :b, 'Training', 'bench')"),
                 [{"o": org, "t": t, "a": local(12), "b": local(15)} for t in techs[::10]])
    customer = conn.execute(text("INSERT INTO customers (organization_id, ref, name, customer_type, email) VALUES "
                                 "(:o, 'C1', 'Bench customer', 'business', 'c1@bench.example') RETURNING id"),
                            {"o": org}).scalar_one()
    rows = []
    for n in range(ORDERS):
        priority = rnd.choices([p for p, _ in PRIORITIES], [w for _, w in PRIORITIES])[0]
        minutes = rnd.choices([d for d, _ in DURATIONS], [w for _, w in DURATIONS])[0]
        opens = local(rnd.randint(8, 14))
        window = (opens, opens + timedelta(hours=rnd.choice((2, 3)))) if n % 3 == 0 else (None, None)
        rows.append({"o": org, "c": customer, "number": f"BO-{n + 1:04d}", "subject": f"Bench order {n + 1}",
                     "lat": rnd.uniform(lat0, lat1),
                     "lon": rnd.uniform(lon0, lon1), "p": priority, "d": minutes, "skill": rnd.choice(skills),
                     "ws": window[0], "we": window[1], "created": local(7, day=DAY - timedelta(days=1))})
    conn.execute(text("""
        WITH t AS (
          INSERT INTO tickets (organization_id, number, customer_id, customer_name, location, category, priority,
                               subject, created_by, created_at)
          VALUES (:o, :number, :c, 'Bench customer', CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography),
                  'general', :p, :subject, 'bench', :created)
          RETURNING id)
        INSERT INTO work_orders (organization_id, source_ticket_id, source, work_type, priority, status,
            duration_minutes, assignment_logic, required_skills, auto_schedule, schedule_offset_minutes,
            needs_assignment, next_assign_at, window_start, window_end, created_at)
        SELECT :o, t.id, 'manual', 'repair', :p, 'unassigned', :d, 'nearest', ARRAY[CAST(:skill AS text)], true, 0,
               true, :created, :ws, :we, :created FROM t"""), rows)
    return org


def _greedy(factory, org: int) -> tuple[list, float]:
    """The assign job, batch after batch, from 08:00 of the day; the day's visits it booked."""
    from desk_desktop.domain.dayplan import PlannedVisit
    from desk_desktop.services.assignment import assign_pending

    began = time.perf_counter()
    while True:
        r = assign_pending(uow_factory=factory, now=local(8), limit=200)
        if r.assigned + r.unassigned + r.errors == 0:
            break
    seconds = time.perf_counter() - began
    with factory() as uow:
        rows = uow.session.execute(text(
            "SELECT id, technician_id, scheduled_start, scheduled_end FROM work_orders WHERE organization_id = :o "
            "AND technician_id IS NOT NULL AND scheduled_start >= :a AND scheduled_start < :b"),
            {"o": org, "a": local(0), "b": local(0, day=DAY + timedelta(days=1))}).all()
    return [PlannedVisit(r.id, r.technician_id, r.scheduled_start.astimezone(TZ), r.scheduled_end.astimezone(TZ))
            for r in rows], seconds


def _measured(problem, visits, unplaced: int, extra: dict) -> dict[str, Any]:
    from desk_desktop.bench.plancheck import driving_km, violations

    broken = violations(problem, visits)
    return {"driving_km": round(driving_km(problem, visits), 1), "orders_served": len(visits),
            "orders_without_a_visit": unplaced, "violations": len(broken), "violation_examples": broken[:5], **extra}


def run(settings: Settings, args) -> dict[str, Any]:
    from desk_desktop.bench.reference_plan import solve_reference
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services.common import Actor
    from desk_desktop.services.dayplan import optimize_day

    quick = bool(getattr(args, "quick", False))
    reference_s = 20.0 if quick else REFERENCE_S
    with scratch_database(settings, prefix="bench_optimize") as url:
        engine = make_engine(url, pool_size=2)
        factory = UnitOfWorkFactory(engine)
        with engine.begin() as conn:
            org = _generate(conn, random.Random(20))
        actor = Actor.system(org, "bench")
        began = time.perf_counter()
        proposal = optimize_day(uow=factory(), actor=actor, day=DAY, seconds=BUDGET_S, speed_kmh=40.0,
                                road_factor=1.3, now=local(20, day=DAY - timedelta(days=1)))
        total_s = time.perf_counter() - began
        problem = proposal.day.problem
        optimized_visits = list(proposal.plan.visits)
        optimized = _measured(problem, optimized_visits, ORDERS - len(optimized_visits),
                              {"solve_seconds": round(proposal.solve_seconds, 2),
                               "read_and_solve_seconds": round(total_s, 2)})
        greedy_visits, greedy_s = _greedy(factory, org)
        greedy = _measured(problem, greedy_visits, ORDERS - len(greedy_visits), {"seconds": round(greedy_s, 2)})
        engine.dispose()
    began = time.perf_counter()
    ref_plan = solve_reference(problem, seconds=reference_s)
    reference = _measured(problem, list(ref_plan.visits), ORDERS - len(ref_plan.visits),
                          {"solver": "OR-Tools routing (guided local search)",
                           "seconds": round(time.perf_counter() - began, 1)})
    ratio = round(optimized["driving_km"] / greedy["driving_km"], 3) if greedy["driving_km"] else None
    to_reference = round(optimized["driving_km"] / reference["driving_km"], 3) if reference["driving_km"] else None
    ok = (ratio is not None and ratio <= TARGET_KM_RATIO
          and optimized["orders_without_a_visit"] <= greedy["orders_without_a_visit"]
          and optimized["violations"] == 0 and optimized["solve_seconds"] <= BUDGET_S
          and to_reference is not None and to_reference <= TARGET_REFERENCE_RATIO
          and optimized["orders_served"] >= reference["orders_served"])
    return {
        "name": "optimize",
        "value": ratio,
        "unit": "optimized driving / greedy driving",
        "baseline": greedy["driving_km"],
        "ratio": ratio,
        "target": f"<= {TARGET_KM_RATIO} x greedy km, no more orders without a visit, 0 violations, solve <= "
                  f"{BUDGET_S:g} s, <= {TARGET_REFERENCE_RATIO} x the reference's km serving as many",
        "ok": ok,
        "details": {"day": DAY.isoformat(), "technicians": TECHNICIANS, "orders": ORDERS, "greedy": greedy,
                    "optimized": optimized, "reference": reference, "optimized_to_reference": to_reference,
                    **({"note": f"--quick: reference run of {reference_s:g} s"} if quick else {})},
    }
