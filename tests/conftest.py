"""Shared fixtures.

- ``test_server``: a throw-away PostgreSQL + PostGIS cluster started with the project's
  own cluster code (or ``DESK_TEST_DATABASE_URL``), one per test session.
- ``db_url`` / ``engine``: one migrated database for the session.
- ``uow_factory``: per-test isolation — an outer transaction rolled back after the test,
  sessions joined with ``join_transaction_mode="create_savepoint"``.
- ``fresh_db``: a separate migrated database for tests that need real commits and real
  concurrent connections (dropped afterwards).
- ``org``: an organization in the test's transaction, as an admin ``Actor``.
- No test reaches the internet (tests/local_net.py): map tiles come from a local tile
  server (``DESK_TILE_URL``, ``hermetic_settings()``), the web engine's other requests
  end in a local trap, and a test whose process or web engine tried a non-local
  address fails.
"""

from __future__ import annotations

import itertools
import os
from contextlib import contextmanager
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

import pytest  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from desk_desktop.db.session import UnitOfWorkFactory, make_engine  # noqa: E402
from tests.local_net import OutboundTrap, SocketGuard, TileServer  # noqa: E402

_net: dict = {}


def pytest_configure(config):
    """Before any QApplication exists: local tiles and the outbound trap for every web
    engine of the session (GUI processes the tests start inherit the environment)."""
    _net["tiles"] = TileServer().start()
    _net["trap"] = OutboundTrap().start()
    _net["guard"] = SocketGuard()
    os.environ["DESK_TILE_URL"] = _net["tiles"].url_template
    os.environ["DESK_TILE_ATTRIBUTION"] = "test tiles"
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] += " " + _net["trap"].chromium_flags


def pytest_unconfigure(config):
    for key in ("tiles", "trap"):
        if key in _net:
            _net.pop(key).stop()


@pytest.fixture(scope="session", autouse=True)
def socket_guard():
    """This process's connections to non-local addresses are refused and remembered."""
    guard = _net["guard"]
    guard.install()
    yield guard
    guard.uninstall()


@pytest.fixture(scope="session")
def outbound_trap():
    """Where every web engine's requests for non-local hosts end (remembered)."""
    return _net["trap"]


@pytest.fixture(autouse=True)
def _no_internet(socket_guard, outbound_trap):
    """Fail the test if it (or a web engine it ran) tried to reach a non-local address."""
    socket_guard.take()
    outbound_trap.take()
    yield
    tried = socket_guard.take() + outbound_trap.take()
    if tried:
        pytest.fail(f"the test tried to reach the internet: {sorted(set(tried))}", pytrace=False)


def local_tile_url() -> str:
    """The session's local tile server (an OpenStreetMap-style URL template)."""
    return _net["tiles"].url_template


def hermetic_settings(**overrides):
    """``Settings`` for a test: local map tiles; anything else as given."""
    from desk_desktop.config import Settings

    overrides.setdefault("tile_url", local_tile_url())
    overrides.setdefault("tile_attribution", "test tiles")
    return Settings(**overrides)


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
    from desk_desktop.services.common import Actor
    from tests import dispatcher_mode

    if dispatcher_mode.ENABLED:  # DESK_TEST_AS_DISPATCHER=1: see tests/dispatcher_mode.py
        return dispatcher_mode.make_org(uow, slug=slug, name=name, timezone=timezone)
    with uow:
        org = Organization(name=name, slug=slug, timezone=timezone)
        uow.session.add(org)
        uow.session.flush()
        org_id = org.id
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


@contextmanager
def demo_database(test_server, prefix: str, **demo_options):
    """A new database holding the demo organization (``load_demo(**demo_options)``).

    Yields ``(url, summary)``. Connected as a dispatcher (``DESK_TEST_AS_DISPATCHER=1``)
    the URL logs in as an administrator dispatcher of the demo organization (no
    superuser), as a dispatcher's workstation would; otherwise as the superuser.
    """
    from desk_desktop.services.demo import load_demo
    from tests import dispatcher_mode

    admin_url = test_server.create_database(prefix)
    engine = make_engine(admin_url)
    try:
        summary = load_demo(uow_factory=UnitOfWorkFactory(engine), **demo_options)
    finally:
        engine.dispose()
    url = dispatcher_mode.demo_url(test_server, admin_url, summary.organization_slug) \
        if dispatcher_mode.ENABLED else admin_url
    try:
        yield url, summary
    finally:
        test_server.drop_database(admin_url)
        dispatcher_mode.drop_demo_role(test_server, url)


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
def db(fresh_db):
    """``(url, uow_factory)`` of a fresh database (real commits, real connections)."""
    engine = make_engine(fresh_db)
    yield fresh_db, UnitOfWorkFactory(engine)
    engine.dispose()


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 recording what it receives (tests/smtp_recorder.py)."""
    from tests.smtp_recorder import SmtpRecorder

    rec = SmtpRecorder().start()
    yield rec
    rec.stop()


def registry(port: int, **smtp_settings):
    """The inbox and e-mail channels, e-mail going to the local SMTP server on ``port``."""
    from desk_desktop.config import SmtpSettings
    from desk_desktop.services.channels import ChannelRegistry, EmailChannel, InboxChannel

    smtp_settings.setdefault("timeout", 5)
    return ChannelRegistry([InboxChannel(), EmailChannel(SmtpSettings(host="127.0.0.1", port=port, **smtp_settings))])


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between (lat, lon) points on a sphere of radius
    6,371,008.8 m — computed independently of PostGIS."""
    import math

    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class AddedCustomer:
    id: int
    ref: str


_customer_numbers = itertools.count(1)


def add_customer(uow_factory, actor, *, ref: str | None = None, name: str | None = None,
                 customer_type: str = "business", email: str | None = None) -> AddedCustomer:
    """A customer of ``actor``'s organization (committed through a unit of work)."""
    from desk_desktop.db.models import Customer

    n = next(_customer_numbers)
    ref = ref or f"CU{n:05d}"
    with uow_factory() as uow:
        customer = Customer(organization_id=actor.organization_id, ref=ref, name=name or f"Customer {n}",
                            customer_type=customer_type, email=email or f"{ref.lower()}@example.com")
        uow.session.add(customer)
        uow.session.flush()
        added = AddedCustomer(customer.id, ref)
        uow.commit()
    return added


def new_ticket(uow_factory, actor, *, category: str = "hvac", priority: str = "medium", subject: str | None = None,
               **fields):
    """A ticket made the way users make them: the public ``create_ticket`` (numbering,
    automation, the real fast path). ``fields``: customer_ref or customer_id, tags, lat,
    lon, site_ref, now, … Returns its ``TicketCreated``."""
    from desk_desktop.services.tickets import create_ticket

    return create_ticket(uow=uow_factory(), actor=actor, subject=subject or f"{category} problem",
                         category=category, priority=priority, **fields)


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


def run_together(target, args_per_process, *, timeout: float = 300) -> list:
    """One spawned process per tuple of ``args_per_process``, all released at the same moment:
    each runs ``target(*args, start, out)``, waits for ``start`` and puts one result on ``out``.
    Returns the results (in arrival order) once every process exited cleanly."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in args_per_process]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return results
