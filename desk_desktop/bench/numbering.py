"""bench numbering — tickets/s through the ticket service for ONE organization, many writers.

What is measured (PERFORMANCE.md): W writer *processes* (multiprocessing, spawn) create
tickets through ``services.tickets.create_ticket`` — validation, the insert, automation
over ~20 active rules (about half of the tickets get a work order), audit, live-update
NOTIFY and the gapless counter taken last — all in one organization, so every ticket
serializes on the same counter row.

Baseline, in the same run and the same database: the minimal gapless insert written
directly with psycopg — one statement that upserts the counter row and inserts the
ticket row, then COMMIT — in its own organization, with the same number of writer
processes.

Afterwards both organizations are checked for duplicate numbers and gaps. The runs
alternate (baseline, project, baseline, project) and the best of each is compared, so
that a burst of noise on this shared machine does not decide the ratio; every run is
reported in ``details``. The 1/2/4/8/16-writer curve is in ``details.curve``.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from desk_desktop.bench.scratch import scratch_database
from desk_desktop.config import Settings

TARGET_RATIO = 0.6
MAIN_WRITERS = 8
CATEGORIES = ("hvac", "electrical", "plumbing", "network", "hardware", "software", "security", "appliance", "general")
PRIORITIES = ("low", "medium", "high", "urgent")


def _ticket_shape(i: int) -> tuple[str, str]:
    """Cycle through all 36 (category, priority) pairs."""
    return CATEGORIES[i % len(CATEGORIES)], PRIORITIES[(i // len(CATEGORIES)) % len(PRIORITIES)]


def _rule_pairs() -> list[tuple[str, str]]:
    """18 of the 36 (category, priority) pairs get a rule: about half of the tickets match."""
    pairs = [(c, p) for c in CATEGORIES for p in PRIORITIES]
    return pairs[::2]


# --------------------------------------------------------------------------- workers


def _service_writer(url: str, org_id: int, count: int, seed: int, ready, go, out_q) -> None:
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import tickets as svc
    from desk_desktop.services.common import Actor

    engine = make_engine(url, pool_size=1, max_overflow=0)
    factory = UnitOfWorkFactory(engine)
    actor = Actor(organization_id=org_id, name=f"bench writer {seed}")
    errors: list[str] = []
    # Warm-up (not timed): connection, mapper configuration, statement caches.
    svc.create_ticket(uow=factory(), actor=actor, subject="warm-up", category="general", priority="low",
                      customer_ref="BENCH-1")
    ready.put(seed)
    go.wait()
    t0 = time.monotonic()
    done = 0
    for i in range(count):
        category, priority = _ticket_shape(seed * 7919 + i)
        try:
            svc.create_ticket(uow=factory(), actor=actor, subject=f"Bench ticket {seed}-{i}",
                              description="Created by the numbering benchmark.", category=category,
                              priority=priority, customer_ref=f"BENCH-{1 + i % 3}", tags=("bench",))
            done += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
    t1 = time.monotonic()
    engine.dispose()
    out_q.put((seed, t0, t1, done, errors[:5], len(errors)))


_BASELINE_SQL = """
WITH c AS (
    INSERT INTO ticket_number_counters AS k (organization_id, period, next_value)
    VALUES (%(org)s, %(period)s, 2)
    ON CONFLICT (organization_id, period) DO UPDATE SET next_value = k.next_value + 1
    RETURNING k.next_value - 1 AS value
)
INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, subject,
                     description, tags, created_by)
SELECT %(org)s, %(head)s || lpad(c.value::text, 5, '0'), %(customer_id)s, 'Bench customer', %(category)s,
       %(priority)s, %(subject)s, 'Created by the numbering benchmark.', ARRAY['bench'], 'baseline'
FROM c
"""


# The same insert written the textbook way (for context in ``details``): take the counter,
# then insert the ticket, then COMMIT — three round trips, the lock held over two of them.
_BASELINE_COUNTER_SQL = """
INSERT INTO ticket_number_counters AS k (organization_id, period, next_value) VALUES (%(org)s, %(period)s, 2)
ON CONFLICT (organization_id, period) DO UPDATE SET next_value = k.next_value + 1
RETURNING k.next_value - 1
"""
_BASELINE_TICKET_SQL = """
INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, subject,
                     description, tags, created_by)
VALUES (%(org)s, %(number)s, %(customer_id)s, 'Bench customer', %(category)s, %(priority)s, %(subject)s,
        'Created by the numbering benchmark.', ARRAY['bench'], 'baseline')
