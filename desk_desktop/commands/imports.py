"""desk-desktop import tickets|technicians|absences|customers FILE.csv; desk-desktop export technicians|absences|customers FILE|-

Tickets: the CSV has a header row. Columns (case-insensitive, any order):

    customer      required  customer reference (``customer_ref`` is accepted too)
    subject       required
    category      required  hvac, electrical, plumbing, network, hardware, software, …
    priority      required  low, medium, high, urgent
    description   optional
    tags          optional  separated by ``;`` or ``,``
    site          optional  site reference of that customer (``site_ref`` accepted)
    lat, lon      optional  map position instead of a site

Every row is checked first. If any row is bad, each bad row is reported with its line
number and the reason, and NOTHING is created. Otherwise the rows are created one by one
through the ticket service — the same path as the GUI, so numbering and rules run for
each — all in ONE transaction: a failure or Ctrl+C part-way leaves nothing behind (other
workstations creating tickets wait for the import's numbers until it ends).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from desk_desktop.cli import CliContext, CliError, Progress, show_progress

PEOPLE_HELP = """Technicians and customers as CSV (the format export writes and import reads).

technicians, one row per technician (every row ADDS a technician):
  name,email,phone,active,skills,hours,home_lat,home_lon,max_open
  Ada King,ada@example.com,+49 30 1,yes,networking:4 hvac:2,mon 08:00-12:00 13:00-17:00; tue 09:00-17:00,52.52,13.4,8
  active: yes/no (blank = yes); skills: KEY:LEVEL separated by spaces (level 1-5); hours: days
  separated by ';', each 'day HH:MM-HH:MM …' in the organization's time zone (blank = not known);
  max_open blank = 8.

absences, one row per absence (time off) of a technician:
  technician,from,to,all_day,reason
  ada@example.com,2026-12-07,2026-12-09,yes,Holiday
  Ada King,2026-12-10 09:00,2026-12-10 12:00,no,Doctor
  technician: the e-mail address when it has an '@', else the name (it must be unique); from/to:
  days (to = the last day off, blank = one day) or times (YYYY-MM-DD HH:MM), in the organization's
  time zone; all_day: yes/no, blank = as written. Overlapping another absence is an error.

customers, one row per SITE (rows with the same customer_ref are one customer; its columns may be
left blank after its first row and must not differ):
  customer_ref,customer_name,customer_type,email,phone,site_ref,site_name,address,lat,lon
  A customer_ref or site_ref the organization already has is an error: an import only adds,
  it never updates (use desk-desktop customer update).

