"""desk-desktop ticket create|show|list — tickets from the command line.

Tickets are created through the same service as the GUI and the CSV import, so
numbering and automation (rules → work orders) run exactly as they do there.

Who is acting: a dispatcher login acts for its own organization (``--org`` must then
name it, or may be left out). An administrator connection (the private cluster, or a
superuser URL) acts for the organization named with ``--org``.
"""

from __future__ import annotations

import argparse
from typing import Any

from desk_desktop.cli import CliContext, CliError
from desk_desktop.domain.catalogs import CATEGORIES, CUSTOMER_TYPES, WORK_ORDER_TYPES


def register(sub, common) -> None:
    p = sub.add_parser("ticket", help="create, show and list tickets")
    tsub = p.add_subparsers(dest="ticket_command", metavar="ACTION")
    tsub.required = True

    c = tsub.add_parser("create", parents=[common], help="create a ticket (numbering and rules run as in the GUI)")
    c.add_argument("--org", help="organization slug (default: your own)")
    c.add_argument("--customer", required=True, metavar="REF", help="customer reference")
    c.add_argument("--category", required=True, help="the category's key or name (see: desk-desktop catalog list categories)")
    c.add_argument("--priority", required=True, help="low, medium, high or urgent")
    c.add_argument("--tag", action="append", default=[], metavar="T", help="a tag (repeat for several)")
    c.add_argument("--subject", required=True)
    c.add_argument("--description", default="")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--site", metavar="REF", help="the customer's site reference")
    where.add_argument("--lat", type=float, help="latitude of the job (with --lon)")
    c.add_argument("--lon", type=float, help="longitude of the job (with --lat)")
    c.set_defaults(func=run_create)

    s = tsub.add_parser("show", parents=[common], help="one ticket, with its work order")
    s.add_argument("number", help="ticket number, e.g. TK-2026-00001")
    s.add_argument("--org", help="organization slug (needed only when several have that number)")
    s.set_defaults(func=run_show)

    li = tsub.add_parser("list", parents=[common], help="tickets, newest first")
    li.add_argument("--org", help="organization slug (default: your own, or the only one)")
    li.add_argument("--status", action="append", default=[], help="new, open, pending, resolved, closed (repeatable)")
    li.add_argument("--priority", action="append", default=[], help="repeatable")
    li.add_argument("--category", action="append", default=[], help="repeatable")
    li.add_argument("--tag")
    li.add_argument("--search", metavar="TEXT", help="free text over number, subject, description and customer")
    li.add_argument("--limit", type=int, default=50, help="at most this many (default 50, max 1000)")
    li.set_defaults(func=run_list)

    n = tsub.add_parser("numbering", parents=[common],
                        help="show the numbering format and next number; change them (administrators)")
    n.add_argument("--org", help="organization slug (default: your own)")
    n.add_argument("--prefix", help="1-10 characters A-Z, 0-9")
    n.add_argument("--year", dest="include_year", action=argparse.BooleanOptionalAction, default=None,
                   help="include the year")
    n.add_argument("--month", dest="include_month", action=argparse.BooleanOptionalAction, default=None,
                   help="include the month (needs the year)")
    n.add_argument("--padding", type=int, help="digits of the counter, 1-12")
    n.add_argument("--separator", choices=["-", "_", "."])
    n.add_argument("--reset", dest="reset_policy", choices=["never", "yearly", "monthly"])
    n.add_argument("--next", dest="next_value", type=int, metavar="N",
                   help="make the next ticket of the current period get counter N")
    n.set_defaults(func=run_numbering)


# --------------------------------------------------------------------------- who is acting


def resolve_actor(ctx: CliContext, slug: str | None):
    """(Actor, organization slug) for this command; see the module docstring."""
    import getpass

    from sqlalchemy import text

    from desk_desktop.services.common import Actor
    from desk_desktop.services.session_info import NotADispatcher, current_session

    try:
        session = current_session(uow=ctx.uow())
    except NotADispatcher:
        session = None
    if session is not None:
        if slug and slug != session.organization_slug:
            raise CliError(f"You are a dispatcher of '{session.organization_slug}', not of '{slug}'.")
        return session.actor, session.organization_slug
    uow = ctx.uow()
    with uow:
        if slug:
            row = uow.session.execute(text("SELECT id, slug FROM organizations WHERE slug = :s"), {"s": slug}).first()
            if row is None:
                raise CliError(f"There is no organization '{slug}'. See: desk-desktop admin list")
        else:
            rows = uow.session.execute(text("SELECT id, slug FROM organizations ORDER BY id LIMIT 2")).all()
            if not rows:
                raise CliError("This database has no organization yet. Run 'desk-desktop demo' or "
                               "'desk-desktop admin add-organization'.")
            if len(rows) > 1:
                raise CliError("There are several organizations; say which one with --org SLUG.")
            row = rows[0]
    return Actor(organization_id=row.id, name=f"{getpass.getuser()} (command line)", is_admin=True), row.slug


# --------------------------------------------------------------------------- output


