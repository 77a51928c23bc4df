"""desk-desktop optimize — plan a whole day at once and show what would change; --apply writes it.

The day's technicians (all active ones, or those given) and its open orders that are not
under way or pinned are planned together with VROOM within the time budget; the output is
the difference from the day as it is: each order that moves (to whom, when), the driving
before and after, and the orders left without a visit with the reason. Nothing is written
without --apply; with it the whole plan is written in one transaction, or nothing when
another workstation changed the day meanwhile (optimize again).

  optimize --date 2026-12-08                       (a preview)
  optimize --date 2026-12-08 --technicians 3,7 --apply --json
"""

from __future__ import annotations

import argparse
from datetime import date

from desk_desktop.cli import CliContext, CliError


def register(sub, common) -> None:
    p = sub.add_parser("optimize", parents=[common], help="plan a whole day at once (preview; --apply writes it)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--date", required=True, help="the day, YYYY-MM-DD (organization time)")
    p.add_argument("--technicians", help="only these technicians: ids, comma-separated (default: every active one)")
    p.add_argument("--seconds", type=float, help="time budget of the solver (default: optimize_seconds, 10)")
    p.add_argument("--apply", action="store_true", help="write the plan (one transaction)")
    p.add_argument("--org", help="organization slug (default: your own, or the only one)")
    p.set_defaults(func=optimize)


def proposal_json(proposal) -> dict:
    day = proposal.day
    return {
        "date": day.day.isoformat(), "timezone": day.timezone,
        "technicians": [{"id": t.id, "name": t.name, "planned": t.planned, "note": t.note} for t in day.technicians],
        "changes": [{"work_order_id": c.order.id, "number": c.order.number, "change": c.what,
                     "technician_before": day.name_of(c.order.technician_id) if c.order.technician_id else None,
                     "start_before": c.order.start, "technician": day.name_of(c.technician_id)
                     if c.technician_id else None, "technician_id": c.technician_id, "start": c.start, "end": c.end}
                    for c in proposal.changes],
        "unplanned": [{"work_order_id": o.id, "number": o.number, "reason": why} for o, why in proposal.unplanned],
        "km_before": round(proposal.km_before, 2), "km_after": round(proposal.km_after, 2),
        "driving_hours_before": round(proposal.hours(proposal.km_before), 2),
        "driving_hours_after": round(proposal.hours(proposal.km_after), 2),
        "solve_seconds": round(proposal.solve_seconds, 2),
    }


def optimize(ctx: CliContext) -> int:
    from desk_desktop.commands.tickets import resolve_actor
    from desk_desktop.services import dayplan
    from desk_desktop.services.dayplan.proposal import day_text

    a = ctx.args
    try:
        day = date.fromisoformat(a.date)
    except ValueError as exc:
        raise CliError(f"--date: '{a.date}' is not a day (YYYY-MM-DD).") from exc
    try:
        techs = [int(x) for x in a.technicians.split(",")] if a.technicians else None
    except ValueError as exc:
        raise CliError(f"--technicians: give technician ids separated by commas, not '{a.technicians}'.") from exc
    actor, slug = resolve_actor(ctx, a.org)
    s = ctx.settings
    proposal = dayplan.optimize_day(uow=ctx.uow(), actor=actor, day=day, seconds=a.seconds or s.optimize_seconds,
                                    speed_kmh=s.travel_speed_kmh, road_factor=s.road_factor, technician_ids=techs)
    applied = None
    if a.apply:
        applied = dayplan.apply_proposal(uow=ctx.uow(), actor=actor, proposal=proposal)
    lines = [f"{slug}, {day_text(day)} {day.year}: {proposal.summary()} (solved in {proposal.solve_seconds:.1f} s)."]
    lines += ["  " + line for line in proposal.lines()]
    if applied is not None:
        lines.append(f"Applied: {applied.changed} order(s) changed, saving {applied.saves_km:,.1f} km of driving.")
    elif proposal.changes:
        lines.append("Nothing was written; add --apply to write this plan.")
    ctx.emit({"organization": slug, **proposal_json(proposal), "applied": applied is not None}, "\n".join(lines))
    return 0
