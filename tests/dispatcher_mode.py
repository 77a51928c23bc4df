"""Run the integration suite connected as a dispatcher: ``DESK_TEST_AS_DISPATCHER=1``.

Under this switch the shared fixtures stop using the superuser (which bypasses
row-level security) for the code under test:

* ``uow_factory`` / ``uow`` / ``org``: the test's connection (one outer transaction,
  rolled back afterwards) switches, in ``make_org``, to a fresh login role that is a
  member of ``desk_dispatcher`` and mapped as admin of that organization
  (``SET SESSION AUTHORIZATION``: ``session_user`` *is* that role, so every policy and
  privilege applies exactly as for a real login). The role is created inside the
  test's transaction, so the rollback removes it. The first organization a test
  creates decides the identity: a later ``make_org`` creates its organization (as the
  superuser) and a dispatcher for it, then switches back. A test that works with two
  organizations over one connection therefore sees only the first one's rows — as a
  real workstation would — and acts for the other one inside ``acting_as(uow_factory,
  actor)`` (conftest), which switches the connection to that organization's dispatcher
  and back: two workstations, taking turns on one connection.
* ``fresh_db``: the URL logs in as a dispatcher role of its own (no superuser at all);
  ``make_org`` creates the organization over a separate superuser connection and maps
  that role to the first organization (later ones get roles of their own). The roles
  are dropped after the test.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ENABLED = os.environ.get("DESK_TEST_AS_DISPATCHER", "") not in ("", "0", "false", "no")

_fresh_roles: dict[str, str] = {}  # database name -> its dispatcher login role
_admin_url: dict[str, str] = {}
_org_roles: dict[tuple[str, int], str] = {}  # (database, organization id) -> its role on the test connection
_fresh_org_roles: dict[tuple[str, int], str] = {}  # (database, organization id) -> login role


# The suite's workstation scans its own uploads, as the private cluster's login does; a
# workstation that is no scanner is tested in test_security_db / test_security_files.
ROLES = "desk_dispatcher, desk_scanner"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fresh_url(test_server, url: str) -> str:
    """The URL of ``url``'s database, logging in as a new dispatcher role (mapped by make_org)."""
    from desk_desktop.services.session_info import dispatcher_url

    role = f"t_fresh_{uuid.uuid4().hex[:10]}"
    test_server._admin(f"CREATE ROLE {_q(role)} LOGIN IN ROLE {ROLES}")
    db = make_url(url).database
    _fresh_roles[db] = role
    _admin_url[db] = url
    return dispatcher_url(url, role)


def cleanup_fresh(test_server, url: str) -> None:
    db = make_url(url).database
    role = _fresh_roles.pop(db, None)
    _admin_url.pop(db, None)
    for key in [k for k in _fresh_org_roles if k[0] == db]:
        del _fresh_org_roles[key]
    if role is None:
        return
    eng = create_engine(test_server.admin_url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            roles = conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname = :r OR rolname LIKE :p"),
                                 {"r": role, "p": role + "\\_%"}).scalars().all()
    finally:
        eng.dispose()
    for r in roles:
        test_server._admin(f"DROP ROLE IF EXISTS {_q(r)}")


def make_org(uow, *, slug: str, name: str, timezone: str):
    from desk_desktop.services.common import Actor

    with uow:
        conn = uow.session.connection()
        db = conn.engine.url.database
        if db in _fresh_roles:
            org_id = _make_org_for_fresh_db(db, slug=slug, name=name, timezone=timezone)
        else:
            org_id = _make_org_on_test_connection(uow, slug=slug, name=name, timezone=timezone)
        uow.commit()
    return Actor(organization_id=org_id, name=f"admin@{slug}", is_admin=True)


def _make_org_on_test_connection(uow, *, slug: str, name: str, timezone: str) -> int:
    from desk_desktop.db.models import Organization

    s = uow.session
    superuser = s.connection().engine.url.username
    previous = s.execute(text("SELECT session_user::text")).scalar_one()
    s.execute(text(f"SET SESSION AUTHORIZATION {_q(superuser)}"))
    org = Organization(name=name, slug=slug, timezone=timezone)
    s.add(org)
    s.flush()
    role = f"t_disp_{uuid.uuid4().hex[:10]}"
    s.execute(text(f"CREATE ROLE {_q(role)} LOGIN IN ROLE {ROLES}"))
    s.execute(text("INSERT INTO dispatchers (organization_id, login_role, display_name, is_admin) "
                   "VALUES (:o, :r, :n, true)"), {"o": org.id, "r": role, "n": f"admin@{slug}"})
    target = role if previous == superuser else previous
    s.execute(text(f"SET SESSION AUTHORIZATION {_q(target)}"))
    _org_roles[(s.connection().engine.url.database, org.id)] = role
    return org.id


