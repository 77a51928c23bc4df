"""The DESK_TEST_AS_DISPATCHER harness really connects as a dispatcher (and cleans up)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services.session_info import current_actor
from tests import dispatcher_mode


def test_test_connection_switches_to_a_mapped_dispatcher_and_rollback_undoes_it(engine):
    conn = engine.connect()
    outer = conn.begin()
    try:
        uows = UnitOfWorkFactory(session_factory=sessionmaker(bind=conn, join_transaction_mode="create_savepoint"))
        first = dispatcher_mode.make_org(uows(), slug="dm-first", name="First", timezone="UTC")
        second = dispatcher_mode.make_org(uows(), slug="dm-second", name="Second", timezone="UTC")
        who = conn.execute(text("SELECT session_user::text, r.rolsuper, r.rolbypassrls FROM pg_roles r "
                                "WHERE r.rolname = session_user")).one()
        assert who[0].startswith("t_disp_") and who[1] is False and who[2] is False
        actor = current_actor(uow=uows())
        assert actor.organization_id == first.organization_id and actor.is_admin
        # The first organization decides: the second one is invisible on this connection.
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM organizations WHERE id = :i"),
                            {"i": second.organization_id}).scalar() == 0
        role = who[0]
    finally:
        outer.rollback()
    assert conn.execute(text("SELECT session_user::text")).scalar() == engine.url.username
    assert conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None
    conn.close()


def test_fresh_database_url_logs_in_as_a_dispatcher(test_server):
    url = test_server.create_database("desk_dm_fresh")
    dispatcher = dispatcher_mode.fresh_url(test_server, url)
    eng = make_engine(dispatcher)
    try:
        uows = UnitOfWorkFactory(eng)
        actor = dispatcher_mode.make_org(uows(), slug="dm-fresh", name="Fresh", timezone="UTC")
        dispatcher_mode.make_org(uows(), slug="dm-fresh-2", name="Fresh 2", timezone="UTC")
        assert current_actor(uow=uows()).organization_id == actor.organization_id
        with eng.connect() as conn:
            assert conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = session_user")).scalar() is False
            assert conn.execute(text("SELECT count(*) FROM organizations")).scalar() == 1
    finally:
        eng.dispose()
        test_server.drop_database(url)
        dispatcher_mode.cleanup_fresh(test_server, url)
    admin = make_engine(test_server.admin_url)
    try:
        with admin.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM pg_roles WHERE rolname LIKE 't\\_fresh\\_%'")).scalar()
    finally:
        admin.dispose()
    assert left == 0
