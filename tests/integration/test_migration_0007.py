"""Every organization has a ticket number format: made by the database with the organization,
and given on upgrade to those that had none (ticket creation only reads it)."""

from __future__ import annotations

from sqlalchemy import text

from desk_desktop.db import migrate


def test_an_organization_without_a_number_format_gets_the_default_on_upgrade(test_server):
    from desk_desktop.db.session import make_engine

    url = test_server.create_database("desk_mig7")
    engine = make_engine(url)
    try:
        migrate.downgrade(engine, "0006")
        with engine.begin() as conn:
            org = conn.execute(text("INSERT INTO organizations (name, slug, timezone) "
                                    "VALUES ('North', 'north', 'UTC') RETURNING id")).scalar_one()
            conn.execute(text("DELETE FROM ticket_number_sequences WHERE organization_id = :o"), {"o": org})
        migrate.upgrade(engine)
        with engine.connect() as conn:
            formats = conn.execute(text("SELECT prefix FROM ticket_number_sequences WHERE organization_id = :o"),
                                   {"o": org}).scalars().all()
        assert formats == ["TK"]
        with engine.begin() as conn:
            new = conn.execute(text("INSERT INTO organizations (name, slug, timezone) "
                                    "VALUES ('South', 'south', 'UTC') RETURNING id")).scalar_one()
            assert conn.execute(text("SELECT prefix FROM ticket_number_sequences WHERE organization_id = :o"),
                                {"o": new}).scalars().all() == ["TK"]
    finally:
        engine.dispose()
        test_server.drop_database(url)
