"""Administration of a shared server: organizations and dispatcher logins.

These functions create PostgreSQL login roles, so they need an *administrator*
connection: a superuser, or a role with CREATEROLE and BYPASSRLS (row-level security
hides every organization from anybody else). ``NotAnAdministrator`` says so clearly.

A dispatcher is a login role that is a member of ``desk_dispatcher`` plus one row in
``dispatchers`` mapping it to an organization (and an admin flag). Passwords are sent to
the server already hashed (SCRAM, via libpq), so they never appear in a server log.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.common import Actor, DeskError, NotFound, ValidationFailed, audit

DISPATCHER_GROUP = "desk_dispatcher"
SCANNER_ROLE = "desk_scanner"  # may mark files clean (migration 0015)
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
LOGIN_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,62}$")
RESERVED_LOGINS = {"desk_owner", "desk_dispatcher", "public", "postgres", "desk_admin"}


class NotAnAdministrator(DeskError):
    """The connection cannot create roles or see every organization."""


class OrganizationExists(DeskError):
    pass


class DispatcherExists(DeskError):
    pass


class OrganizationNotFound(NotFound):
    pass


class DispatcherNotFound(NotFound):
    pass


@dataclass(frozen=True)
class DispatcherInfo:
    id: int
    organization_slug: str
    login: str
    display_name: str
    is_admin: bool
    active: bool
    role_exists: bool
    can_login: bool
    scanner: bool = False  # a member of desk_scanner: its scans are trusted


@dataclass(frozen=True)
class OrganizationInfo:
    id: int
    slug: str
    name: str
    timezone: str
    dispatchers: tuple[DispatcherInfo, ...] = ()


@dataclass(frozen=True)
class DispatcherCreated:
    dispatcher: DispatcherInfo
    password: str | None  # the password set (shown once when generated), None if unchanged
    generated: bool


@dataclass(frozen=True)
class DispatcherRemoved:
    login: str
    organization_slug: str
    role_dropped: bool
    sessions_ended: int


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def require_administrator(uow: UnitOfWork) -> str:
    """Raise ``NotAnAdministrator`` unless this connection can administer dispatchers."""
    row = uow.session.execute(text(
        "SELECT current_user::text AS who, rolsuper, rolcreaterole, rolbypassrls "
        "FROM pg_roles WHERE rolname = current_user")).one()
    if row.rolsuper or (row.rolcreaterole and row.rolbypassrls):
        return row.who
    raise NotAnAdministrator(
        f"The database user '{row.who}' cannot administer Desk Dispatcher: this needs a superuser "
        "(or a role with CREATEROLE and BYPASSRLS). Run it with an administrator's connection, e.g. "
        "--database-url postgresql://postgres@SERVER/desk"
    )


def _ddl(uow: UnitOfWork, sql: str) -> None:
    """A utility statement with literals in it (no bind parameters are parsed)."""
    uow.session.connection().exec_driver_sql(sql)


def _admin_actor(org_id: int, who: str) -> Actor:
    return Actor.system(org_id, name=f"administrator {who}")


def _org_row(uow: UnitOfWork, slug: str):
    row = uow.session.execute(text("SELECT id, slug, name, timezone FROM organizations WHERE slug = :s"),
                              {"s": slug}).one_or_none()
    if row is None:
        raise OrganizationNotFound(f"There is no organization '{slug}'. See: desk-desktop admin list")
    return row


def _dispatcher_infos(uow: UnitOfWork, where: str = "", params: dict | None = None) -> list[DispatcherInfo]:
    rows = uow.session.execute(text(
        "SELECT d.id, o.slug, d.login_role, d.display_name, d.is_admin, d.active, "
        "       r.rolname IS NOT NULL AS role_exists, coalesce(r.rolcanlogin, false) AS can_login, "
        "       r.rolname IS NOT NULL AND pg_has_role(r.oid, :scanner, 'MEMBER') AS scanner "
        "FROM dispatchers d JOIN organizations o ON o.id = d.organization_id "
        "LEFT JOIN pg_roles r ON r.rolname = d.login_role " + where + " ORDER BY o.slug, d.login_role"),
        {"scanner": SCANNER_ROLE, **(params or {})}).all()
    return [DispatcherInfo(r.id, r.slug, r.login_role, r.display_name, r.is_admin, r.active, r.role_exists,
                           r.can_login, r.scanner) for r in rows]


def add_organization(*, uow: UnitOfWork, slug: str, name: str, timezone: str = "UTC") -> OrganizationInfo:
    slug = (slug or "").strip().lower()
    name = (name or "").strip()
    if not SLUG_RE.match(slug):
        raise ValidationFailed("The short name (slug) may use lowercase letters, digits and '-' "
                               "(up to 60 characters), e.g. 'north-district'.", "slug")
    if not name:
        raise ValidationFailed("Give the organization a name.", "name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"Unknown time zone '{timezone}' (use e.g. 'Europe/Berlin').", "timezone") from exc
    with uow:
        who = require_administrator(uow)
        if uow.session.execute(text("SELECT 1 FROM organizations WHERE slug = :s"), {"s": slug}).first():
            raise OrganizationExists(f"An organization '{slug}' already exists.")
        org_id = uow.session.execute(
            text("INSERT INTO organizations (slug, name, timezone) VALUES (:s, :n, :tz) RETURNING id"),
            {"s": slug, "n": name, "tz": timezone}).scalar_one()
        # Its numbering format row exists from the start: only an administrator changes it.
        audit(uow, actor=_admin_actor(org_id, who), action="organization.created", entity="organization",
              entity_id=org_id, summary=f"Organization {name} ({slug}) created")
        uow.record_change("organization", org_id, org_id, "created")
        uow.commit()
    return OrganizationInfo(org_id, slug, name, timezone)


def _set_password_sql(uow: UnitOfWork, login: str, password: str) -> str:
    hashed = sql.encrypt_password(uow, login, password)  # the verifier, never the plain text
    return "PASSWORD '" + hashed.replace("'", "''") + "'"


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def add_dispatcher(*, uow: UnitOfWork, org_slug: str, login: str, display_name: str | None = None,
                   is_admin: bool = False, password: str | None = None,
                   existing_role: bool = False, scanner: bool = False) -> DispatcherCreated:
    """Create the login role (member of desk_dispatcher) and map it to the organization.

    Without ``password`` a one-time password is generated and returned (show it once).
    ``existing_role=True`` maps a role that already exists (e.g. managed elsewhere) and
    changes its password only when one is given. ``scanner=True`` makes the login a member of
    desk_scanner: the workstation's own virus scans mark files clean (for a site without a
    scanning server scheduler)."""
    login = (login or "").strip()
    if not LOGIN_RE.match(login) or login.startswith("pg_") or login in RESERVED_LOGINS:
        raise ValidationFailed("A login name uses lowercase letters, digits and '_', '.', '-' (starting with a "
                               "letter or '_', up to 63 characters), and is not a reserved name.", "login")
    if password is not None and len(password) < 8:
        raise ValidationFailed("A password needs at least 8 characters.", "password")
    generated = False
    with uow:
        who = require_administrator(uow)
        org = _org_row(uow, org_slug)
        mapped = uow.session.execute(
            text("SELECT o.slug FROM dispatchers d JOIN organizations o ON o.id = d.organization_id "
                 "WHERE d.login_role = :l"), {"l": login}).scalar_one_or_none()
        if mapped is not None:
            raise DispatcherExists(f"'{login}' is already a dispatcher of '{mapped}'. "
                                   "Remove it first to move it to another organization.")
        role = uow.session.execute(
            text("SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication, "
                 "array(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                 "      WHERE m.member = r.oid AND g.rolname NOT IN (:group, :scanner) ORDER BY 1) AS member_of "
                 "FROM pg_roles r WHERE r.rolname = :l"),
            {"l": login, "group": DISPATCHER_GROUP, "scanner": SCANNER_ROLE}).one_or_none()
        if role is not None and (role.rolsuper or role.rolbypassrls):
            raise ValidationFailed(f"'{login}' is a superuser (or bypasses row-level security) and cannot be a "
                                   "dispatcher: it would see every organization.", "login")
        if role is not None and (role.rolcreaterole or role.rolcreatedb or role.rolreplication):
            raise ValidationFailed(f"'{login}' may create roles or databases, or replicate, and cannot be a "
                                   "dispatcher: it could give itself more than a dispatcher's rights. Remove those "
                                   "attributes (ALTER ROLE … NOCREATEROLE NOCREATEDB NOREPLICATION) first.", "login")
        if role is not None and role.member_of:
            raise ValidationFailed(f"'{login}' is a member of {', '.join(role.member_of)} and cannot be a dispatcher: "
                                   "it would hold those roles' rights too. Revoke the memberships first.", "login")
        if role is not None and not existing_role:
            raise DispatcherExists(f"A database role '{login}' already exists on this server (roles are shared by "
                                   "all databases of a server). Choose another login, or map it with --existing-role.")
        if role is None:
            if password is None:
                password, generated = generate_password(), True
            _ddl(uow, f"CREATE ROLE {quote_ident(login)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                      f"INHERIT {_set_password_sql(uow, login, password)} IN ROLE {DISPATCHER_GROUP}")
        else:
            _ddl(uow, f"GRANT {DISPATCHER_GROUP} TO {quote_ident(login)}")
            if password is not None:
                _ddl(uow, f"ALTER ROLE {quote_ident(login)} {_set_password_sql(uow, login, password)}")
        if scanner:
            _ddl(uow, f"GRANT {SCANNER_ROLE} TO {quote_ident(login)}")
        name = (display_name or "").strip() or login
        disp_id = uow.session.execute(
            text("INSERT INTO dispatchers (organization_id, login_role, display_name, is_admin) "
                 "VALUES (:o, :l, :n, :a) RETURNING id"),
            {"o": org.id, "l": login, "n": name, "a": is_admin}).scalar_one()
        audit(uow, actor=_admin_actor(org.id, who), action="dispatcher.added", entity="dispatcher",
              entity_id=disp_id, summary=f"Dispatcher {name} ({login}) added{' as administrator' if is_admin else ''}",
              details={"login": login, "is_admin": is_admin, "scanner": scanner, "existing_role": role is not None})
        uow.record_change("dispatcher", disp_id, org.id, "created")
        info = _dispatcher_infos(uow, "WHERE d.id = :i", {"i": disp_id})[0]
        uow.commit()
    return DispatcherCreated(dispatcher=info, password=password, generated=generated)


def set_dispatcher_password(*, uow: UnitOfWork, login: str, password: str | None = None) -> DispatcherCreated:
    """Set a new password (generated when none is given) for a mapped dispatcher."""
    if password is not None and len(password) < 8:
        raise ValidationFailed("A password needs at least 8 characters.", "password")
    generated = password is None
    password = password or generate_password()
    with uow:
        who = require_administrator(uow)
        infos = _dispatcher_infos(uow, "WHERE d.login_role = :l", {"l": login})
        if not infos or not infos[0].role_exists:
            raise DispatcherNotFound(f"There is no dispatcher '{login}'.")
        _ddl(uow, f"ALTER ROLE {quote_ident(login)} {_set_password_sql(uow, login, password)}")
        org_id = uow.session.execute(text("SELECT organization_id FROM dispatchers WHERE id = :i"),
                                     {"i": infos[0].id}).scalar_one()
        audit(uow, actor=_admin_actor(org_id, who), action="dispatcher.password_set", entity="dispatcher",
              entity_id=infos[0].id, summary=f"Password of {login} changed")
        uow.commit()
    return DispatcherCreated(dispatcher=infos[0], password=password, generated=generated)


def remove_dispatcher(*, uow: UnitOfWork, login: str, keep_role: bool = False) -> DispatcherRemoved:
    """Unmap the dispatcher and drop its login role (unless ``keep_role``); ends its open sessions."""
    with uow:
        who = require_administrator(uow)
        row = uow.session.execute(
            text("SELECT d.id, d.organization_id, o.slug, d.display_name FROM dispatchers d "
                 "JOIN organizations o ON o.id = d.organization_id WHERE d.login_role = :l"),
            {"l": login}).one_or_none()
        if row is None:
            raise DispatcherNotFound(f"There is no dispatcher '{login}'. See: desk-desktop admin list")
        uow.session.execute(text("DELETE FROM dispatchers WHERE id = :i"), {"i": row.id})
        role_exists = uow.session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :l"), {"l": login}).first()
        dropped = False
        if role_exists:
            if keep_role:
                _ddl(uow, f"REVOKE {DISPATCHER_GROUP} FROM {quote_ident(login)}")
            else:
                from sqlalchemy.exc import DBAPIError

                try:
                    with uow.session.begin_nested():
                        _ddl(uow, f"DROP ROLE {quote_ident(login)}")
                except DBAPIError as exc:
                    raise DeskError(
                        f"The login role '{login}' cannot be dropped: it still owns objects or holds privileges "
                        f"({str(exc.orig).strip().splitlines()[0]}). Use --keep-role to only remove the dispatcher, "
                        "or clean up with REASSIGN OWNED / DROP OWNED in each database first.") from exc
                dropped = True
        audit(uow, actor=_admin_actor(row.organization_id, who), action="dispatcher.removed", entity="dispatcher",
              entity_id=row.id, summary=f"Dispatcher {row.display_name} ({login}) removed",
              details={"role_dropped": dropped})
        uow.record_change("dispatcher", row.id, row.organization_id, "deleted")
        uow.commit()
    # Sessions still open keep running as a role that no longer maps to anything (they
    # would see nothing); end them so the workstation shows a clear "logged out".
    ended = 0
    with uow:
        ended = len(uow.session.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :l AND pid <> pg_backend_pid()"),
            {"l": login}).all())
        uow.commit()
    return DispatcherRemoved(login=login, organization_slug=row.slug, role_dropped=dropped, sessions_ended=ended)


def list_organizations(*, uow: UnitOfWork) -> tuple[OrganizationInfo, ...]:
    """Every organization with its dispatchers (administrator connection)."""
    with uow:
        require_administrator(uow)
        orgs = uow.session.execute(text("SELECT id, slug, name, timezone FROM organizations ORDER BY slug")).all()
        by_org: dict[str, list[DispatcherInfo]] = {}
        for d in _dispatcher_infos(uow):
            by_org.setdefault(d.organization_slug, []).append(d)
        uow.commit()
    return tuple(OrganizationInfo(o.id, o.slug, o.name, o.timezone, tuple(by_org.get(o.slug, ()))) for o in orgs)
