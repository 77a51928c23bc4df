"""Headless subcommands. Never imports Qt (checked by import-linter).

Each area lives in ``desk_desktop/commands/<area>.py`` with ``register(subparsers)``;
commands get a ``CliContext`` that opens the database lazily. ``--json`` commands print
exactly one JSON document on stdout; errors go to stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
import time
from enum import Enum
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
    "desk_desktop.commands.people",
    "desk_desktop.commands.catalog",
    "desk_desktop.commands.workorders",
    "desk_desktop.commands.optimize",
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
            json.dump(data, sys.stdout, default=json_value, indent=2)
            sys.stdout.write("\n")
        elif human is not None:
            print(human)

    def close(self) -> None:
        if self._db is not None:
            # A CLI command never stops a cluster a GUI is using; it stops only one it started
            # itself and nobody else holds.
            self._db.close()
            self._db = None


def json_value(value: Any) -> Any:
    """JSON for what ``json`` does not know: dates and times in ISO 8601, enums by value, the rest as text."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return str(value)


def add_password_options(parser: argparse.ArgumentParser) -> None:
    """``--password-stdin`` / ``--ask-password``: a password never goes on the command line (``ps`` shows it)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    group.add_argument("--ask-password", action="store_true", help="type the password at a prompt (asked twice)")


def read_password(args: argparse.Namespace) -> str | None:
    """The password the options above ask for, or None (the command then generates one)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: standard input gave no password")
        return password
    if args.ask_password:
        import getpass

        password = getpass.getpass("Password: ")
        if not password:
            raise CliError("no password typed")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
        return password
    return None


class Progress:
    """A one-line progress bar on stderr (``[####    ] 3/10 tickets  250/s``), drawn only when enabled.

    Commands enable it when stderr is a terminal and --json is not given (``show_progress``).
    ``scale`` turns counted units into shown ones (bytes shown as MiB: ``scale=2**20``).
    """

    def __init__(self, total: int, *, unit: str, enabled: bool, scale: float = 1) -> None:
        self.total = max(total, 1)
        self.unit = unit
        self.scale = scale
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < 0.1:
            return
        self._last = now
        bar = "#" * int(min(done / self.total, 1) * 30)
        rate = done / self.scale / max(now - self.started, 1e-6)
        amount = (f"{done}/{self.total}" if self.scale == 1
                  else f"{done / self.scale:.1f}/{self.total / self.scale:.1f}")
        sys.stderr.write(f"\r[{bar:<30}] {amount} {self.unit}  {rate:6.0f}/s")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


def show_progress(ctx: CliContext) -> bool:
    """Whether a command draws progress: on a terminal, not with --json, not with --no-progress."""
    return sys.stderr.isatty() and not ctx.json and not getattr(ctx.args, "no_progress", False)


GUI_HELP = """\
With no command, desk-desktop starts the desktop application (the GUI). GUI options:
  --self-check          verify this installation (database, query, map) and exit
  --database-url URL    connect the GUI to a shared server instead of the private database

Settings come from DESK_* environment variables and desk.toml (see the README's
configuration table); the GUI's Edit → Preferences writes desk.toml.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="desk-desktop", description=f"{APP_NAME} {__version__}",
                                     epilog=GUI_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        sys.stdout.flush()
        return int(result or 0)
    except BrokenPipeError:
        # The reader went away (`… | head`): stop quietly, with the status of a tool ended by
        # SIGPIPE; stdout goes to /dev/null so the interpreter's last flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
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
