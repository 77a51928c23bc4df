"""desk-desktop db upgrade|current|downgrade REV — schema migrations."""

from __future__ import annotations

from desk_desktop.cli import CliContext, CliError


def register(sub, common) -> None:
    p = sub.add_parser("db", parents=[common], help="schema migrations")
    p.add_argument("action", choices=["upgrade", "current", "downgrade"])
    p.add_argument("revision", nargs="?", help="target revision (upgrade: default head; downgrade: required)")
    p.set_defaults(func=run)


def run(ctx: CliContext) -> int:
    from desk_desktop.db import migrate

    db = ctx.database(migrate_private=False, check_schema=False)
    action = ctx.args.action
    if action == "upgrade":
        migrate.upgrade(db.engine, ctx.args.revision or "head")
    elif action == "downgrade":
        if not ctx.args.revision:
            raise CliError("downgrade needs a revision, e.g. 'desk-desktop db downgrade base'")
        migrate.downgrade(db.engine, ctx.args.revision)
    state = migrate.schema_state(db.engine)
    ctx.emit({"current": state.current, "head": state.head, "up_to_date": state.up_to_date},
             f"current: {state.current or '(empty)'}\nhead:    {state.head}"
             + ("" if state.up_to_date else "\nThe schema is not at head: run 'desk-desktop db upgrade'."))
    return 0
