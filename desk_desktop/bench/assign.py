"""bench assign — work orders/s assigned AND scheduled by the ``assign`` job, per strategy.

For each of the four strategies: 10,000 pending work orders (each from a ticket with a
location, created by a rule of that strategy with one required skill, auto-schedule with
an offset, notify technician and customer) are assigned by calling
``services.assignment.assign_pending(limit=200)`` in a loop, exactly as the job does,
until none is left. Every assignment does the real work: the candidate query, the ranking,
scheduling into the technician's working hours, the explanation, the audit row, the
notification outbox rows (H3's ``enqueue_work_order_event``) and the round-robin pointer.
The job decides each claimed batch (200 orders) against one ``Batch`` and writes it every
50 orders (``services/assignment/batch.py``); the rows it writes are checked below.

Data: 2,000 technicians over a 12° × 8° box (about France), each skill of the
organization's catalog (its defaults) with probability 0.3, max 50 open orders,
Monday–Friday 08:00–17:00; sites uniformly in the same box; radius 100 km. Orders/s = 10,000 / wall time of the loop.

Time off is in force (issue 18): every tenth technician is away from 10:00 to 14:00 on the
bench's day (the orders ask for 11:00); the rows are checked for visits inside an absence
(none allowed). The four strategies run with these absences (the headline) and again
without them, for comparison; each must reach the target both ways.

The no-overlap rule is in force (issue 18): each order takes its technician's first free
slot (all orders ask for the same start, so a technician's visits follow each other over
the days) and the database's exclusion constraint checks every write; the rows are checked
for overlapping visits of one technician (none allowed). For comparison (not the headline):
nearest without notifications, and nearest without the exclusion constraint.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from desk_desktop.bench.nearest import LAT0, LAT1, LON0, LON1
from desk_desktop.bench.scratch import scratch_database
from desk_desktop.config import Settings

TARGET = 500.0
STRATEGIES = ("nearest", "skill_match", "workload", "round_robin")
HOURS = '{"mon":[["08:00","17:00"]],"tue":[["08:00","17:00"]],"wed":[["08:00","17:00"]],' \
        '"thu":[["08:00","17:00"]],"fri":[["08:00","17:00"]]}'


def _setup(conn, org_id: int, n_techs: int) -> None:
    conn.execute(text("""
        INSERT INTO technicians (organization_id, name, email, home_base, max_open_work_orders, working_hours)
        SELECT :org, 'Tech ' || g, 'tech' || g || '@bench.example',
               CAST(ST_SetSRID(ST_MakePoint(:lon0 + random() * (:lon1 - :lon0), :lat0 + random() * (:lat1 - :lat0)),
                               4326) AS geography), 50, CAST(:hours AS jsonb)
          FROM generate_series(1, :n) g
    """), {"org": org_id, "n": n_techs, "lat0": LAT0, "lat1": LAT1, "lon0": LON0, "lon1": LON1, "hours": HOURS})
    conn.execute(text("""
        INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency)
        SELECT :org, t.id, s.key, 1 + floor(random() * 5)::int
          FROM technicians t JOIN skills s ON s.organization_id = t.organization_id
         WHERE t.organization_id = :org AND random() < 0.3
    """), {"org": org_id})
    conn.execute(text("""
        INSERT INTO customers (organization_id, ref, name, customer_type, email)
        SELECT :org, 'C' || g, 'Customer ' || g, 'business', 'c' || g || '@bench.example'
          FROM generate_series(1, 100) g
    """), {"org": org_id})


def _pending_orders(conn, org_id: int, strategy: str, n: int, now: datetime, notify: bool = True,
                    name: str | None = None, prefix: str | None = None) -> int:
    rule_id = conn.execute(text("""
        INSERT INTO ticket_work_order_rules (organization_id, name, priority, wo_type, wo_priority, wo_duration_minutes,
            auto_assign, assignment_logic, required_skills, auto_schedule, schedule_offset_minutes,
            notify_customer, notify_technician)
        VALUES (:org, :name, 0, 'repair', 'high', 90, true, :logic, ARRAY['hvac'], true, 120, :notify, :notify)
        RETURNING id
    """), {"org": org_id, "name": name or f"bench {strategy}", "logic": strategy, "notify": notify}).scalar_one()
    conn.execute(text("""
        WITH t AS (
          INSERT INTO tickets (organization_id, number, customer_id, customer_name, location, category, priority,
                               subject, created_by)
          SELECT :org, :prefix || g, c.id, c.name,
                 CAST(ST_SetSRID(ST_MakePoint(:lon0 + 0.5 + random() * (:lon1 - :lon0 - 1),
                                              :lat0 + 0.5 + random() * (:lat1 - :lat0 - 1)), 4326) AS geography),
                 'hvac', 'high', 'Bench ' || g, 'bench'
            FROM generate_series(1, :n) g
            JOIN customers c ON c.organization_id = :org AND c.ref = 'C' || (1 + g % 100)
          RETURNING id
        )
        INSERT INTO work_orders (organization_id, source_ticket_id, source, rule_id, work_type, priority, status,
            duration_minutes, assignment_logic, required_skills, auto_schedule, schedule_offset_minutes,
            notify_customer, notify_technician, needs_assignment, next_assign_at, scheduled_start, scheduled_end)
        SELECT :org, t.id, 'auto_rule', :rule, 'repair', 'high', 'unassigned', 90, :logic, ARRAY['hvac'], true, 120,
               :notify, :notify, true, :now, CAST(:now AS timestamptz) + interval '120 minutes',
               CAST(:now AS timestamptz) + interval '210 minutes'
          FROM t
    """), {"org": org_id, "n": n, "prefix": prefix or f"B{strategy[:2].upper()}{'' if notify else 'Q'}-", "rule": rule_id,
           "logic": strategy, "now": now, "lat0": LAT0, "lat1": LAT1, "lon0": LON0, "lon1": LON1,
           "notify": notify})
    return rule_id


def _close_all(conn, org_id: int) -> None:
    """Between strategies: finish the previous run's orders so every run starts from the
    same technician load (zero open orders)."""
    conn.execute(text("UPDATE work_orders SET status = 'completed', needs_assignment = false "
                      "WHERE organization_id = :org"), {"org": org_id})


def _drain(factory, now: datetime) -> tuple[int, int, int, int, float]:
    """Run the assign job until nothing is due: (assigned, left unassigned, errors, batches, seconds)."""
    from desk_desktop.services.assignment import assign_pending

    assigned = unassigned = errors = batches = 0
    t0 = time.perf_counter()
    while True:
        r = assign_pending(uow_factory=factory, now=now, limit=200)
        batches += 1
        assigned += r.assigned
        unassigned += r.unassigned
        errors += r.errors
        if r.assigned + r.unassigned + r.errors == 0:
            break
    return assigned, unassigned, errors, batches, time.perf_counter() - t0


def _absences(conn, org_id: int, now: datetime) -> int:
    """Every tenth technician (at random) away from 10:00 to 14:00 on the bench's day: the
    orders ask for 11:00, so those who win one are scheduled after their absence."""
    return conn.execute(text("""
        INSERT INTO technician_absences (organization_id, technician_id, starts_at, ends_at, reason, created_by)
        SELECT :org, id, CAST(:now AS timestamptz) + interval '1 hour', CAST(:now AS timestamptz) + interval '5 hours',
               'Training', 'bench'
          FROM technicians WHERE organization_id = :org AND random() < 0.1
    """), {"org": org_id, "now": now}).rowcount


_CHECK = """
    SELECT count(*) FILTER (WHERE w.technician_id IS NOT NULL) AS assigned,
           count(*) FILTER (WHERE w.scheduled_start IS NOT NULL AND w.status = 'scheduled') AS scheduled,
           count(*) FILTER (WHERE extract(isodow FROM w.scheduled_start) BETWEEN 1 AND 5
                              AND w.scheduled_start::time >= '08:00'
                              AND w.scheduled_end::time <= '17:00') AS in_hours,
           (SELECT count(*) FROM notifications n WHERE n.organization_id = :org
              AND n.work_order_id IN (SELECT id FROM work_orders WHERE rule_id = :rule)) AS notifications,
           (SELECT count(*) FROM audit_log a WHERE a.organization_id = :org
              AND a.action = 'work_order.assigned'
              AND a.entity_id IN (SELECT id FROM work_orders WHERE rule_id = :rule)) AS audits,
           (SELECT max(c) - min(c) FROM (SELECT count(*) c FROM work_orders w2
              WHERE w2.rule_id = :rule AND w2.technician_id IS NOT NULL
              GROUP BY w2.technician_id) x) AS spread,
           (SELECT count(*) FROM work_orders a JOIN work_orders b
                ON b.technician_id = a.technician_id AND b.id > a.id AND b.rule_id = :rule
               AND tstzrange(b.scheduled_start, b.scheduled_end)
                   && tstzrange(a.scheduled_start, a.scheduled_end)
             WHERE a.rule_id = :rule) AS overlapping,
           (SELECT count(*) FROM work_orders a JOIN technician_absences x ON x.technician_id = a.technician_id
               AND tstzrange(x.starts_at, x.ends_at) && tstzrange(a.scheduled_start, a.scheduled_end)
             WHERE a.rule_id = :rule) AS inside_absences,
           (SELECT count(*) FROM work_orders a WHERE a.rule_id = :rule AND a.technician_id IN
                (SELECT technician_id FROM technician_absences)) AS to_absent_technicians
      FROM work_orders w WHERE w.rule_id = :rule
