"""desk-desktop rules list|test|replay — try the rules that turn tickets into work orders.

``rules test NUMBER`` shows which rule would take a ticket and, for every other rule, the
first condition that failed. ``rules replay --org SLUG --days N`` shows what the active
rules would have created from the tickets of the last N days. Neither writes anything.
"""

from __future__ import annotations

from typing import Any

from desk_desktop.cli import CliContext, CliError


def register(sub, common) -> None:
    p = sub.add_parser("rules", help="list, test and replay ticket → work-order rules")
    rsub = p.add_subparsers(dest="rules_command", metavar="ACTION")
    rsub.required = True

    li = rsub.add_parser("list", parents=[common], help="the rules in evaluation order")
    li.add_argument("--org", help="organization slug (default: your own, or the only one)")
    li.set_defaults(func=run_list)

    t = rsub.add_parser("test", parents=[common], help="dry-run: which rule would take this ticket, and why not the others")
    t.add_argument("number", help="ticket number, e.g. TK-2026-00001")
    t.add_argument("--org", help="organization slug (needed only when several have that number)")
    t.set_defaults(func=run_test)

    r = rsub.add_parser("replay", parents=[common],
                        help="what the active rules would have created from past tickets (writes nothing)")
    r.add_argument("--org", help="organization slug (default: your own, or the only one)")
    r.add_argument("--days", type=int, default=30, help="look back this many days (default 30)")
    r.set_defaults(func=run_replay)


def _actor(ctx: CliContext, slug: str | None):
    from desk_desktop.commands.tickets import resolve_actor

    return resolve_actor(ctx, slug)


def run_list(ctx: CliContext) -> int:
    from desk_desktop.services import rules as svc

    actor, slug = _actor(ctx, ctx.args.org)
    views = svc.list_rules(uow=ctx.uow(), actor=actor)
    data = {"organization": slug, "rules": [
        {"id": v.id, "priority": v.priority, "name": v.name, "active": v.active, "trigger": v.trigger_summary,
         "template": v.template_summary, "orders_last_30_days": v.orders_last_30_days} for v in views]}
    lines = [f"{len(views)} rule(s) in {slug}, in evaluation order:"]
    for i, v in enumerate(views, 1):
        lines.append(f"{i:>3}. {v.name}{'' if v.active else ' (inactive)'} — when {v.trigger_summary} → "
                     f"{v.template_summary} [{v.orders_last_30_days} in 30 days]")
    ctx.emit(data, "\n".join(lines))
    return 0


def _org_of_number(ctx: CliContext, number: str) -> str | None:
    from sqlalchemy import text

    uow = ctx.uow()
    with uow:
        slugs = list(uow.session.execute(
            text("SELECT o.slug FROM tickets t JOIN organizations o ON o.id = t.organization_id "
                 "WHERE t.number = :n ORDER BY o.slug"), {"n": number}).scalars())
    if len(slugs) > 1:
        raise CliError(f"Ticket {number} exists in several organizations ({', '.join(slugs)}); "
                       "say which one with --org SLUG.")
    return slugs[0] if slugs else None


def run_test(ctx: CliContext) -> int:
    from desk_desktop.services import rules as svc
    from desk_desktop.services.tickets import normalize_number

    number = normalize_number(ctx.args.number.strip())
    slug = ctx.args.org or _org_of_number(ctx, number)
    actor, slug = _actor(ctx, slug)
    result = svc.dry_run(uow=ctx.uow(), actor=actor, number=number)
    data: dict[str, Any] = {
        "organization": slug,
        "ticket": result.ticket_number,
        "matched_rule_id": result.matched_rule_id,
        "matched_rule_name": result.matched_rule_name,
        "rules": [{"rule_id": r.rule_id, "name": r.rule_name, "matched": r.matched,
                   "failed_condition": r.failed_condition} for r in result.results],
    }
    if result.matched_rule_name:
        head = f"Ticket {result.ticket_number} would be taken by rule '{result.matched_rule_name}'."
    else:
        head = f"Ticket {result.ticket_number} matches no rule: no work order would be created."
    lines = [head]
    for r in result.results:
        mark = "✓" if r.matched else "✗"
        lines.append(f"  {mark} {r.rule_name}" + ("" if r.matched else f" — {r.failed_condition}"))
    if not result.results:
        lines.append("  (this organization has no rules)")
    ctx.emit(data, "\n".join(lines))
    return 0


def run_replay(ctx: CliContext) -> int:
    from desk_desktop.services import rules as svc

    if ctx.args.days <= 0:
        raise CliError("--days must be at least 1.")
    actor, slug = _actor(ctx, ctx.args.org)
    result = svc.replay(uow=ctx.uow(), actor=actor, days=ctx.args.days)
    data = {
        "organization": slug,
        "days": ctx.args.days,
        "since": result.since.isoformat() if result.since else None,
        "tickets_considered": result.tickets_considered,
        "unmatched": result.unmatched,
        "rules": [{"rule_id": r.rule_id, "name": r.rule_name, "would_create": r.would_create,
                   "sample_numbers": list(r.sample_numbers)} for r in result.per_rule],
        "writes": 0,
    }
    lines = [f"Replay of {result.tickets_considered} ticket(s) from the last {ctx.args.days} day(s) in {slug} "
             "(nothing was written):"]
    for r in result.per_rule:
        sample = f" e.g. {', '.join(r.sample_numbers)}" if r.sample_numbers else ""
        lines.append(f"  {r.would_create:>6}  {r.rule_name}{sample}")
    lines.append(f"  {result.unmatched:>6}  (no rule matched)")
    ctx.emit(data, "\n".join(lines))
    return 0
