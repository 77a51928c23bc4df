"""Migrations are the only way the schema changes: they round-trip and match the models."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import inspect, text

from desk_desktop.db import migrate
from desk_desktop.db.models import Base
from desk_desktop.db.session import make_engine


@pytest.fixture
def empty_engine(test_server):
    url = test_server.create_empty_database()
    eng = make_engine(url)
    yield eng
    eng.dispose()
    test_server.drop_database(url)


def test_upgrade_downgrade_upgrade_on_empty_database(empty_engine):
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert {"tickets", "work_orders", "ticket_work_order_rules", "blob_chunks", "audit_log"} <= tables

    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    empty_engine.dispose()
    remaining = set(inspect(empty_engine).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
    assert remaining == set()

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()


def test_models_and_migrations_agree(engine):
    def include(obj, name, type_, reflected, compare_to):
        if type_ == "table" and name == "spatial_ref_sys":
            return False
        return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)

    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Computed default … cannot be modified" is informational
        ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_spatial_columns_have_gist_indexes(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT c.relname AS table, a.attname AS column,
                   EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                           JOIN pg_am am ON am.oid = ic.relam
                           WHERE i.indrelid = c.oid AND a.attnum = ANY(i.indkey) AND am.amname = 'gist') AS has_gist
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND format_type(a.atttypid, a.atttypmod) LIKE 'geography%'
        """)).all()
    assert rows, "expected geography columns"
    assert all(r.has_gist for r in rows), [r for r in rows if not r.has_gist]


def test_shared_server_with_old_schema_is_refused_with_the_command_to_run(empty_engine):
    with pytest.raises(migrate.SchemaMismatch, match="desk-desktop db upgrade"):
        migrate.check_schema(empty_engine)
    migrate.upgrade(empty_engine)
    migrate.check_schema(empty_engine)  # now fine
    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(migrate.SchemaMismatch, match="newer"):
        migrate.check_schema(empty_engine)