Skills and customer types may be keys or display names. Files may use ',' or ';' and be UTF-8
(with or without BOM) or Windows-1252. Every row is checked first; if any is bad, each bad row is
reported as 'line N: what is wrong' and NOTHING is imported. The import is one transaction: a
failure or Ctrl+C part-way leaves nothing behind.
"""

COLUMN_ALIASES = {
    "customer": "customer_ref",
    "customer_ref": "customer_ref",
    "subject": "subject",
    "category": "category",
    "priority": "priority",
    "description": "description",
    "tags": "tags",
    "tag": "tags",
    "site": "site_ref",
    "site_ref": "site_ref",
    "lat": "lat",
    "latitude": "lat",
    "lon": "lon",
    "lng": "lon",
    "longitude": "lon",
}
REQUIRED = ("customer_ref", "subject", "category", "priority")
MAX_REPORTED = 100


def register(sub, common) -> None:
    p = sub.add_parser("import", help="import data from files")
    isub = p.add_subparsers(dest="import_command", metavar="WHAT")
    isub.required = True
    t = isub.add_parser("tickets", parents=[common], help="create tickets from a CSV file (all rows or none)",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("file", type=Path, metavar="FILE.csv")
    t.add_argument("--org", help="organization slug (default: your own)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    t.set_defaults(func=run_tickets)
    for kind in ("technicians", "absences", "customers"):
        q = isub.add_parser(kind, parents=[common], help=f"add {kind} from a CSV file (all rows or none)",
                            description=PEOPLE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        q.add_argument("file", type=Path, metavar="FILE.csv")
        q.add_argument("--org", help="organization slug (default: your own)")
        q.add_argument("--check", action="store_true", help="only check the file and show the first rows")
        q.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
        q.set_defaults(func=run_people, kind=kind)

    e = sub.add_parser("export", help="export data to files")
    esub = e.add_subparsers(dest="export_command", metavar="WHAT")
    esub.required = True
    for kind in ("technicians", "absences", "customers"):
        q = esub.add_parser(kind, parents=[common], help=f"write the {kind} as CSV in the import format",
                            description=PEOPLE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        q.add_argument("file", metavar="FILE.csv|-", help="- writes to standard output")
        q.add_argument("--org", help="organization slug (default: your own)")
        q.set_defaults(func=run_export, kind=kind)


def read_rows(path: Path) -> tuple[list[int], list[dict]]:
    """(line numbers, rows as create_ticket arguments). Raises CliError for file-level problems."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CliError(f"{path}: no such file.") from exc
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror}).") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration as exc:
            raise CliError(f"{path} is empty: it needs a header row and at least one ticket.") from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{path}: not a readable UTF-8 CSV file ({exc}).") from exc
        names = [h.strip().lower() for h in header]
        unknown = [h for h in names if h and h not in COLUMN_ALIASES]
        if unknown:
            raise CliError(f"{path}, line 1: unknown column(s) {', '.join(unknown)}. "
                           f"Known columns: {', '.join(sorted(set(COLUMN_ALIASES)))}.")
        fields = [COLUMN_ALIASES.get(h) for h in names]
        dupes = sorted({f for f in fields if f and fields.count(f) > 1})
        if dupes:
            raise CliError(f"{path}, line 1: column(s) given twice: {', '.join(dupes)}.")
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raise CliError(f"{path}, line 1: missing required column(s) "
                           f"{', '.join('customer' if m == 'customer_ref' else m for m in missing)}.")
        lines: list[int] = []
        rows: list[dict] = []
        try:
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                if not any(v.strip() for v in values):
                    continue  # blank line
                row: dict = {"_extra": len(values) > len(fields), "_missing": len(values) < len(fields)}
                for name, value in zip(fields, values, strict=False):
                    if name is not None:
                        row[name] = value
                lines.append(start)
                rows.append(row)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{path}, line {reader.line_num}: {exc}") from exc
    if not rows:
        raise CliError(f"{path} has a header but no tickets.")
    return lines, rows


def _to_args(row: dict) -> dict:
    args = {k: row.get(k) for k in ("customer_ref", "subject", "category", "priority", "description", "tags",
                                     "site_ref", "lat", "lon")}
    for k in ("lat", "lon", "site_ref"):
        if args[k] is not None and not str(args[k]).strip():
            args[k] = None
    for k in ("lat", "lon"):
        if args[k] is not None:
            try:
                args[k] = float(args[k])
            except ValueError:
                pass  # reported by validation as "must be numbers"
    args["description"] = args["description"] or ""
    args["tags"] = args["tags"] or ""
    return args


def run_tickets(ctx: CliContext) -> int:
    from desk_desktop.commands.tickets import resolve_actor
    from desk_desktop.services import tickets as svc

    path: Path = ctx.args.file
    lines, raw_rows = read_rows(path)
    actor, slug = resolve_actor(ctx, ctx.args.org)

    problems: list[tuple[int, str | None, str]] = []
    rows = []
    for line, raw in zip(lines, raw_rows, strict=True):
        if raw["_extra"] or raw["_missing"]:
            problems.append((line, None, "the row has more fields than the header" if raw["_extra"]
                             else "the row has fewer fields than the header"))
        rows.append(_to_args(raw))
    for p in svc.validate_new_tickets(uow=ctx.uow(), actor=actor, rows=rows):
        problems.append((lines[p.index], p.field, p.message))
    problems.sort(key=lambda p: p[0])

    if problems:
        bad_lines = sorted({p[0] for p in problems})
        if ctx.json:
            ctx.emit({"file": str(path), "organization": slug, "rows": len(rows), "created": 0,
                      "bad_rows": len(bad_lines),
                      "errors": [{"line": ln, "field": f, "message": m} for ln, f, m in problems]})
        else:
            for ln, field, message in problems[:MAX_REPORTED]:
                print(f"{path}, line {ln}: {(field + ': ') if field else ''}{message}", file=sys.stderr)
            if len(problems) > MAX_REPORTED:
                print(f"… and {len(problems) - MAX_REPORTED} more problems.", file=sys.stderr)
        print(f"error: {len(bad_lines)} of {len(rows)} rows are not valid; nothing was imported.", file=sys.stderr)
        return 1

    progress = Progress(len(rows), unit="tickets", enabled=show_progress(ctx))
    created: list[str] = []
    work_orders = 0
    started = time.monotonic()
    uow = ctx.uow()
    with uow:  # one transaction: every ticket or none
        for i, (line, args) in enumerate(zip(lines, rows, strict=True)):
            try:
                res = svc.create_ticket(uow=uow, actor=actor, **args)
            except Exception as exc:  # something changed since validation (e.g. a customer was deleted)
                progress.update(i, final=True)
                from desk_desktop.services.common import DeskError

                reason = str(exc) if isinstance(exc, DeskError) else f"{type(exc).__name__}: {exc}"
                ctx.emit({"file": str(path), "organization": slug, "rows": len(rows), "created": 0,
                          "errors": [{"line": line, "field": getattr(exc, "field", None), "message": reason}]}, None)
                print(f"error: {path}, line {line}: {reason}. Nothing was imported.", file=sys.stderr)
                return 1
            created.append(res.ticket.number)
            if res.work_order is not None:
                work_orders += 1
            progress.update(i + 1)
        uow.commit()
    progress.update(len(rows), final=True)
    elapsed = time.monotonic() - started
    summary = {"file": str(path), "organization": slug, "rows": len(rows), "created": len(created),
               "work_orders": work_orders, "first_number": created[0], "last_number": created[-1],
               "seconds": round(elapsed, 3), "errors": []}
    ctx.emit(summary, f"Imported {len(created)} tickets into '{slug}' ({created[0]} … {created[-1]}); "
                      f"{work_orders} work order(s) created by rules; {elapsed:.1f} s.")
    return 0


