"""Migration 0009: the skill rows get their technician's home base and one index serves every
skill; the downgrade gives back 0005's index per skill. Data survives both ways."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from desk_desktop.db import migrate
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services.assignment import fetch_candidates

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _indexes(conn) -> set[str]:
    return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename IN "
                                 "('technicians', 'technician_skills')")).scalars())


def _skill_rows(conn) -> list[tuple]:
    return conn.execute(text("SELECT technician_id, skill, proficiency FROM technician_skills "
                             "ORDER BY technician_id, skill")).all()


def test_upgrade_fills_the_copies_and_downgrade_restores_the_indexes_per_skill(test_server):
    url = test_server.create_database("desk_mig9")
    engine = make_engine(url)
    try:
        migrate.downgrade(engine, "0008")
        with engine.begin() as conn:
            assert "ix_technicians_home_base_hvac" in _indexes(conn)
            org = conn.execute(text("INSERT INTO organizations (name, slug, timezone) "
                                    "VALUES ('North', 'north', 'UTC') RETURNING id")).scalar_one()
            conn.execute(text("INSERT INTO skills (organization_id, key, name, position) "
                              "VALUES (:o, 'drone_survey', 'Drone survey', 13)"), {"o": org})
            ids = conn.execute(text("""
                INSERT INTO technicians (organization_id, name, home_base)
                VALUES (:o, 'Near', CAST('POINT(2.35 48.85)' AS geography)),
                       (:o, 'Far', CAST('POINT(2.45 48.95)' AS geography)),
                       (:o, 'Nowhere', NULL)
                RETURNING id"""), {"o": org}).scalars().all()
            for tid in ids:
                conn.execute(text("INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency) "
                                  "VALUES (:o, :t, 'drone_survey', 3), (:o, :t, 'hvac', 2)"), {"o": org, "t": tid})
            before = _skill_rows(conn)

        migrate.upgrade(engine)
        with engine.connect() as conn:
            indexes = _indexes(conn)
            assert "ix_technician_skills_home_base" in indexes
            assert not any(i.startswith("ix_technicians_home_base_") for i in indexes)
            assert _skill_rows(conn) == before
            copies = conn.execute(text(
                "SELECT count(*) FILTER (WHERE s.home_base IS NOT DISTINCT FROM t.home_base), count(*) "
                "FROM technician_skills s JOIN technicians t ON t.id = s.technician_id")).one()
            assert copies == (6, 6)
        with UnitOfWorkFactory(engine)() as uow:
            facts = fetch_candidates(uow, organization_id=org, location=(48.85, 2.35), required_skills=["drone_survey"],
                                     strategy="nearest", now=NOW, radius_km=50, k=10)
        assert [f.name for f in facts] == ["Near", "Far"]

        migrate.downgrade(engine, "0008")
        with engine.connect() as conn:
            indexes = _indexes(conn)
            assert {f"ix_technicians_home_base_{s}" for s in ("hvac", "gas", "carpentry")} <= indexes
            assert "ix_technician_skills_home_base" not in indexes
            assert _skill_rows(conn) == before
            assert conn.execute(text("SELECT count(*) FROM information_schema.columns WHERE "
                                     "table_name = 'technician_skills' AND column_name = 'home_base'")).scalar_one() == 0
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
        test_server.drop_database(url)
