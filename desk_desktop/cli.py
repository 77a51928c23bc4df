"""Headless subcommands. Never imports Qt (checked by import-linter).

Each area lives in ``desk_desktop/commands/<area>.py`` with ``register(subparsers)``;
commands get a ``CliContext`` that opens the database lazily. ``--json`` commands print
exactly one JSON document on stdout; errors go to stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from desk_desktop import APP_NAME, __version__

# One module per area; each defines register(subparsers).
COMMAND_MODULES = [
    "desk_desktop.commands.server",
    "desk_desktop.commands.db",
    "desk_desktop.commands.bench",
    "desk_desktop.commands.attachments",
    "desk_desktop.commands.demo",
    "desk_desktop.commands.admin",
    "desk_desktop.commands.scheduler",
    "desk_desktop.commands.tickets",
    "desk_desktop.commands.imports",
    "desk_desktop.commands.rules",
]


class CliError(Exception):
    """A failure the person at the terminal can act on (printed, exit status 1)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CliContext:
    def __init__(self, args: argparse.Namespace) -> None:
        from desk_desktop.config import load_settings

        self.args = args
        settings = load_settings()
        if getattr(args, "database_url", None):
            settings = settings.with_database_url(args.database_url)
        self.settings = settings
        self._db = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def database(self, **kw: Any):
        if self._db is None:
            from desk_desktop.bootstrap import open_database

            self._db = open_database(self.settings, **kw)
        return self._db

    def uow(self):
        return self.database().uow_factory()

    def emit(self, data: Any, human: str | None = None) -> None:
        if self.json:
            json.dump(data, sys.stdout, default=str, indent=2)
            sys.stdout.write("\n")
        elif human is not None:
            print(human)

    def close(self) -> None:
        if self._db is not None:
            # A CLI command never stops a cluster a GUI is using; it stops only one it started
            # itself and nobody else holds.
            self._db.close()
            self._db = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="desk-desktop", description=f"{APP_NAME} {__version__}")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="shared server URL (default: DESK_DATABASE_URL, else the private cluster)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from desk_desktop.config import SettingsError

    try:
        ctx = CliContext(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = args.func(ctx)
        return int(result or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # domain errors carry a readable message
        from desk_desktop.db.local_cluster import ClusterError
        from desk_desktop.db.migrate import SchemaMismatch
        from desk_desktop.services.common import DeskError

        if isinstance(exc, (DeskError, ClusterError, SchemaMismatch)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            print(f"error: cannot reach the database: {exc.orig}", file=sys.stderr)
            return 1
        raise
    finally:
        ctx.close()