def run_people(ctx: CliContext) -> int:
    from desk_desktop.commands.tickets import resolve_actor
    from desk_desktop.services import importing

    kind: str = ctx.args.kind
    path: Path = ctx.args.file
    actor, slug = resolve_actor(ctx, ctx.args.org)
    checked = importing.CHECK[kind](uow=ctx.uow(), actor=actor, path=path)
    base = {"file": str(path), "organization": slug, "encoding": checked.encoding, "delimiter": checked.delimiter,
            "rows": checked.rows}
    if not checked.ok:
        ctx.emit({**base, "created": 0, "errors": list(checked.problems)}, None)
        for problem in checked.problems[:MAX_REPORTED]:
            print(f"{path}, {problem}", file=sys.stderr)
        if len(checked.problems) > MAX_REPORTED:
            print(f"… and {len(checked.problems) - MAX_REPORTED} more problems.", file=sys.stderr)
        print(f"error: {len(checked.problems)} of {checked.rows} rows are not valid; nothing was imported.",
              file=sys.stderr)
        return 1
    if ctx.args.check:
        ctx.emit({**base, "created": 0, "errors": [], "preview": list(checked.preview)},
                 f"{path}: {checked.rows} rows, all valid ({checked.encoding}, '{checked.delimiter}'-separated). "
                 f"First rows:\n" + "\n".join("  " + " | ".join(r.values()) for r in checked.preview[:5]))
        return 0
    run = importing.RUN[kind]
    progress = Progress(checked.rows, unit="rows", enabled=show_progress(ctx))
    started = time.monotonic()
    created = run(uow=ctx.uow(), actor=actor, checked=checked, progress=progress.update)
    progress.update(checked.rows, final=True)
    elapsed = time.monotonic() - started
    ctx.emit({**base, "created": created, "seconds": round(elapsed, 3), "errors": []},
             f"Imported {created} {kind} from {checked.rows} rows into '{slug}'; {elapsed:.1f} s.")
    return 0


def run_export(ctx: CliContext) -> int:
    from desk_desktop.commands.tickets import resolve_actor
    from desk_desktop.services import importing

    kind: str = ctx.args.kind
    actor, slug = resolve_actor(ctx, ctx.args.org)
    export = importing.EXPORT[kind]
    if ctx.args.file == "-":
        if ctx.json:
            raise CliError("--json and '-' both write to standard output; give a file name.")
        export(uow=ctx.uow(), actor=actor, out=sys.stdout)
        return 0
    try:
        out = open(ctx.args.file, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CliError(f"{ctx.args.file}: cannot be written ({exc.strerror}).") from exc
    with out:
        count = export(uow=ctx.uow(), actor=actor, out=out)
    ctx.emit({"file": ctx.args.file, "organization": slug, kind: count},
             f"Wrote {count} {kind} of '{slug}' to {ctx.args.file}.")
    return 0