"""


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _baseline_writer(url: str, org_id: int, customer_id: int, head: str, period: str, count: int, seed: int,
                     ready, go, out_q, two_statements: bool = False) -> None:
    import psycopg

    conn = psycopg.connect(_libpq_url(url), autocommit=False)
    errors: list[str] = []

    def one(i: int) -> None:
        category, priority = _ticket_shape(seed * 7919 + i)
        params = {"org": org_id, "period": period, "head": head, "customer_id": customer_id,
                  "category": category, "priority": priority, "subject": f"Baseline ticket {seed}-{i}"}
        if two_statements:
            value = conn.execute(_BASELINE_COUNTER_SQL, params, prepare=True).fetchone()[0]
            conn.execute(_BASELINE_TICKET_SQL, {**params, "number": f"{head}{value:05d}"}, prepare=True)
        else:
            conn.execute(_BASELINE_SQL, params, prepare=True)
        conn.commit()

    one(-1)  # warm-up, not timed
    ready.put(seed)
    go.wait()
    t0 = time.monotonic()
    done = 0
    for i in range(count):
        try:
            one(i)
            done += 1
        except Exception as exc:  # noqa: BLE001
            conn.rollback()
            errors.append(repr(exc))
    t1 = time.monotonic()
    conn.close()
    out_q.put((seed, t0, t1, done, errors[:5], len(errors)))


def _run_writers(target, args_for, writers: int, **kwargs) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, out_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=target, args=(*args_for(w), ready, go, out_q), kwargs=kwargs, daemon=True)
             for w in range(writers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=300)
        start = time.monotonic()
        go.set()
        results = [out_q.get(timeout=1800) for _ in procs]
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.terminate()
    end = max(r[2] for r in results)
    created = sum(r[3] for r in results)
    errors = sum(r[5] for r in results)
    seconds = end - start
    return {"writers": writers, "tickets": created, "seconds": round(seconds, 3),
            "rate": round(created / seconds, 1) if seconds > 0 else 0.0, "errors": errors,
            "error_samples": [e for r in results for e in r[4]][:5]}


# --------------------------------------------------------------------------- setup and checks


def _setup(url: str) -> dict[str, Any]:
    from desk_desktop.db.models import Customer, Organization
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services.common import Actor

    engine = make_engine(url)
    factory = UnitOfWorkFactory(engine)
    ids: dict[str, int] = {}
    uow = factory()
    with uow:
        for slug in ("bench-service", "bench-baseline", "bench-textbook"):
            org = Organization(name=slug, slug=slug, timezone="UTC")
            uow.session.add(org)
            uow.session.flush()
            ids[slug] = org.id
            for n in range(1, 4):
                c = Customer(organization_id=org.id, ref=f"BENCH-{n}", name=f"Bench customer {n}",
                             customer_type=("business", "residential", "enterprise")[n - 1])
                uow.session.add(c)
                uow.session.flush()
                ids.setdefault(f"{slug}-customer", c.id)
        uow.commit()
    actor = Actor(organization_id=ids["bench-service"], name="bench admin", is_admin=True)
    rules = _create_rules(factory, actor)
    engine.dispose()
    return {"service_org": ids["bench-service"], "baseline_org": ids["bench-baseline"],
            "baseline_customer": ids["bench-baseline-customer"], "textbook_org": ids["bench-textbook"],
            "textbook_customer": ids["bench-textbook-customer"], "rules": rules}


def _create_rules(factory, actor) -> int:
    from desk_desktop.services.rules import RuleDraft, create_rule

    pairs = _rule_pairs()
    specs = [dict(name=f"Bench {c}/{p}", trigger_categories=(c,), trigger_priorities=(p,), wo_type="repair",
                  wo_priority=p, auto_assign=(i % 2 == 0), assignment_logic="workload")
             for i, (c, p) in enumerate(pairs)]
    # Two more active rules that never match (tags no bench ticket has): 20 in all.
    specs += [dict(name=f"Bench vip {n}", trigger_tags=(f"vip-{n}",), wo_type="inspection", wo_priority="high")
              for n in range(2)]
    for spec in specs:
        create_rule(uow=factory(), actor=actor, draft=RuleDraft(**spec))
    return len(specs)


def _check_numbers(url: str, org_id: int) -> dict[str, int]:
    """Duplicates and gaps per counter period of one organization."""
    from desk_desktop.db.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            numbers = [r[0] for r in conn.execute(
                text("SELECT number FROM tickets WHERE organization_id = :o"), {"o": org_id})]
            orders = conn.execute(text("SELECT count(*) FROM work_orders WHERE organization_id = :o"),
                                  {"o": org_id}).scalar_one()
    finally:
        engine.dispose()
    by_head: dict[str, list[int]] = {}
    for n in numbers:
        m = re.fullmatch(r"(.*\D)(\d+)", n)
        if m is None:
            by_head.setdefault("?", []).append(0)
            continue
        by_head.setdefault(m.group(1), []).append(int(m.group(2)))
    duplicates = len(numbers) - len(set(numbers))
    gaps = 0
    for values in by_head.values():
        distinct = set(values)
        gaps += (max(distinct) - len(distinct)) if distinct else 0
    return {"tickets": len(numbers), "duplicates": duplicates, "gaps": gaps, "work_orders": int(orders)}


# --------------------------------------------------------------------------- run


def run(settings: Settings, args) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    main_per_writer = 100 if quick else 500
    curve_total = 400 if quick else 1600
    curve_writers = (1, 2, 4, 8, 16)
    now = datetime.now(UTC)
    head, period = f"TK-{now:%Y}-", f"{now:%Y}"
    runs: list[dict[str, Any]] = []
    with scratch_database(settings, prefix="bench_numbering") as url:
        setup = _setup(url)

        def service_args(writers: int, per_writer: int):
            return lambda w: (url, setup["service_org"], per_writer, w)

        def baseline_args(writers: int, per_writer: int):
            return lambda w: (url, setup["baseline_org"], setup["baseline_customer"], head, period, per_writer, w)

        for _ in range(2):
            b = _run_writers(_baseline_writer, baseline_args(MAIN_WRITERS, main_per_writer), MAIN_WRITERS)
            runs.append({"kind": "baseline", **b})
            s = _run_writers(_service_writer, service_args(MAIN_WRITERS, main_per_writer), MAIN_WRITERS)
            runs.append({"kind": "service", **s})

        # Context only (not the baseline of the ratio): the textbook three-round-trip version,
        # in a third organization.
        textbook = _run_writers(_baseline_writer, lambda w: (url, setup["textbook_org"], setup["textbook_customer"],
                                                             head, period, main_per_writer, w), MAIN_WRITERS,
                                two_statements=True)

        curve = []
        for writers in curve_writers:
            per = max(1, curve_total // writers)
            b = _run_writers(_baseline_writer, baseline_args(writers, per), writers)
            s = _run_writers(_service_writer, service_args(writers, per), writers)
            curve.append({"writers": writers, "service": s["rate"], "baseline": b["rate"],
                          "ratio": round(s["rate"] / b["rate"], 3) if b["rate"] else None,
                          "errors": s["errors"] + b["errors"]})

        service_check = _check_numbers(url, setup["service_org"])
        baseline_check = _check_numbers(url, setup["baseline_org"])
        textbook_check = _check_numbers(url, setup["textbook_org"])

    best_service = max(r["rate"] for r in runs if r["kind"] == "service")
    best_baseline = max(r["rate"] for r in runs if r["kind"] == "baseline")
    ratio = round(best_service / best_baseline, 3) if best_baseline else 0.0
    errors = sum(r["errors"] for r in runs) + sum(c["errors"] for c in curve) + textbook["errors"]
    ok = (ratio >= TARGET_RATIO and service_check["duplicates"] == 0 and service_check["gaps"] == 0
          and baseline_check["duplicates"] == 0 and baseline_check["gaps"] == 0 and errors == 0)
    return {
        "name": "numbering",
        "value": best_service,
        "unit": "tickets/s",
        "baseline": best_baseline,
        "ratio": ratio,
        "target": f">= {TARGET_RATIO} of baseline; 0 duplicates; 0 gaps",
        "ok": ok,
        "details": {
            "writers": MAIN_WRITERS,
            "tickets": main_per_writer * MAIN_WRITERS,
            "rules": setup["rules"],
            "duplicates": service_check["duplicates"],
            "gaps": service_check["gaps"],
            "errors": errors,
            "service_org": service_check,
            "baseline_org": baseline_check,
            "work_order_share": round(service_check["work_orders"] / service_check["tickets"], 3)
            if service_check["tickets"] else None,
            "runs": runs,
            "textbook_baseline": {"what": "counter upsert, then ticket insert, then COMMIT (3 round trips)",
                                  "rate": textbook["rate"], "writers": MAIN_WRITERS,
                                  "service_ratio": round(best_service / textbook["rate"], 3)
                                  if textbook["rate"] else None, **textbook_check},
            "curve": curve,
            "quick": quick,
        },
    }