"""


def _one_strategy(engine, factory, org_id: int, strategy: str, n_orders: int, now: datetime,
                  label: str) -> dict[str, Any]:
    """Assign one strategy's pending orders (from zero load) and check the rows written."""
    with engine.begin() as conn:
        _close_all(conn, org_id)
        rule = _pending_orders(conn, org_id, strategy, n_orders, now, name=f"bench {strategy} {label}",
                               prefix=f"B{strategy[:2].upper()}{label[:1].upper()}-")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Every strategy starts from the same state: the reset above left the previous
        # run's 10,000 orders as dead row versions, which the next run would otherwise
        # step over in every load count (a live server's autovacuum removes them).
        conn.execute(text("VACUUM ANALYZE"))
    assigned, unassigned, errors, batches, elapsed = _drain(factory, now)
    with engine.connect() as conn:
        check = conn.execute(text(_CHECK), {"org": org_id, "rule": rule}).one()
    return {
        "orders_per_s": round(n_orders / elapsed, 1),
        "seconds": round(elapsed, 2),
        "assigned": assigned,
        "left_unassigned": unassigned,
        "errors": errors,
        "batches": batches,
        "verified_assigned": check.assigned,
        "verified_scheduled_in_working_hours": check.in_hours,
        "notification_rows": check.notifications,
        "audit_rows": check.audits,
        "max_minus_min_orders_per_technician": check.spread,
        "verified_overlapping_visits": check.overlapping,
        "verified_visits_inside_absences": check.inside_absences,
        "orders_of_technicians_with_an_absence": check.to_absent_technicians,
    }


