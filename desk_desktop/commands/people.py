"""desk-desktop technician|customer list|show|add|update — the organization's people on the command line.

Skills and customer types may be given by key or by display name (``networking`` or
``"Security systems"``). Every problem of an add or update is printed on a line of its
own (exit status 1) and nothing is written.

  technician add --name "Ada King" --skill networking=4 --skill hardware=3 \\
      --hours "mon=08:00-12:00,13:00-17:00" --hours "tue=09:00-17:00" --home 52.52,13.40
  technician update 7 --skill fiber=2 --remove-skill hvac --hours sat=off --max-open 6
  customer add --ref C-100 --name "Müller GmbH" --type business \\
      --site "S-100|Head office|Hauptstr. 1, Berlin|52.52,13.40" --site "S-101|Depot|Lagerweg 2, Potsdam"
  customer update 12 --site "S-101|Depot|Neuer Weg 3, Potsdam"   (a site ref of this customer: updated;
                                                                  a new ref: added; sites are never removed)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from typing import Any

from desk_desktop.cli import CliContext, CliError
from desk_desktop.domain.catalogs import CUSTOMER_TYPES, SKILLS


def _tech_options(p: argparse.ArgumentParser, *, update: bool) -> None:
    p.add_argument("--name", required=not update)
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--skill", action="append", default=[], metavar="SKILL=LEVEL",
                   help="a skill (key or name) with a proficiency 1-5; repeat for more"
                        + ("; adds or changes that skill" if update else ""))
    if update:
        p.add_argument("--remove-skill", action="append", default=[], metavar="SKILL")
    p.add_argument("--hours", action="append", default=[], metavar="DAY=HH:MM-HH:MM,…",
                   help="a day's working hours (organization's time zone), e.g. mon=08:00-12:00,13:00-17:00; "
                        "DAY=off for a day off; repeat per day" + ("; replaces that day only" if update else ""))
    if update:
        p.add_argument("--clear-hours", action="store_true", help="working hours not known")
    p.add_argument("--home", metavar="LAT,LON", help="home base (WGS 84)" + ("; '' to clear" if update else ""))
    p.add_argument("--max-open", type=int, metavar="N", help="maximum open work orders (default 8)")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--inactive", action="store_true", help="not available for work")
    if update:
        state.add_argument("--active", action="store_true", help="available for work again")


def _customer_options(p: argparse.ArgumentParser, *, update: bool) -> None:
    p.add_argument("--ref", required=not update, help="the customer's reference (unique)")
    p.add_argument("--name", required=not update)
    p.add_argument("--type", required=not update, help="customer type (key or name)")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--site", action="append", default=[], metavar="REF|NAME|ADDRESS[|LAT,LON]",
                   help="a site; repeat for more" + ("; an existing site ref of this customer updates that site"
                                                     if update else ""))


def register(sub, common) -> None:
    for word, doc in (("technician", "technicians: list, show, add, update; absence (time off)"),
                      ("customer", "customers and their sites: list, show, add, update")):
        p = sub.add_parser(word, help=doc, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        wsub = p.add_subparsers(dest=f"{word}_command", metavar="ACTION")
        wsub.required = True
        li = wsub.add_parser("list", parents=[common], help=f"search the {word}s")
        li.add_argument("--search", default="", metavar="TEXT", help="part of a name, e-mail, phone, "
                        + ("skill" if word == "technician" else "ref or site"))
        if word == "technician":
            li.add_argument("--all", action="store_true", help="inactive technicians too")
        li.add_argument("--limit", type=int, default=500)
        sh = wsub.add_parser("show", parents=[common], help=f"one {word}")
        sh.add_argument("id", type=int)
        add = wsub.add_parser("add", parents=[common], help=f"add a {word}",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        up = wsub.add_parser("update", parents=[common], help=f"change a {word} (only the options given)",
                             description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        up.add_argument("id", type=int)
        options = _tech_options if word == "technician" else _customer_options
        options(add, update=False)
        options(up, update=True)
        for q in (li, sh, add, up):
            q.add_argument("--org", help="organization slug (default: your own, or the only one)")
        if word == "technician":
            from desk_desktop.commands import absences

            absences.register(wsub, common)
        handlers = TECHNICIAN if word == "technician" else CUSTOMER
        for action, q in (("list", li), ("show", sh), ("add", add), ("update", up)):
            q.set_defaults(func=handlers[action])


def _actor(ctx: CliContext):
    from desk_desktop.commands.tickets import resolve_actor

    return resolve_actor(ctx, ctx.args.org)


def report_invalid(exc) -> int:
    """Every problem on a line of its own (stderr); the exit status."""
    for field, message in exc.problems.items():
        print(f"error: {field}: {message}", file=sys.stderr)
    return 1


def _written(write) -> Any:
    from desk_desktop.services.people import PeopleInvalid

    try:
        return write()
    except PeopleInvalid as exc:
        raise _Invalid(report_invalid(exc)) from exc


class _Invalid(CliError):
    def __init__(self, code: int) -> None:
        super().__init__("nothing was written", code)


# ---- technicians -----------------------------------------------------------------------------

def _skill_keys(ctx: CliContext, actor, items: list[str], problems: list[str]) -> dict[str, int]:
    from desk_desktop.domain.people import parse_skill
    from desk_desktop.services.catalogs import load_catalogs, resolve_key

    entries = load_catalogs(uow=ctx.uow(), actor=actor).entries[SKILLS.word] if items else ()
    skills = {}
    for item in items:
        try:
            name, level = parse_skill(item)
        except ValueError as exc:
            problems.append(f"--skill: {exc}")
            continue
        skills[resolve_key(entries, name) or name] = level
    return skills


def _technician_data(ctx: CliContext, actor, base):
    """``base`` (a TechnicianData) changed by the options given."""
    from desk_desktop.domain.people import parse_day_hours, parse_point
    from desk_desktop.services.catalogs import load_catalogs, resolve_key

    a = ctx.args
    problems: list[str] = []
    changes: dict[str, Any] = {k: getattr(a, k) for k in ("name", "email", "phone") if getattr(a, k) is not None}
    skills = dict(base.skills)
    removed = getattr(a, "remove_skill", [])
    if removed:
        entries = load_catalogs(uow=ctx.uow(), actor=actor).entries[SKILLS.word]
        for name in removed:
            key = resolve_key(entries, name) or name
            if skills.pop(key, None) is None:
                problems.append(f"--remove-skill: the technician has no skill '{name}'.")
    skills.update(_skill_keys(ctx, actor, a.skill, problems))
    changes["skills"] = skills
    hours = None if getattr(a, "clear_hours", False) else (dict(base.working_hours) if base.working_hours else None)
    for text in a.hours:
        try:
            day, intervals = parse_day_hours(text)
        except ValueError as exc:
            problems.append(f"--hours: {exc}")
            continue
        hours = hours or {}
        if intervals:
            hours[day] = intervals
        else:
            hours.pop(day, None)
    changes["working_hours"] = hours
    if a.home is not None:
        try:
            changes["home_base"] = parse_point(a.home)
        except ValueError as exc:
            problems.append(f"--home: {exc}")
    if a.max_open is not None:
        changes["max_open_work_orders"] = a.max_open
    if a.inactive:
        changes["active"] = False
    elif getattr(a, "active", False):
        changes["active"] = True
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        raise _Invalid(1)
    return replace(base, **changes)


def technician_json(t) -> dict:
    d = t.data
    return {"id": t.id, "name": d.name, "email": d.email, "phone": d.phone, "active": d.active,
            "skills": d.skills, "working_hours": {k: [list(i) for i in v] for k, v in (d.working_hours or {}).items()}
            if d.working_hours is not None else None,
            "home_base": list(d.home_base) if d.home_base else None, "max_open_work_orders": d.max_open_work_orders}


def _point_text(point) -> str:
    return f"{point[0]:.6f},{point[1]:.6f}" if point else "—"


def technician_text(t, cats) -> str:
    """The technician for a person at a terminal: catalog names (``cats``), not keys."""
    from desk_desktop.domain.people import DAYS, format_day

    d = t.data
    hours = d.working_hours
    lines = [f"Technician {t.id}: {d.name}{'' if d.active else ' (inactive)'}",
             f"  e-mail     {d.email or '—'}", f"  phone      {d.phone or '—'}",
             "  skills     " + (", ".join(f"{cats.name(SKILLS, k)} {v}" for k, v in sorted(d.skills.items())) or "—"),
             f"  home base  {_point_text(d.home_base)}",
             f"  max open   {d.max_open_work_orders}",
             "  hours      " + ("not set" if hours is None else "")]
    if hours is not None:
        lines[-1] += "  ".join(f"{day} {format_day(hours.get(day))}" for day in DAYS)
    return "\n".join(lines)


def _catalogs(ctx: CliContext, actor):
    from desk_desktop.services.catalogs import load_catalogs

    return load_catalogs(uow=ctx.uow(), actor=actor)


def tech_list(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, slug = _actor(ctx)
    cats = _catalogs(ctx, actor)
    rows = people.search_technicians(uow=ctx.uow(), actor=actor, text=ctx.args.search,
                                     include_inactive=ctx.args.all, limit=ctx.args.limit)
    lines = [f"{len(rows)} technician(s) in {slug}:"] + [
        f"{r.id:>6}  {r.name}{'' if r.active else ' (inactive)'} — {', '.join(cats.names(SKILLS, r.skills)) or 'no skills'}; "
        f"{r.open_jobs} open; today {r.today_hours}" + (f", away ({r.away_today})" if r.away_today else "") for r in rows]
    ctx.emit({"organization": slug, "technicians": [asdict(r) for r in rows]}, "\n".join(lines))
    return 0


def tech_show(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, _ = _actor(ctx)
    t = people.get_technician(uow=ctx.uow(), actor=actor, technician_id=ctx.args.id)
    ctx.emit(technician_json(t), technician_text(t, _catalogs(ctx, actor)))
    return 0


def tech_add(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, slug = _actor(ctx)
    data = _technician_data(ctx, actor, people.TechnicianData(name=ctx.args.name))
    tid = _written(lambda: people.add_technician(uow=ctx.uow(), actor=actor, data=data))
    ctx.emit({"organization": slug, "id": tid}, f"Added technician {tid}: {data.name.strip()}.")
    return 0


def tech_update(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, _ = _actor(ctx)
    old = people.get_technician(uow=ctx.uow(), actor=actor, technician_id=ctx.args.id)
    data = _technician_data(ctx, actor, old.data)
    _written(lambda: people.update_technician(uow=ctx.uow(), actor=actor, technician_id=old.id, data=data))
    new = people.get_technician(uow=ctx.uow(), actor=actor, technician_id=old.id)
    ctx.emit(technician_json(new), f"Updated technician {old.id}.\n{technician_text(new, _catalogs(ctx, actor))}")
    return 0


TECHNICIAN = {"list": tech_list, "show": tech_show, "add": tech_add, "update": tech_update}


# ---- customers -------------------------------------------------------------------------------

def parse_site(text: str):
    """``REF|NAME|ADDRESS[|LAT,LON]`` → SiteData (ValueError with a readable message)."""
    from desk_desktop.domain.people import parse_point
    from desk_desktop.services.people import SiteData

    parts = [p.strip() for p in text.split("|")]
    if len(parts) not in (3, 4):
        raise ValueError(f"'{text}' is not REF|NAME|ADDRESS or REF|NAME|ADDRESS|LAT,LON.")
    return SiteData(ref=parts[0], name=parts[1], address=parts[2],
                    location=parse_point(parts[3]) if len(parts) == 4 else None)


def _customer_data(ctx: CliContext, actor, base):
    from desk_desktop.domain.catalogs import CUSTOMER_TYPES
    from desk_desktop.services.catalogs import load_catalogs, resolve_key

    a = ctx.args
    changes: dict[str, Any] = {k: getattr(a, k) for k in ("ref", "name", "email", "phone") if getattr(a, k) is not None}
    if a.type is not None:
        entries = load_catalogs(uow=ctx.uow(), actor=actor).entries[CUSTOMER_TYPES.word]
        changes["customer_type"] = resolve_key(entries, a.type) or a.type
    existing = {s.ref: s for s in base.sites}
    sites = []
    problems = []
    for text in a.site:
        try:
            site = parse_site(text)
        except ValueError as exc:
            problems.append(f"--site: {exc}")
            continue
        old = existing.get(site.ref)
        sites.append(replace(site, id=old.id) if old is not None else site)
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        raise _Invalid(1)
    changes["sites"] = tuple(sites)
    return replace(base, **changes)


def customer_json(c) -> dict:
    d = c.data
    return {"id": c.id, "ref": d.ref, "name": d.name, "customer_type": d.customer_type, "email": d.email,
            "phone": d.phone, "sites": [{"id": s.id, "ref": s.ref, "name": s.name, "address": s.address,
                                         "location": list(s.location) if s.location else None} for s in d.sites]}


def customer_text(c, cats) -> str:
    d = c.data
    lines = [f"Customer {c.id}: {d.ref} {d.name} ({cats.name(CUSTOMER_TYPES, d.customer_type)})",
             f"  e-mail  {d.email or '—'}", f"  phone   {d.phone or '—'}", f"  {len(d.sites)} site(s):"]
    lines += [f"    {s.ref}  {s.name} — {s.address}" + (f" ({s.location[0]:.6f},{s.location[1]:.6f})"
                                                        if s.location else " (no location)") for s in d.sites]
    return "\n".join(lines)


def cust_list(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, slug = _actor(ctx)
    rows = people.search_customers(uow=ctx.uow(), actor=actor, text=ctx.args.search, limit=ctx.args.limit)
    cats = _catalogs(ctx, actor)
    lines = [f"{len(rows)} customer(s) in {slug}:"] + [
        f"{r.id:>6}  {r.ref}  {r.name} ({cats.name(CUSTOMER_TYPES, r.customer_type)}) — {r.sites} site(s)" for r in rows]
    ctx.emit({"organization": slug, "customers": [asdict(r) for r in rows]}, "\n".join(lines))
    return 0


def cust_show(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, _ = _actor(ctx)
    c = people.get_customer(uow=ctx.uow(), actor=actor, customer_id=ctx.args.id)
    ctx.emit(customer_json(c), customer_text(c, _catalogs(ctx, actor)))
    return 0


def cust_add(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, slug = _actor(ctx)
    data = _customer_data(ctx, actor, people.CustomerData(ref="", name="", customer_type=""))
    cid = _written(lambda: people.add_customer(uow=ctx.uow(), actor=actor, data=data))
    ctx.emit({"organization": slug, "id": cid},
             f"Added customer {cid}: {data.ref.strip()} {data.name.strip()} with {len(data.sites)} site(s).")
    return 0


def cust_update(ctx: CliContext) -> int:
    from desk_desktop.services import people

    actor, _ = _actor(ctx)
    old = people.get_customer(uow=ctx.uow(), actor=actor, customer_id=ctx.args.id)
    data = _customer_data(ctx, actor, old.data)
    _written(lambda: people.update_customer(uow=ctx.uow(), actor=actor, customer_id=old.id, data=data))
    new = people.get_customer(uow=ctx.uow(), actor=actor, customer_id=old.id)
    ctx.emit(customer_json(new), f"Updated customer {old.id}.\n{customer_text(new, _catalogs(ctx, actor))}")
    return 0


CUSTOMER = {"list": cust_list, "show": cust_show, "add": cust_add, "update": cust_update}