def _iso(v) -> str | None:
    return v.isoformat() if v is not None else None


def ticket_json(detail, org_slug: str, cats) -> dict[str, Any]:
    """The ticket as JSON: catalog keys as stored, with their display names (``cats``:
    the organization's catalogs) next to them."""
    wo = detail.work_order
    return {
        "id": detail.id,
        "number": detail.number,
        "organization": org_slug,
        "status": detail.status,
        "subject": detail.subject,
        "description": detail.description,
        "category": detail.category,
        "category_name": cats.name(CATEGORIES, detail.category),
        "priority": detail.priority,
        "tags": list(detail.tags),
        "customer": {"id": detail.customer_id, "ref": detail.customer_ref, "name": detail.customer_name,
                     "type": detail.customer_type, "type_name": cats.name(CUSTOMER_TYPES, detail.customer_type)},
        "site": ({"id": detail.site_id, "ref": detail.site_ref, "name": detail.site_name,
                  "address": detail.site_address} if detail.site_id is not None else None),
        "lat": detail.lat,
        "lon": detail.lon,
        "created_by": detail.created_by,
        "created_at": _iso(detail.created_at),
        "updated_at": _iso(detail.updated_at),
        "work_order": None if wo is None else {
            "id": wo.id,
            "number": wo.number,
            "status": wo.status,
            "source": wo.source,
            "type": wo.work_type,
            "type_name": cats.name(WORK_ORDER_TYPES, wo.work_type),
            "priority": wo.priority,
            "rule": wo.rule_name,
            "rule_id": wo.rule_id,
            "technician": wo.technician_name,
            "scheduled_start": _iso(wo.scheduled_start),
            "scheduled_end": _iso(wo.scheduled_end),
            "duration_minutes": wo.duration_minutes,
            "needs_assignment": wo.needs_assignment,
            "unassigned_reason": wo.unassigned_reason,
        },
    }


def ticket_text(detail, org_slug: str, cats) -> str:
    lines = [
        f"{detail.number}  [{detail.status}]  {detail.subject}",
        f"  organization  {org_slug}",
        f"  customer      {detail.customer_name} ({detail.customer_ref}, {cats.name(CUSTOMER_TYPES, detail.customer_type)})",
        f"  category      {cats.name(CATEGORIES, detail.category)}   priority {detail.priority}"
        + (f"   tags {', '.join(detail.tags)}" if detail.tags else ""),
    ]
    if detail.site_id is not None:
        lines.append(f"  site          {detail.site_name} — {detail.site_address}")
    elif detail.lat is not None:
        lines.append(f"  position      {detail.lat:.5f}, {detail.lon:.5f}")
    lines.append(f"  created       {detail.created_at:%Y-%m-%d %H:%M %Z} by {detail.created_by}")
    wo = detail.work_order
    if wo is None:
        lines.append("  work order    none")
    else:
        who = wo.technician_name or "unassigned"
        rule = f" by rule '{wo.rule_name}'" if wo.rule_name else ""
        lines.append(f"  work order    {wo.number} [{wo.status}] {cats.name(WORK_ORDER_TYPES, wo.work_type)}, {wo.priority}{rule} — {who}")
        if wo.scheduled_start is not None:
            lines.append(f"                scheduled {wo.scheduled_start:%Y-%m-%d %H:%M %Z}")
        if wo.unassigned_reason:
            lines.append(f"                {wo.unassigned_reason}")
    if detail.description:
        lines.append("")
        lines.extend("  " + ln for ln in detail.description.splitlines())
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


def run_create(ctx: CliContext) -> int:
    from desk_desktop.services import tickets as svc
    from desk_desktop.services.catalogs import load_catalogs

    a = ctx.args
    if (a.lat is None) != (a.lon is None):
        raise CliError("Give both --lat and --lon, or neither.")
    actor, slug = resolve_actor(ctx, a.org)
    created = svc.create_ticket(
        uow=ctx.uow(), actor=actor, subject=a.subject, category=a.category, priority=a.priority,
        customer_ref=a.customer, description=a.description, tags=a.tag, site_ref=a.site, lat=a.lat, lon=a.lon,
    )
    detail = svc.get_ticket_or_raise(uow=ctx.uow(), actor=actor, ticket_id=created.ticket.id)
    wo = created.work_order
    human = f"Created {detail.number}" + (
        f"; rule '{wo.rule_name}' created work order {wo.number}." if wo is not None else "; no rule matched.")
    ctx.emit(ticket_json(detail, slug, load_catalogs(uow=ctx.uow(), actor=actor)), human)
    return 0


def _orgs_with_number(ctx: CliContext, number: str) -> list[str]:
    from sqlalchemy import text

    uow = ctx.uow()
    with uow:
        return list(uow.session.execute(
            text("SELECT o.slug FROM tickets t JOIN organizations o ON o.id = t.organization_id "
                 "WHERE t.number = :n ORDER BY o.slug"), {"n": number}).scalars())


