"""desk-desktop workorder show|ics|start|arrive|hold|resume|complete|cancel|reopen — the lifecycle on the command line.

The same service as the ticket detail (``services.lifecycle``): a refused step prints one
line naming the order's status and what it allows, and exits with status 1. ``ics`` writes
the visit's current calendar invitation (``services.notifications.calendar_file``).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from desk_desktop.cli import CliContext, CliError
from desk_desktop.commands.tickets import resolve_actor
from desk_desktop.domain.lifecycle import Action

HELP = {
    Action.START: "the technician sets off (travelling)",
    Action.ARRIVE: "the technician is on site",
    Action.HOLD: "put the order on hold (--reason required)",
    Action.RESUME: "take the order off hold, back to where it was",
    Action.COMPLETE: "complete it (--note required; --started/--ended default to on site/now)",
    Action.CANCEL: "cancel it (--reason required)",
    Action.REOPEN: "reopen a completed or cancelled order",
}


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not an ISO date and time (like 2026-12-06T14:30+01:00)") \
            from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"'{value}' needs a time zone (like 2026-12-06T14:30+01:00 or …Z)")
    return parsed


def register(sub, common) -> None:
    p = sub.add_parser("workorder", help="show a work order and carry it through its lifecycle")
    wsub = p.add_subparsers(dest="workorder_command", metavar="ACTION")
    wsub.required = True

    s = wsub.add_parser("show", parents=[common], help="one work order: status, what it allows, what was recorded")
    s.add_argument("number", help="work-order number, e.g. WO-000123")
    s.add_argument("--org", help="organization slug (default: your own, or the only one)")
    s.set_defaults(func=run_show)

    i = wsub.add_parser("ics", parents=[common],
                        help="write the visit's calendar invitation (.ics) — the one its technician's calendar holds")
    i.add_argument("number", help="work-order number, e.g. WO-000123")
    i.add_argument("--org", help="organization slug (default: your own, or the only one)")
    i.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: the standard output)")
    i.set_defaults(func=run_ics)

    st = wsub.add_parser("settings", parents=[common],
                         help="the organization's lifecycle settings; change them (administrators)")
    st.add_argument("--org", help="organization slug (default: your own, or the only one)")
    st.add_argument("--auto-resolve-tickets", dest="auto_resolve", action=argparse.BooleanOptionalAction,
                    default=None, help="completing a ticket's last open work order resolves the ticket too")
    st.add_argument("--nightly-optimize", dest="nightly", action=argparse.BooleanOptionalAction, default=None,
                    help="the scheduler optimizes and applies the next day every evening")
    st.set_defaults(func=run_settings)

    for name, pinned, text in (("pin", True, "keep the visit where it is when a day is optimized"),
                               ("unpin", False, "let optimizing move the visit again")):
        pn = wsub.add_parser(name, parents=[common], help=text)
        pn.add_argument("number", help="work-order number, e.g. WO-000123")
        pn.add_argument("--org", help="organization slug (default: your own, or the only one)")
        pn.set_defaults(func=run_pin, pinned=pinned)

    w = wsub.add_parser("window", parents=[common],
                        help="the customer's booked window: the visit starts inside it (--clear: none)")
    w.add_argument("number", help="work-order number, e.g. WO-000123")
    w.add_argument("--org", help="organization slug (default: your own, or the only one)")
    w.add_argument("--from", dest="start", type=_when, metavar="ISO", help="the window opens")
    w.add_argument("--to", dest="end", type=_when, metavar="ISO", help="the window closes")
    w.add_argument("--clear", action="store_true", help="no booked window")
    w.set_defaults(func=run_window)

    for action in Action:
        a = wsub.add_parser(action.value, parents=[common], help=HELP[action])
        a.add_argument("number", help="work-order number, e.g. WO-000123")
        a.add_argument("--org", help="organization slug (default: your own, or the only one)")
        a.add_argument("--reason", help="why (required to hold and to cancel)")
        if action == Action.COMPLETE:
            a.add_argument("--note", help="the resolution: what was done (required)")
            a.add_argument("--started", type=_when, metavar="ISO", help="when the work started (default: on site)")
            a.add_argument("--ended", type=_when, metavar="ISO", help="when it ended (default: now)")
            a.add_argument("--resolve-ticket", action="store_true",
                           help="resolve the ticket too when this was its last open work order")
        a.set_defaults(func=run_action, action=action.value)


def _iso(v) -> str | None:
    return v.isoformat() if v is not None else None


def state_json(st, slug: str) -> dict:
    return {"id": st.id, "number": st.number, "organization": slug, "status": st.status, "allowed": list(st.allowed),
            "work_type": st.work_type, "priority": st.priority, "technician": st.technician_name,
            "ticket": st.ticket_number, "scheduled_start": _iso(st.scheduled_start),
            "scheduled_end": _iso(st.scheduled_end), "hold_reason": st.hold_reason,
            "on_site_at": _iso(st.on_site_at), "actual_start": _iso(st.actual_start),
            "actual_end": _iso(st.actual_end), "resolution_note": st.resolution_note,
            "cancel_reason": st.cancel_reason}


def state_text(st) -> str:
    lines = [f"{st.number}  [{st.status}]  {st.work_type}, {st.priority} — {st.technician_name or 'unassigned'}"]
    if st.ticket_number:
        lines.append(f"  ticket        {st.ticket_number}")
    if st.scheduled_start is not None:
        lines.append(f"  scheduled     {st.scheduled_start:%Y-%m-%d %H:%M %Z}")
    if st.hold_reason:
        lines.append(f"  on hold       {st.hold_reason}")
    if st.actual_start is not None:
        lines.append(f"  worked        {st.actual_start:%Y-%m-%d %H:%M} – {st.actual_end:%Y-%m-%d %H:%M %Z}")
    if st.resolution_note:
        lines.append(f"  resolution    {st.resolution_note}")
    if st.cancel_reason:
        lines.append(f"  cancelled     {st.cancel_reason}")
    lines.append(f"  next          {', '.join(st.allowed) or 'nothing'}")
    return "\n".join(lines)


def run_show(ctx: CliContext) -> int:
    from desk_desktop.services import lifecycle

    actor, slug = resolve_actor(ctx, ctx.args.org)
    st = lifecycle.get_work_order_state(uow=ctx.uow(), actor=actor, work_order_id=lifecycle.parse_number(ctx.args.number))
    ctx.emit(state_json(st, slug), state_text(st))
    return 0


def run_ics(ctx: CliContext) -> int:
    import sys
    from pathlib import Path

    from desk_desktop.services import lifecycle, notifications

    actor, slug = resolve_actor(ctx, ctx.args.org)
    f = notifications.calendar_file(uow=ctx.uow(), actor=actor, work_order_id=lifecycle.parse_number(ctx.args.number))
    if ctx.args.output is None:
        sys.stdout.buffer.write(f.content)
        sys.stdout.flush()
        return 0
    out = Path(ctx.args.output)
    try:
        out.write_bytes(f.content)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    ctx.emit({"number": f.work_order_number, "organization": slug, "file": str(out), "sequence": f.sequence},
             f"{f.work_order_number}: calendar invitation (sequence {f.sequence}) written to {out}.")
    return 0


def run_settings(ctx: CliContext) -> int:
    from desk_desktop.services import org_switches
    from desk_desktop.services.dayplan.nightly import NIGHTLY_HOUR

    actor, slug = resolve_actor(ctx, ctx.args.org)
    asked = {"auto_resolve_tickets": ctx.args.auto_resolve, "nightly_optimize": ctx.args.nightly}
    for name, enabled in asked.items():
        if enabled is not None:
            org_switches.set_switch(uow=ctx.uow(), actor=actor, name=name, enabled=enabled)
    on = org_switches.get_switches(uow=ctx.uow(), actor=actor)
    ctx.emit({"organization": slug, **on, "changed": any(v is not None for v in asked.values())},
             f"{slug}: completing a ticket's last open work order "
             + ("resolves the ticket too." if on["auto_resolve_tickets"]
                else "offers to resolve the ticket (not automatic).")
             + (f"\nThe next day is optimized and applied every evening from {NIGHTLY_HOUR}:00."
                if on["nightly_optimize"] else "\nThe next day is not optimized in the evening."))
    return 0


def run_pin(ctx: CliContext) -> int:
    from desk_desktop.services import lifecycle
    from desk_desktop.services.dayplan.keep import set_pinned

    actor, slug = resolve_actor(ctx, ctx.args.org)
    wo_id = lifecycle.parse_number(ctx.args.number)
    pinned = set_pinned(uow=ctx.uow(), actor=actor, work_order_id=wo_id, pinned=ctx.args.pinned)
    ctx.emit({"organization": slug, "work_order_id": wo_id, "pinned": pinned},
             f"{ctx.args.number}: " + ("pinned — optimizing a day leaves it where it is." if pinned
                                       else "no longer pinned."))
    return 0


def run_window(ctx: CliContext) -> int:
    from desk_desktop.services import lifecycle
    from desk_desktop.services.dayplan.keep import set_booked_window

    a = ctx.args
    if a.clear and (a.start or a.end):
        raise CliError("--clear takes no --from or --to.")
    if not a.clear and not (a.start or a.end):
        raise CliError("Give --from and --to, or --clear.")
    actor, slug = resolve_actor(ctx, a.org)
    wo_id = lifecycle.parse_number(a.number)
    window = set_booked_window(uow=ctx.uow(), actor=actor, work_order_id=wo_id, start=a.start, end=a.end)
    ctx.emit({"organization": slug, "work_order_id": wo_id, "window_start": _iso(window[0]) if window else None,
              "window_end": _iso(window[1]) if window else None},
             f"{a.number}: " + (f"booked window {window[0]:%Y-%m-%d %H:%M} – {window[1]:%H:%M %Z}." if window
                                else "no booked window."))
    return 0


def run_action(ctx: CliContext) -> int:
    from desk_desktop.services import lifecycle, tickets

    a = ctx.args
    actor, slug = resolve_actor(ctx, a.org)
    wo_id = lifecycle.parse_number(a.number)
    done = lifecycle.transition(uow=ctx.uow(), actor=actor, work_order_id=wo_id, action=a.action, reason=a.reason,
                                note=getattr(a, "note", None), started=getattr(a, "started", None),
                                ended=getattr(a, "ended", None))
    human = f"{done.number}: {done.previous_status} → {done.status}."
    resolved = done.ticket_resolved
    if done.ticket_can_be_resolved and getattr(a, "resolve_ticket", False):
        tickets.change_ticket_status(uow=ctx.uow(), actor=actor, ticket_id=done.ticket_id, status="resolved")
        resolved = True
    if resolved:
        human += f" Ticket {done.ticket_number} is resolved."
    elif done.ticket_can_be_resolved:
        human += (f" It was the last open work order of ticket {done.ticket_number}, which can be resolved now "
                  "(in the ticket detail, or add --resolve-ticket to complete).")
    if done.notifications:
        human += " The customer will be told."
    st = lifecycle.get_work_order_state(uow=ctx.uow(), actor=actor, work_order_id=wo_id)
    ctx.emit({**state_json(st, slug), "previous_status": done.previous_status, "ticket_resolved": resolved,
              "ticket_can_be_resolved": done.ticket_can_be_resolved and not resolved,
              "notifications_queued": done.notifications}, human)
    return 0
