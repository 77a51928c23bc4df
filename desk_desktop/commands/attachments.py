"""desk-desktop attachment add|get|list|rescan — files on tickets from the command line.

    desk-desktop attachment add --ticket NUMBER [--public] FILE ...
    desk-desktop attachment get ID --out PATH [--override --reason TEXT]
    desk-desktop attachment list --ticket NUMBER
    desk-desktop attachment rescan [--limit N]

Connected as a dispatcher login, the command acts as that dispatcher (row-level security
applies). Connected as the owner or a superuser (administration, scripts), it acts as an
administrator of the ticket's organization named after the operating-system user
(``cli:<user>``), which is what the audit trail shows.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from desk_desktop.cli import CliContext, CliError, Progress, show_progress


def register(sub, common) -> None:
    p = sub.add_parser("attachment", help="attach files to tickets, download them")
    asub = p.add_subparsers(dest="attachment_command", metavar="ACTION")
    asub.required = True

    a = asub.add_parser("add", parents=[common], help="attach files to a ticket (streamed, scanned)")
    a.add_argument("--ticket", required=True, metavar="NUMBER", help="ticket number, e.g. T-2026-00042")
    a.add_argument("--org", metavar="SLUG", help="organization, when the same number exists in several")
    a.add_argument("--public", action="store_true", help="visible to the customer (default: internal)")
    a.add_argument("--allow-executables", action="store_true",
                   help="accept honestly named programs and scripts (never disguised ones)")
    a.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    a.add_argument("files", nargs="+", metavar="FILE")
    a.set_defaults(func=run_add)

    g = asub.add_parser("get", parents=[common], help="download an attachment (counted)")
    g.add_argument("id", type=int, metavar="ID")
    g.add_argument("--out", required=True, metavar="PATH", help="file to write, or an existing folder")
    g.add_argument("--override", action="store_true", help="administrator override for a quarantined file")
    g.add_argument("--reason", help="why the override is needed (recorded in the audit trail)")
    g.set_defaults(func=run_get)

    li = asub.add_parser("list", parents=[common], help="attachments of a ticket")
    li.add_argument("--ticket", required=True, metavar="NUMBER")
    li.add_argument("--org", metavar="SLUG")
    li.set_defaults(func=run_list)

    r = asub.add_parser("rescan", parents=[common], help="scan files still waiting for the virus scanner")
    r.add_argument("--limit", type=int, default=100)
    r.set_defaults(func=run_rescan)


def _cli_actor(org_id: int, ctx: CliContext | None = None):
    """The dispatcher this connection logs in as, when it is one (row-level security then
    decides what it may do); otherwise (owner/superuser connection) an administrator of
    the organization named after the operating-system user."""
    from desk_desktop.services.common import Actor
    from desk_desktop.services.session_info import NotADispatcher, current_actor

    if ctx is not None:
        try:
            actor = current_actor(uow=ctx.uow())
        except NotADispatcher:
            actor = None
        if actor is not None and actor.organization_id == org_id:
            return actor
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 — no user name in some containers
        user = "unknown"
    return Actor(organization_id=org_id, name=f"cli:{user}"[:100], is_admin=True)


def _resolve_ticket(ctx: CliContext, number: str, org_slug: str | None):
    """(actor, ticket_id, ticket_number) for a ticket number, across organizations."""
    from sqlalchemy import text

    from desk_desktop.services.tickets import get_ticket_or_raise, normalize_number

    wanted = normalize_number(number)
    uow = ctx.uow()
    with uow:
        sql = ("SELECT t.id, t.number, t.organization_id, o.slug FROM tickets t "
               "JOIN organizations o ON o.id = t.organization_id WHERE t.number = :n")
        params: dict[str, Any] = {"n": wanted}
        if org_slug:
            sql += " AND o.slug = :s"
            params["s"] = org_slug
        rows = uow.session.execute(text(sql), params).all()
    if not rows:
        where = f" in organization '{org_slug}'" if org_slug else ""
        raise CliError(f"Ticket {wanted} was not found{where}.")
    if len(rows) > 1:
        slugs = ", ".join(sorted(r.slug for r in rows))
        raise CliError(f"Ticket {wanted} exists in several organizations ({slugs}); choose one with --org SLUG.")
    row = rows[0]
    actor = _cli_actor(row.organization_id, ctx)
    detail = get_ticket_or_raise(uow=ctx.uow(), actor=actor, number=row.number)
    return actor, detail.id, detail.number


def _as_dict(info) -> dict[str, Any]:
    return {
        "id": info.id, "ticket_id": info.ticket_id, "original_name": info.original_name,
        "safe_name": info.safe_name, "size": info.size, "sha256": info.sha256, "mime_type": info.mime_type,
        "category": info.category, "extension_mismatch": info.extension_mismatch, "is_public": info.is_public,
        "scan_status": info.scan_status, "scan_signature": info.scan_signature, "scan_reason": info.scan_reason,
        "quarantined": info.quarantined, "has_thumbnail": info.has_thumbnail,
        "thumbnail_error": info.thumbnail_error, "deduplicated": info.deduplicated,
        "uploaded_by": info.uploaded_by, "uploaded_at": info.uploaded_at,
        "download_count": info.download_count, "last_downloaded_at": info.last_downloaded_at,
        "last_downloaded_by": info.last_downloaded_by,
    }


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def _line(info) -> str:
    flags = ["public" if info.is_public else "private"]
    if info.extension_mismatch:
        flags.append("EXTENSION MISMATCH")
    if info.deduplicated:
        flags.append("same content as an earlier upload")
    if info.thumbnail_error and info.category == "image" and info.scan_status == "clean":
        flags.append(f"no thumbnail: {info.thumbnail_error}")
    from desk_desktop.domain.filetypes import display_name

    return (f"#{info.id}  {display_name(info.original_name)}  {info.category}  {info.mime_type}  "
            f"{_size(info.size)}  scan: {info.status_text}  [{', '.join(flags)}]")


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # the service reports the missing file


def run_add(ctx: CliContext) -> int:
    from desk_desktop.services import attachments
    from desk_desktop.services.common import DeskError
    from desk_desktop.services.scanning import scanner_from_settings

    actor, ticket_id, number = _resolve_ticket(ctx, ctx.args.ticket, ctx.args.org)
    scanner = scanner_from_settings(ctx.settings)
    added: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for path in ctx.args.files:
        bar = Progress(_file_size(path), unit=f"MiB  {os.path.basename(path)}", scale=2**20,
                       enabled=show_progress(ctx))
        try:
            info = attachments.add_attachment(
                uow_factory=ctx.database().uow_factory, actor=actor, ticket_id=ticket_id, source=path,
                is_public=ctx.args.public, scanner=scanner, allow_executables=ctx.args.allow_executables,
                progress=lambda done, _total, bar=bar: bar.update(done),
            )
        except DeskError as exc:
            errors.append({"file": path, "error": str(exc)})
            print(f"error: {path}: {exc}", file=sys.stderr)
            continue
        bar.update(info.size, final=True)
        added.append(_as_dict(info))
        if not ctx.json:
            print(_line(info))
    if ctx.json:
        ctx.emit({"ticket": number, "attachments": added, "errors": errors})
    return 1 if errors else 0


def run_get(ctx: CliContext) -> int:
    from sqlalchemy import text

    from desk_desktop.services import attachments

    uow = ctx.uow()
    with uow:
        org_id = uow.session.execute(text("SELECT organization_id FROM attachments WHERE id = :a"),
                                     {"a": ctx.args.id}).scalar()
    if org_id is None:
        raise CliError(f"Attachment {ctx.args.id} does not exist.")
    if ctx.args.override and not ctx.args.reason:
        raise CliError("--override needs --reason TEXT (it is recorded in the audit trail).")
    res = attachments.download_attachment(
        uow_factory=ctx.database().uow_factory, actor=_cli_actor(org_id, ctx), attachment_id=ctx.args.id,
        dest=ctx.args.out, admin_override=ctx.args.override, reason=ctx.args.reason,
    )
    ctx.emit(
        {"id": res.attachment_id, "path": res.path, "size": res.size, "sha256": res.sha256,
         "safe_name": res.safe_name, "download_count": res.download_count, "override": res.override},
        f"Saved {_size(res.size)} to {res.path} (download #{res.download_count}"
        + (", quarantine override" if res.override else "") + ")",
    )
    return 0


def run_list(ctx: CliContext) -> int:
    from desk_desktop.services import attachments

    actor, ticket_id, number = _resolve_ticket(ctx, ctx.args.ticket, ctx.args.org)
    infos = attachments.list_attachments(uow=ctx.uow(), actor=actor, ticket_id=ticket_id)
    human = "\n".join(_line(i) + f"  downloads: {i.download_count}" for i in infos) or f"No attachments on {number}."
    ctx.emit({"ticket": number, "attachments": [_as_dict(i) for i in infos]}, human)
    return 0


def run_rescan(ctx: CliContext) -> int:
    from desk_desktop.services import attachments
    from desk_desktop.services.scanning import scanner_from_settings

    scanner = scanner_from_settings(ctx.settings)
    if not scanner.ping():
        raise CliError(f"The virus scanner at {scanner.address} does not answer; files stay pending.")
    n = attachments.rescan_pending(uow_factory=ctx.database().uow_factory, scanner=scanner, limit=ctx.args.limit)
    ctx.emit({"scanned": n}, f"Scanned {n} pending file(s).")
    return 0