@contextmanager
def acting_as(uow_factory, actor, *, strict: bool = True):
    """Inside the block the test connection is ``actor``'s organization's dispatcher.

    ``strict=False``: an organization not made on the test connection (a ``fresh_db``
    test, whose URL already logs in as that organization's dispatcher) changes nothing.
    """
    with uow_factory() as uow:
        db = uow.session.connection().engine.url.database
    role = _org_roles.get((db, actor.organization_id))
    if role is None and not strict:
        yield
        return
    if role is None:
        raise AssertionError(f"organization {actor.organization_id} was not made by make_org on the test "
                             "connection (fresh_db tests connect per organization instead)")
    previous = _switch(uow_factory, role)
    try:
        yield
    finally:
        _switch(uow_factory, previous)


@contextmanager
def as_superuser(connection):
    """Set-up that only an administrator may do (ANALYZE, …) on the test connection."""
    previous = connection.execute(text("SELECT session_user::text")).scalar_one()
    connection.execute(text("RESET SESSION AUTHORIZATION"))
    try:
        yield
    finally:
        connection.execute(text(f"SET SESSION AUTHORIZATION {_q(previous)}"))


def _switch(uow_factory, role: str) -> str:
    uow = uow_factory()
    with uow:
        s = uow.session
        previous = s.execute(text("SELECT session_user::text")).scalar_one()
        s.execute(text(f"SET SESSION AUTHORIZATION {_q(role)}"))
        uow.commit()
    return previous


def _make_org_for_fresh_db(db: str, *, slug: str, name: str, timezone: str) -> int:
    base_role = _fresh_roles[db]
    eng = create_engine(_admin_url[db], poolclass=NullPool)
    try:
        with eng.begin() as conn:
            org_id = conn.execute(text("INSERT INTO organizations (name, slug, timezone) VALUES (:n, :s, :tz) "
                                       "RETURNING id"), {"n": name, "s": slug, "tz": timezone}).scalar_one()
            mapped = conn.execute(text("SELECT 1 FROM dispatchers WHERE login_role = :r"), {"r": base_role}).first()
            role = base_role
            if mapped is not None:
                role = f"{base_role}_{org_id}"
                conn.execute(text(f"CREATE ROLE {_q(role)} LOGIN IN ROLE {ROLES}"))
            conn.execute(text("INSERT INTO dispatchers (organization_id, login_role, display_name, is_admin) "
                              "VALUES (:o, :r, :n, true)"), {"o": org_id, "r": role, "n": f"admin@{slug}"})
    finally:
        eng.dispose()
    _fresh_org_roles[(db, org_id)] = role
    _fresh_org_roles[(db, slug)] = role
    return org_id


def url_as(url: str, org) -> str:
    """``url`` (a fresh_db URL) logging in as the dispatcher of ``org`` (an Actor or a slug)."""
    from desk_desktop.services.session_info import dispatcher_url

    db = make_url(url).database
    key = org if isinstance(org, str) else org.organization_id
    role = _fresh_org_roles.get((db, key))
    if role is None:
        raise AssertionError(f"organization {key!r} was not made by make_org in {db}")
    return dispatcher_url(_admin_url[db], role)


def demo_url(test_server, url: str, org_slug: str) -> str:
    """``url`` logging in as a new administrator dispatcher of organization ``org_slug``
    (the demo databases of the UI tests); ``drop_demo_role`` removes it."""
    from desk_desktop.services.session_info import dispatcher_url

    role = f"t_demo_{uuid.uuid4().hex[:10]}"
    test_server._admin(f"CREATE ROLE {_q(role)} LOGIN IN ROLE {ROLES}")
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO dispatchers (organization_id, login_role, display_name, is_admin) "
                              "SELECT id, :r, 'Demo administrator', true FROM organizations WHERE slug = :s"),
                         {"r": role, "s": org_slug})
    finally:
        eng.dispose()
    return dispatcher_url(url, role)


def drop_demo_role(test_server, url: str) -> None:
    role = make_url(url).username
    if role and role.startswith("t_demo_"):
        test_server._admin(f"DROP ROLE IF EXISTS {_q(role)}")

