"""desk-desktop technician absence list|add|update|remove — a technician's time off on the command line.

Whole days are given as days (the first and the last day off, in the organization's time
zone); hours as times (``"2026-12-08 09:00"``, the organization's time unless an offset is
written). Adding an absence over visits already booked moves none of them: they are
listed so the dispatcher reschedules or reassigns them — or, with ``--unassign-visits``,
each is taken from the technician (audited, they are told) and handed back to the assign
job, which plans it again around the absence.

  technician absence add 7 --from 2026-12-07 --to 2026-12-09 --reason Holiday
  technician absence add 7 --from "2026-12-08 09:00" --to "2026-12-08 12:00" --reason Doctor
  technician absence update 12 --from 2026-12-07 --to 2026-12-10 --reason Holiday   (absence 12, changed)
  technician absence list 7            (upcoming; --all for past ones too; no id: everyone)
  technician absence remove 12
"""

from __future__ import annotations

import argparse
import sys

from desk_desktop.cli import CliContext, CliError


def register(technician_sub, common) -> None:
    """``absence`` under ``desk-desktop technician``."""
    p = technician_sub.add_parser("absence", help="a technician's time off: list, add, update, remove",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    asub = p.add_subparsers(dest="absence_command", metavar="ACTION")
    asub.required = True
    li = asub.add_parser("list", parents=[common], help="upcoming absences (of one technician, or everyone)")
    li.add_argument("technician", type=int, nargs="?", help="technician id (default: everyone)")
    li.add_argument("--all", action="store_true", help="past absences too")
    add = asub.add_parser("add", parents=[common], help="add an absence", description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("technician", type=int, help="technician id")
    up = asub.add_parser("update", parents=[common], help="change an absence (its period and reason)",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    up.add_argument("id", type=int, help="absence id (see: technician absence list)")
    for q in (add, up):
        q.add_argument("--from", dest="start", required=True, metavar="DAY|TIME",
                       help="first day off (YYYY-MM-DD) or start time (YYYY-MM-DD HH:MM)")
        q.add_argument("--to", dest="end", metavar="DAY|TIME",
                       help="last day off (default: the first) or end time")
        q.add_argument("--reason", required=True, help="e.g. Holiday, Sick, Training")
        q.add_argument("--unassign-visits", action="store_true",
                       help="visits already booked inside the absence go back to the assign job to be planned again")
    rm = asub.add_parser("remove", parents=[common], help="remove an absence")
    rm.add_argument("id", type=int, help="absence id (see: technician absence list)")
    for q, func in ((li, absence_list), (add, absence_add), (up, absence_update), (rm, absence_remove)):
        q.add_argument("--org", help="organization slug (default: your own, or the only one)")
        q.set_defaults(func=func)


def _actor(ctx: CliContext):
    from desk_desktop.commands.tickets import resolve_actor

    return resolve_actor(ctx, ctx.args.org)


def absence_json(a) -> dict:
    return {"id": a.id, "technician_id": a.technician_id, "technician": a.technician_name,
            "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat(), "all_day": a.all_day,
            "reason": a.reason, "when": a.text, "created_by": a.created_by}


def _line(a) -> str:
    return f"{a.id:>6}  {a.technician_name}: {a.reason} {a.text}"


def absence_list(ctx: CliContext) -> int:
    from desk_desktop.services import absences

    actor, slug = _actor(ctx)
    rows = absences.list_absences(uow=ctx.uow(), actor=actor, technician_id=ctx.args.technician,
                                  include_past=ctx.args.all)
    which = "" if ctx.args.all else "upcoming "
    lines = [f"{len(rows)} {which}absence(s) in {slug}:"] + [_line(a) for a in rows]
    ctx.emit({"organization": slug, "absences": [absence_json(a) for a in rows]}, "\n".join(lines))
    return 0


def absence_add(ctx: CliContext) -> int:
    from desk_desktop.services import absences

    return _save(ctx, "Added", lambda actor, period: absences.add_absence(
        uow=ctx.uow(), actor=actor, technician_id=ctx.args.technician, period=period, reason=ctx.args.reason))


def absence_update(ctx: CliContext) -> int:
    from desk_desktop.services import absences

    return _save(ctx, "Changed", lambda actor, period: absences.update_absence(
        uow=ctx.uow(), actor=actor, absence_id=ctx.args.id, period=period, reason=ctx.args.reason))


def _save(ctx: CliContext, done: str, save) -> int:
    """Add or change an absence (``save(actor, period)``), report the visits inside it, and
    with ``--unassign-visits`` hand them back to the assign job."""
    from desk_desktop.commands.people import report_invalid
    from desk_desktop.services import absences

    actor, slug = _actor(ctx)
    a = ctx.args
    try:
        period = absences.Period.parse(a.start, a.end or "")
    except ValueError as exc:
        raise CliError(f"--from/--to: {exc}.", 1) from exc
    try:
        saved = save(actor, period)
    except absences.AbsenceInvalid as exc:
        raise CliError("nothing was written", report_invalid(exc)) from exc
    warning = saved.warning()
    unassigned = []
    if a.unassign_visits and saved.visits_inside:
        from desk_desktop.services import assignment

        for v in saved.visits_inside:  # each its own unit of work: one that fails leaves the others done
            assignment.unassign_work_order(uow=ctx.uow(), actor=actor, work_order_id=v.work_order_id, reassign=True,
                                           reason=f"{saved.absence.technician_name} is away ({saved.absence.reason})")
            unassigned.append(v.number)
        warning = (f"{len(unassigned)} visit(s) inside this absence were unassigned; the assign job plans them "
                   f"again: {', '.join(unassigned)}.")
    if warning and not ctx.json:
        print(f"warning: {warning}", file=sys.stderr)
    ctx.emit({"organization": slug, "absence": absence_json(saved.absence),
              "visits_inside": [{"work_order_id": v.work_order_id, "number": v.number, "start": v.start.isoformat()}
                                for v in saved.visits_inside], "unassigned": unassigned, "warning": warning},
             f"{done} absence {saved.absence.id}: {saved.absence.technician_name} away ({saved.absence.reason}) "
             f"{saved.absence.text}.")
    return 0


def absence_remove(ctx: CliContext) -> int:
    from desk_desktop.services import absences

    actor, slug = _actor(ctx)
    old = absences.remove_absence(uow=ctx.uow(), actor=actor, absence_id=ctx.args.id)
    ctx.emit({"organization": slug, "removed": absence_json(old)},
             f"Removed absence {old.id}: {old.technician_name} ({old.reason}) {old.text}.")
    return 0
