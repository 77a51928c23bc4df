"""bench rules — rule evaluation for one ticket against 1,000 active rules; replay of
100,000 past tickets.

1. Per ticket: ``domain.rules.find_match`` over the organization's 1,000 active rules in
   evaluation order — the function ``automation.on_ticket_created`` runs for every new
   ticket. Measured over 10,000 random tickets (p50, p99, mean) and separately for the
   worst case, a ticket no rule matches (all 1,000 rules tried). Reported alongside, not
   as the headline: the whole ``on_ticket_created`` step through the service (loading the
   1,000 rules from the database, matching, inserting the work order and its audit row).
2. Replay: ``services.rules.replay`` over 100,000 tickets of the last 30 days in a scratch
   database, with the same 1,000 rules — wall time of the service call (query, streaming,
   matching, counting). It must write nothing: table counts are compared before/after.

Rules are random: each has 1-3 categories (never "general"), 1-2 priorities or none, 0-2 of 40 tags,
0-1 customer types (never all empty, so there is no catch-all).
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from desk_desktop.bench.scratch import scratch_database
from desk_desktop.config import Settings
from desk_desktop.domain.enums import Priority, values
from desk_desktop.domain.rules import MatchRule, TicketFacts, find_match, order_rules

# The keys every organization's catalogs start with (migration 0008's defaults).
CATS = ["hvac", "electrical", "plumbing", "network", "hardware", "software", "security", "appliance", "general"]
CTYPES = ["residential", "business", "enterprise", "government"]
PRIS = values(Priority)
TAGS = [f"tag{i}" for i in range(40)]


def _random_rule(rng: random.Random, i: int) -> dict:
    while True:
        r = {
            "name": f"rule {i}",
            "priority": rng.randint(0, 500),
            # Never "general": a general ticket is the worst case (no rule matches, all are tried).
            "trigger_categories": rng.sample([c for c in CATS if c != "general"], rng.choice([1, 1, 2, 3])),
            "trigger_priorities": rng.sample(PRIS, rng.choice([0, 1, 2])),
            "trigger_tags": rng.sample(TAGS, rng.choice([0, 0, 1, 2])),
            "trigger_customer_types": rng.sample(CTYPES, rng.choice([0, 0, 1])),
        }
        if any(r[k] for k in ("trigger_categories", "trigger_priorities", "trigger_tags", "trigger_customer_types")):
            return r


def _random_facts(rng: random.Random) -> TicketFacts:
    return TicketFacts(category=rng.choice(CATS), priority=rng.choice(PRIS),
                       tags=tuple(rng.sample(TAGS, rng.choice([0, 1, 2, 3]))), customer_type=rng.choice(CTYPES))


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run(settings: Settings, args) -> dict[str, Any]:
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import rules as rules_svc
    from desk_desktop.services.common import Actor

    quick = bool(getattr(args, "quick", False))
    n_rules = 1000
    n_tickets = 20_000 if quick else 100_000
    rng = random.Random(4242)
    rule_defs = [_random_rule(rng, i) for i in range(n_rules)]

    # ---- 1. per-ticket evaluation (pure; the same function the service runs)
    ordered = order_rules(MatchRule.build(id=i + 1, name=r["name"], priority=r["priority"],
                                          categories=r["trigger_categories"], priorities=r["trigger_priorities"],
                                          tags=r["trigger_tags"], customer_types=r["trigger_customer_types"])
                          for i, r in enumerate(rule_defs))
    samples = [_random_facts(rng) for _ in range(10_000)]
    for f in samples[:500]:
        find_match(ordered, f)  # warm-up
    times, matched = [], 0
    for f in samples:
        t0 = time.perf_counter()
        m = find_match(ordered, f)
        times.append((time.perf_counter() - t0) * 1000.0)
        matched += m is not None
    nomatch = TicketFacts(category="general", priority="low", tags=("no-such-tag",), customer_type="unknown")
    if find_match(ordered, nomatch) is not None:
        raise RuntimeError("the worst-case ticket unexpectedly matches a rule")
    worst = []
    for _ in range(2000):
        t0 = time.perf_counter()
        find_match(ordered, nomatch)
        worst.append((time.perf_counter() - t0) * 1000.0)
    rules_tried_worst = sum(1 for r in ordered if r.active)

    details: dict[str, Any] = {
        "rules": n_rules,
        "eval_p50_ms": round(statistics.median(times), 4),
        "eval_p99_ms": round(_pct(times, 0.99), 4),
        "eval_mean_ms": round(statistics.fmean(times), 4),
        "eval_tickets": len(samples),
        "eval_matched_share": round(matched / len(samples), 3),
        "worst_case_no_match_p50_ms": round(statistics.median(worst), 4),
        "worst_case_no_match_p99_ms": round(_pct(worst, 0.99), 4),
        "worst_case_rules_tried": rules_tried_worst,
    }

    # ---- 2. replay over the tickets of the last 30 days, and the service step per ticket
    now = datetime.now(UTC)
    with scratch_database(settings, prefix="bench_rules") as url:
        engine = make_engine(url, pool_size=2)
        factory = UnitOfWorkFactory(engine)
        with engine.begin() as conn:
            org_id = conn.execute(text("INSERT INTO organizations (name, slug) VALUES ('Bench', 'bench') "
                                       "RETURNING id")).scalar_one()
            for ctype in CTYPES:
                conn.execute(text("INSERT INTO customers (organization_id, ref, name, customer_type) "
                                  "VALUES (:o, :r, :n, :t)"), {"o": org_id, "r": ctype, "n": ctype.title(),
                                                                "t": ctype})
            conn.execute(text("""
                INSERT INTO ticket_work_order_rules (organization_id, name, priority, trigger_categories,
                    trigger_priorities, trigger_tags, trigger_customer_types, wo_type, wo_priority)
                VALUES (:o, :name, :priority, :c, :p, :t, :ct, 'repair', 'medium')
            """), [{"o": org_id, "name": r["name"], "priority": r["priority"], "c": r["trigger_categories"],
                    "p": r["trigger_priorities"], "t": r["trigger_tags"], "ct": r["trigger_customer_types"]}
                   for r in rule_defs])
            conn.execute(text("""
                INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, tags,
                                     subject, created_by, created_at)
                SELECT :o, 'TK-' || g, c.id, c.name,
                       (CAST(:cats AS text[]))[1 + (g * 7) % 9], (CAST(:pris AS text[]))[1 + (g * 13) % 4],
                       CASE WHEN g % 3 = 0 THEN ARRAY[]::text[]
                            ELSE ARRAY['tag' || (g * 31) % 40, 'tag' || (g * 17) % 50] END,
                       'Bench ticket ' || g, 'bench', :now - (g % 29 + 0.5) * interval '1 day'
                  FROM generate_series(1, :n) g
                  JOIN customers c ON c.organization_id = :o AND c.ref = (CAST(:ctypes AS text[]))[1 + g % 4]
            """), {"o": org_id, "n": n_tickets, "cats": CATS, "pris": PRIS, "ctypes": CTYPES, "now": now})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))

        def counts():
            with engine.connect() as conn:
                return tuple(conn.execute(text(
                    "SELECT (SELECT count(*) FROM work_orders), (SELECT count(*) FROM audit_log), "
                    "(SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_work_order_rules)")).one())

        actor = Actor(organization_id=org_id, name="bench", is_admin=True)
        before = counts()
        rules_svc.replay(uow=factory(), actor=actor, days=30, now=now)  # warm-up (caches, plan)
        replay_times = []
        for _ in range(1 if not quick else 2):
            t0 = time.perf_counter()
            result = rules_svc.replay(uow=factory(), actor=actor, days=30, now=now)
            replay_times.append(time.perf_counter() - t0)
        after = counts()
        replay_s = min(replay_times)
        details.update({
            "replay_tickets": result.tickets_considered,
            "replay_seconds": round(replay_s, 2),
            "replay_tickets_per_s": round(result.tickets_considered / replay_s),
            "replay_unmatched": result.unmatched,
            "replay_rules_with_orders": sum(1 for r in result.per_rule if r.would_create),
            "replay_wrote_nothing": before == after,
        })

        # The whole service step for one new ticket: load 1,000 rules, match, insert order + audit.
        from desk_desktop.db.models import Ticket
        from desk_desktop.services import automation

        step_times = []
        uow = factory()
        with uow:
            tickets = list(uow.session.scalars(text("SELECT id FROM tickets ORDER BY id LIMIT 200")))
        for tid in tickets:
            uow = factory()
            with uow:
                t = uow.session.get(Ticket, tid)
                t0 = time.perf_counter()
                automation.on_ticket_created(uow=uow, actor=actor, ticket=t, customer_type="business", now=now)
                uow.session.flush()
                step_times.append((time.perf_counter() - t0) * 1000.0)
                # rolled back: the bench leaves no orders behind
        details["service_step_p50_ms"] = round(statistics.median(step_times), 2)
        details["service_step_note"] = ("on_ticket_created incl. loading the 1,000 rules from the database, "
                                        "matching, work order + audit insert (rolled back)")
        engine.dispose()

    eval_p50 = details["eval_p50_ms"]
    ok = (details["worst_case_no_match_p50_ms"] <= 1.0 and eval_p50 <= 1.0 and replay_s <= 10.0
          and details["replay_wrote_nothing"] and result.tickets_considered == n_tickets)
    if quick:
        details["note"] = f"--quick: replay over {n_tickets:,} tickets, not 100,000"
    return {
        "name": "rules",
        "value": details["worst_case_no_match_p50_ms"],
        "unit": "ms per ticket (1,000 rules, worst case: none matches)",
        "baseline": None,
        "ratio": None,
        "target": "<= 1 ms per ticket against 1,000 active rules; replay of 100,000 tickets <= 10 s",
        "ok": ok,
        "details": details,
    }
