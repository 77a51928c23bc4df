"""Alembic, driven from code (no alembic.ini): upgrade, downgrade, current, schema check."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from desk_desktop.resources import migrations_path


class SchemaMismatch(RuntimeError):
    """The database schema is older or newer than this version of the app."""


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_path()))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_path()))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_state(engine: Engine) -> SchemaState:
    return SchemaState(current_revision(engine), head_revision())


def check_schema(engine: Engine) -> None:
    """Refuse to run against a shared database whose schema is not this app's."""
    state = schema_state(engine)
    if state.up_to_date:
        return
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_path()))
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    if state.current is None:
        raise SchemaMismatch(
            "The database has no Desk Dispatcher schema yet. An administrator should run: "
            "desk-desktop db upgrade --database-url <URL>"
        )
    if state.current in known:
        raise SchemaMismatch(
            f"The database schema ({state.current}) is older than this app ({state.head}). "
            "An administrator should run: desk-desktop db upgrade --database-url <URL>"
        )
    raise SchemaMismatch(
        f"The database schema ({state.current}) is newer than this app knows ({state.head}). "
        "Install the newer Desk Dispatcher release that matches the server."
    )
