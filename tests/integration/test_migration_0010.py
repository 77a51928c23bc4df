"""Migration 0010: orders in progress become on site (still open, still counted), the lifecycle
columns and the organization setting appear; the downgrade gives in-progress orders back."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db import migrate
from desk_desktop.db.session import make_engine


def _statuses(conn) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(text("SELECT work_type, status FROM work_orders ORDER BY id"))]


def _open_index(conn) -> str:
    return conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_work_orders_open_by_technician'"))\
        .scalar_one()


def test_in_progress_orders_become_on_site_and_come_back_on_downgrade(test_server):
    url = test_server.create_database("desk_mig10")
    engine = make_engine(url)
    try:
        migrate.downgrade(engine, "0009")
        with engine.begin() as conn:
            org = conn.execute(text("INSERT INTO organizations (name, slug) VALUES ('North', 'north') "
                                    "RETURNING id")).scalar_one()
            tech = conn.execute(text("INSERT INTO technicians (organization_id, name) VALUES (:o, 'Ada') "
                                     "RETURNING id"), {"o": org}).scalar_one()
            for work_type, status in (("repair", "in_progress"), ("installation", "scheduled"),
                                      ("maintenance", "completed")):
                conn.execute(text("INSERT INTO work_orders (organization_id, source, work_type, priority, status, "
                                  "technician_id) VALUES (:o, 'manual', :w, 'low', :s, :t)"),
                             {"o": org, "w": work_type, "s": status, "t": tech})

        migrate.upgrade(engine)
        with engine.begin() as conn:
            assert _statuses(conn) == [("repair", "on_site"), ("installation", "scheduled"), ("maintenance", "completed")]
            assert "'travelling'" in _open_index(conn) and "'on_site'" in _open_index(conn)
            assert "in_progress" not in _open_index(conn)
            assert conn.execute(text("SELECT auto_resolve_tickets FROM organizations")).scalar_one() is False
            conn.execute(text("UPDATE work_orders SET status = 'travelling' WHERE work_type = 'installation'"))
        with engine.begin() as conn, pytest.raises(IntegrityError, match="ck_work_orders_actual_times"):
            conn.execute(text("UPDATE work_orders SET actual_start = now(), actual_end = now() - interval '1 hour'"))
        with engine.begin() as conn, pytest.raises(IntegrityError, match="ck_work_orders_status"):
            conn.execute(text("UPDATE work_orders SET status = 'in_progress'"))

        migrate.downgrade(engine, "0009")
        with engine.connect() as conn:
            assert _statuses(conn) == [("repair", "in_progress"), ("installation", "in_progress"),
                                       ("maintenance", "completed")]
            assert "'in_progress'" in _open_index(conn)
        migrate.upgrade(engine)
    finally:
        engine.dispose()
        test_server.drop_database(url)
