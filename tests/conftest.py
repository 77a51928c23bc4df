"""Shared fixtures.

- ``test_server``: a throw-away PostgreSQL + PostGIS cluster started with the project's
  own cluster code (or ``DESK_TEST_DATABASE_URL``), one per test session.
- ``db_url`` / ``engine``: one migrated database for the session.
- ``uow_factory``: per-test isolation — an outer transaction rolled back after the test,
  sessions joined with ``join_transaction_mode="create_savepoint"``.
- ``fresh_db``: a separate migrated database for tests that need real commits and real
  concurrent connections (dropped afterwards).
- ``org``: an organization in the test's transaction, as an admin ``Actor``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

import pytest  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from desk_desktop.db.session import UnitOfWorkFactory, make_engine  # noqa: E402


@pytest.fixture(scope="session")
def test_server():
    from tests.dbutil import TestServer

    server = TestServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def db_url(test_server):
    url = test_server.create_database("desk_session")
    yield url


@pytest.fixture(scope="session")
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine):
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def uow_factory(connection):
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    return UnitOfWorkFactory(session_factory=factory)


@pytest.fixture
def uow(uow_factory):
    return uow_factory()


@pytest.fixture
def fresh_db(test_server):
    """A separate migrated database URL for tests that commit for real."""
    url = test_server.create_database("desk_fresh")
    from tests import dispatcher_mode

    yield dispatcher_mode.fresh_url(test_server, url) if dispatcher_mode.ENABLED else url
    test_server.drop_database(url)
    dispatcher_mode.cleanup_fresh(test_server, url)


def make_org(uow, *, slug: str = "acme", name: str = "Acme Field Services", timezone: str = "UTC"):
    from desk_desktop.db.models import Organization
    from desk_desktop.services import numbering
    from desk_desktop.services.common import Actor
    from tests import dispatcher_mode

    if dispatcher_mode.ENABLED:  # DESK_TEST_AS_DISPATCHER=1: see tests/dispatcher_mode.py
        return dispatcher_mode.make_org(uow, slug=slug, name=name, timezone=timezone)
    with uow:
        org = Organization(name=name, slug=slug, timezone=timezone)
        uow.session.add(org)
        uow.session.flush()
        org_id = org.id
        numbering.add_default_format(uow, org_id)
        uow.commit()
    return Actor(organization_id=org_id, name=f"admin@{slug}", is_admin=True)


@contextmanager
def acting_as(uow_factory, actor, *, strict: bool = True):
    """Act for ``actor``'s organization inside the block.

    Connected as a superuser (the default) this changes nothing. Connected as a
    dispatcher (``DESK_TEST_AS_DISPATCHER=1``) the test connection is the first
    organization's dispatcher, who can neither see nor write another organization's
    rows; tests that set up a second organization do that set-up as its own dispatcher.
    """
    from tests import dispatcher_mode

    if not dispatcher_mode.ENABLED:
        yield
        return
    with dispatcher_mode.acting_as(uow_factory, actor, strict=strict):
        yield


def url_as(url: str, org) -> str:
    """A ``fresh_db`` URL for ``org`` (an Actor or a slug): unchanged as a superuser;
    connected as a dispatcher, the login of that organization's dispatcher."""
    from tests import dispatcher_mode

    return dispatcher_mode.url_as(url, org) if dispatcher_mode.ENABLED else url


def connected_as_dispatcher() -> bool:
    """True when the suite runs connected as a dispatcher (DESK_TEST_AS_DISPATCHER=1)."""
    from tests import dispatcher_mode

    return dispatcher_mode.ENABLED


@contextmanager
def as_superuser(connection):
    """Administrator-only set-up (ANALYZE …) on the test connection, in either mode."""
    from tests import dispatcher_mode

    if not dispatcher_mode.ENABLED:
        yield
        return
    with dispatcher_mode.as_superuser(connection):
        yield


@pytest.fixture
def acme_with_hvac_rule(fresh_db):
    """A fresh database with organization "acme" (its admin ``Actor``), customer C-1 and one
    rule turning hvac tickets into repair orders: ``(url, engine, uow_factory, actor)``."""
    from desk_desktop.db.models import Customer
    from desk_desktop.services.rules import RuleDraft, create_rule

    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    actor = make_org(factory(), slug="acme")
    uow = factory()
    with uow:
        uow.session.add(Customer(organization_id=actor.organization_id, ref="C-1", name="Northwind",
                                 customer_type="business"))
        uow.commit()
    create_rule(uow=factory(), actor=actor, draft=RuleDraft(name="HVAC", trigger_categories=("hvac",),
                                                            wo_type="repair", wo_priority="high",
                                                            wo_duration_minutes=60))
    yield fresh_db, engine, factory, actor
    engine.dispose()


@pytest.fixture
def org(uow_factory):
    return make_org(uow_factory())


@pytest.fixture(scope="session")
def clamd():
    """A real clamd detecting the EICAR test file (tests/clamd_util.py); stop/restart-able."""
    from tests.clamd_util import ClamdServer

    server = ClamdServer()
    server.start()
    yield server
    server.close()