def _sound(d: dict[str, Any]) -> bool:
    return (d["orders_per_s"] >= TARGET and d["errors"] == 0 and d["verified_overlapping_visits"] == 0
            and d["verified_visits_inside_absences"] == 0)


def run(settings: Settings, args) -> dict[str, Any]:
    from desk_desktop.db.models.workorders import NO_OVERLAP
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    quick = bool(getattr(args, "quick", False))
    n_orders = 1_000 if quick else 10_000
    n_techs = 2_000
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday morning
    per_strategy: dict[str, Any] = {}
    without: dict[str, Any] = {}
    with scratch_database(settings, prefix="bench_assign") as url:
        engine = make_engine(url, pool_size=2)
        factory = UnitOfWorkFactory(engine)
        with engine.begin() as conn:
            org_id = conn.execute(text("INSERT INTO organizations (name, slug) VALUES ('Bench', 'bench') "
                                       "RETURNING id")).scalar_one()
            _setup(conn, org_id, n_techs)
            away = _absences(conn, org_id, now)
        for strategy in STRATEGIES:  # the headline: with absences
            per_strategy[strategy] = _one_strategy(engine, factory, org_id, strategy, n_orders, now, "away")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM technician_absences WHERE organization_id = :org"), {"org": org_id})
        for strategy in STRATEGIES:  # the same without absences, for comparison
            without[strategy] = _one_strategy(engine, factory, org_id, strategy, n_orders, now, "plain")
        # For comparison only (not the headline): the same nearest run with the rule's
        # notification flags off, i.e. without the outbox rows.
        with engine.begin() as conn:
            _close_all(conn, org_id)
            _pending_orders(conn, org_id, "nearest", n_orders, now, notify=False, name="bench quiet nearest")
        quiet = round(n_orders / _drain(factory, now)[4], 1)
        # For comparison only: the same nearest run without the database's half of the
        # no-overlap rule (the exclusion constraint dropped; the first-free-slot search stays).
        with engine.begin() as conn:
            _close_all(conn, org_id)
            conn.execute(text(f"ALTER TABLE work_orders DROP CONSTRAINT {NO_OVERLAP}"))
            _pending_orders(conn, org_id, "nearest", n_orders, now, name="bench nearest, no constraint",
                            prefix="BNEX-")
        unconstrained = round(n_orders / _drain(factory, now)[4], 1)
        engine.dispose()
    slowest = min(per_strategy.values(), key=lambda d: d["orders_per_s"])
    value = slowest["orders_per_s"]
    ok = all(_sound(d) for d in [*per_strategy.values(), *without.values()])
    return {
        "name": "assign",
        "value": value,
        "unit": "orders/s (slowest strategy)",
        "baseline": None,
        "ratio": None,
        "target": f">= {TARGET:g} orders/s for each strategy, with and without absences",
        "ok": ok,
        "details": {"orders_per_strategy": n_orders, "technicians": n_techs, "radius_km": 100,
                    "technicians_with_an_absence": away, "strategies": per_strategy,
                    "strategies_without_absences": {k: d["orders_per_s"] for k, d in without.items()},
                    "without_absences_sound": all(_sound(d) for d in without.values()),
                    "nearest_without_notifications_orders_per_s": quiet,
                    "nearest_without_the_exclusion_constraint_orders_per_s": unconstrained,
                    "load_average_1min_at_end": round(__import__("os").getloadavg()[0], 1), **({"note": "--quick: 1,000 orders per strategy"} if quick else {})},
    }