def run_show(ctx: CliContext) -> int:
    from desk_desktop.services import tickets as svc
    from desk_desktop.services.catalogs import load_catalogs

    number = svc.normalize_number(ctx.args.number)
    slug = ctx.args.org
    if not slug:
        slugs = _orgs_with_number(ctx, number)
        if len(slugs) > 1:
            raise CliError(f"Ticket {number} exists in several organizations ({', '.join(slugs)}); "
                           "say which one with --org SLUG.")
        if len(slugs) == 1:
            slug = slugs[0]
    actor, slug = resolve_actor(ctx, slug)
    detail = svc.get_ticket_or_raise(uow=ctx.uow(), actor=actor, number=number)
    cats = load_catalogs(uow=ctx.uow(), actor=actor)
    ctx.emit(ticket_json(detail, slug, cats), ticket_text(detail, slug, cats))
    return 0


def run_list(ctx: CliContext) -> int:
    from desk_desktop.services import tickets as svc
    from desk_desktop.services.catalogs import load_catalogs, resolve_key

    a = ctx.args
    if not 1 <= a.limit <= svc.LIST_LIMIT_MAX:
        raise CliError(f"--limit must be between 1 and {svc.LIST_LIMIT_MAX}.")
    actor, slug = resolve_actor(ctx, a.org)
    checks = {"status": [s.value for s in svc.TicketStatus], "priority": [p.value for p in svc.Priority]}
    for name, allowed in checks.items():
        for value in getattr(a, name):
            if value.lower() not in allowed:
                raise CliError(f"Unknown {name} '{value}'; choose from: {', '.join(allowed)}.")
    cats = load_catalogs(uow=ctx.uow(), actor=actor)
    categories = cats.entries[CATEGORIES.word]
    category_keys = []
    for value in a.category:
        key = resolve_key(categories, value)
        if key is None:
            raise CliError(f"Unknown category '{value}'; choose from: {', '.join(e.name for e in categories)}.")
        category_keys.append(key)
    filters = svc.TicketFilter(
        status=tuple(s.lower() for s in a.status) or None,
        priority=tuple(p.lower() for p in a.priority) or None,
        category=tuple(category_keys) or None,
        tag=a.tag,
        text=a.search,
    )
    page = svc.list_tickets(uow=ctx.uow(), actor=actor, filters=filters, limit=a.limit)
    total = svc.count_tickets(uow=ctx.uow(), actor=actor, filters=filters)
    rows = [
        {"id": t.id, "number": t.number, "status": t.status, "priority": t.priority, "category": t.category,
         "category_name": cats.name(CATEGORIES, t.category), "subject": t.subject, "customer": t.customer_name, "tags": list(t.tags),
         "work_order_id": t.work_order_id, "work_order_status": t.work_order_status,
         "technician": t.technician_name, "created_at": _iso(t.created_at)}
        for t in page.rows
    ]
    if ctx.json:
        ctx.emit({"organization": slug, "total": total, "count": len(rows), "tickets": rows})
        return 0
    if not rows:
        print("No tickets match.")
        return 0
    width = max(len(r["number"]) for r in rows)
    for r in rows:
        wo = r["technician"] or (r["work_order_status"] or "-")
        subject = r["subject"] if len(r["subject"]) <= 50 else r["subject"][:49] + "…"
        print(f"{r['number']:<{width}}  {r['status']:<8}  {r['priority']:<6}  {r['category_name'][:16]:<16}  "
              f"{r['customer'][:24]:<24}  {subject:<50}  {wo}")
    more = f" (showing {len(rows)} of {total}; use --limit)" if total > len(rows) else ""
    print(f"{len(rows)} ticket(s){more}")
    return 0


def run_numbering(ctx: CliContext) -> int:
    from desk_desktop.services import numbering

    a = ctx.args
    actor, slug = resolve_actor(ctx, a.org)
    changes = {k: getattr(a, k) for k in ("prefix", "include_year", "include_month", "padding", "separator",
                                          "reset_policy") if getattr(a, k) is not None}
    if changes:
        numbering.update_number_format(uow=ctx.uow(), actor=actor, **changes)
    if a.next_value is not None:
        numbering.set_next_number(uow=ctx.uow(), actor=actor, value=a.next_value)
    st = numbering.get_numbering_settings(uow=ctx.uow(), actor=actor)
    f = st.format
    data = {"organization": slug, "prefix": f.prefix, "include_year": f.include_year,
            "include_month": f.include_month, "padding": f.padding, "separator": f.separator,
            "reset_policy": f.reset_policy, "timezone": st.timezone, "period": st.period,
            "next_number": st.next_number, "changed": bool(changes) or a.next_value is not None}
    ctx.emit(data, f"{slug}: next ticket number {st.next_number} (prefix {f.prefix}, "
                   f"year {'on' if f.include_year else 'off'}, month {'on' if f.include_month else 'off'}, "
                   f"padding {f.padding}, separator '{f.separator}', reset {f.reset_policy}, "
                   f"time zone {st.timezone}). Deleting a ticket leaves a gap.")
    return 0
