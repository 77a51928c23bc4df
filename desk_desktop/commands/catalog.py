"""desk-desktop catalog list|add|rename|retire|restore — an organization's categories, skills, customer types, work-order types.

WORD is one of: categories, skills, customer-types, work-order-types. An entry is named by
its key or its name (any case). Everyone may list; only an administrator changes a
catalog. Who is acting is decided as for ``desk-desktop ticket`` (``--org`` as there).
"""

from __future__ import annotations

from desk_desktop.cli import CliContext, CliError


def register(sub, common) -> None:
    p = sub.add_parser("catalog", help="list and edit categories, skills, customer types, work-order types")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION")
    csub.required = True
    word_help = "categories, skills, customer-types or work-order-types"

    li = csub.add_parser("list", parents=[common], help="the entries of a catalog, in order")
    li.add_argument("word", metavar="WORD", help=word_help)
    li.add_argument("--all", action="store_true", help="retired entries too")
    li.add_argument("--org", help="organization slug (default: your own, or the only one)")
    li.set_defaults(func=run_list)

    a = csub.add_parser("add", parents=[common], help="add an entry at the end (administrators)")
    a.add_argument("word", metavar="WORD", help=word_help)
    a.add_argument("name", metavar="NAME", help="the display name, e.g. 'Technical Support'")
    a.add_argument("--key", help="the key rows store (default: made from the name, e.g. technical_support)")
    a.add_argument("--org", help="organization slug (default: your own, or the only one)")
    a.set_defaults(func=run_add)

    r = csub.add_parser("rename", parents=[common], help="give an entry a new name (administrators)")
    r.add_argument("word", metavar="WORD", help=word_help)
    r.add_argument("entry", metavar="KEY_OR_NAME")
    r.add_argument("new_name", metavar="NEW_NAME")
    r.add_argument("--org", help="organization slug (default: your own, or the only one)")
    r.set_defaults(func=run_rename)

    for action, active, text in (("retire", False, "no longer offered; kept on the records using it"),
                                 ("restore", True, "offered again")):
        s = csub.add_parser(action, parents=[common], help=f"{text} (administrators)")
        s.add_argument("word", metavar="WORD", help=word_help)
        s.add_argument("entry", metavar="KEY_OR_NAME")
        s.add_argument("--org", help="organization slug (default: your own, or the only one)")
        s.set_defaults(func=run_set_active, active=active)


def _catalog(word: str):
    from desk_desktop.domain.catalogs import catalog_named

    try:
        return catalog_named(word)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _actor(ctx: CliContext):
    from desk_desktop.commands.tickets import resolve_actor

    return resolve_actor(ctx, ctx.args.org)


def _entry_json(e) -> dict:
    return {"key": e.key, "name": e.name, "active": e.active, "position": e.position}


def _key(ctx: CliContext, actor, catalog, text: str) -> str:
    from desk_desktop.services.catalogs import list_entries, resolve_key

    key = resolve_key(list_entries(uow=ctx.uow(), actor=actor, catalog=catalog), text)
    if key is None:
        raise CliError(f"There is no {catalog.singular} '{text}'. See: desk-desktop catalog list {catalog.word} --all")
    return key


def _done(ctx: CliContext, slug: str, catalog, entry, what: str) -> int:
    ctx.emit({"organization": slug, "catalog": catalog.word, "entry": _entry_json(entry)},
             f"{catalog.singular.capitalize()} '{entry.name}' ({entry.key}) {what} in {slug}.")
    return 0


def run_list(ctx: CliContext) -> int:
    from desk_desktop.services.catalogs import list_entries

    catalog = _catalog(ctx.args.word)
    actor, slug = _actor(ctx)
    entries = [e for e in list_entries(uow=ctx.uow(), actor=actor, catalog=catalog) if ctx.args.all or e.active]
    lines = [f"{len(entries)} {catalog.plural} in {slug}{'' if ctx.args.all else ' (active; --all shows retired ones)'}:"]
    width = max((len(e.key) for e in entries), default=0)
    lines += [f"  {e.key:<{width}}  {e.name}{'' if e.active else '  (retired)'}" for e in entries]
    ctx.emit({"organization": slug, "catalog": catalog.word, "entries": [_entry_json(e) for e in entries]},
             "\n".join(lines))
    return 0


def run_add(ctx: CliContext) -> int:
    from desk_desktop.services.catalogs import add_entry

    catalog = _catalog(ctx.args.word)
    actor, slug = _actor(ctx)
    entry = add_entry(uow=ctx.uow(), actor=actor, catalog=catalog, name=ctx.args.name, key=ctx.args.key)
    return _done(ctx, slug, catalog, entry, "added")


def run_rename(ctx: CliContext) -> int:
    from desk_desktop.services.catalogs import rename_entry

    catalog = _catalog(ctx.args.word)
    actor, slug = _actor(ctx)
    if not actor.is_admin:  # before looking the entry up: the refusal is the answer
        raise CliError("Only an administrator can change catalogs.")
    entry = rename_entry(uow=ctx.uow(), actor=actor, catalog=catalog, key=_key(ctx, actor, catalog, ctx.args.entry),
                         name=ctx.args.new_name)
    return _done(ctx, slug, catalog, entry, "renamed")


def run_set_active(ctx: CliContext) -> int:
    from desk_desktop.services.catalogs import set_active

    catalog = _catalog(ctx.args.word)
    actor, slug = _actor(ctx)
    if not actor.is_admin:
        raise CliError("Only an administrator can change catalogs.")
    entry = set_active(uow=ctx.uow(), actor=actor, catalog=catalog, key=_key(ctx, actor, catalog, ctx.args.entry),
                       active=ctx.args.active)
    return _done(ctx, slug, catalog, entry, "restored" if ctx.args.active else "retired")
