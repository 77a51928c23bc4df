"""desk-desktop import tickets FILE.csv --org SLUG

The CSV has a header row. Columns (case-insensitive, any order):

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
each — each in its own short transaction, so other workstations are never blocked for
the length of an import.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from desk_desktop.cli import CliContext, CliError, Progress, show_progress

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
    for i, (line, args) in enumerate(zip(lines, rows, strict=True)):
        try:
            res = svc.create_ticket(uow=ctx.uow(), actor=actor, **args)
        except Exception as exc:  # something changed since validation (e.g. a customer was deleted)
            progress.update(i, final=True)
            from desk_desktop.services.common import DeskError

            reason = str(exc) if isinstance(exc, DeskError) else f"{type(exc).__name__}: {exc}"
            summary = {"file": str(path), "organization": slug, "rows": len(rows), "created": len(created),
                       "first_number": created[0] if created else None,
                       "last_number": created[-1] if created else None,
                       "errors": [{"line": line, "field": getattr(exc, "field", None), "message": reason}]}
            ctx.emit(summary, None)
            print(f"error: {path}, line {line}: {reason}. Stopped after creating {len(created)} of {len(rows)} "
                  f"tickets" + (f" ({created[0]} … {created[-1]})." if created else "."), file=sys.stderr)
            return 1
        created.append(res.ticket.number)
        if res.work_order is not None:
            work_orders += 1
        progress.update(i + 1)
    progress.update(len(rows), final=True)
    elapsed = time.monotonic() - started
    summary = {"file": str(path), "organization": slug, "rows": len(rows), "created": len(created),
               "work_orders": work_orders, "first_number": created[0], "last_number": created[-1],
               "seconds": round(elapsed, 3), "errors": []}
    ctx.emit(summary, f"Imported {len(created)} tickets into '{slug}' ({created[0]} … {created[-1]}); "
                      f"{work_orders} work order(s) created by rules; {elapsed:.1f} s.")
    return 0
