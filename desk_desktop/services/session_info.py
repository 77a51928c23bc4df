"""Who is connected, the private cluster's automatic dispatcher, and shared-server logins.

The database decides which organization a connection belongs to: the login role
(``session_user``) is looked up in the ``dispatchers`` mapping, and row-level security
uses the same lookup. ``current_actor`` turns that into the ``Actor`` the services take.

The private cluster needs no login: ``ensure_private_setup`` (run once at start-up with
the cluster's superuser engine) creates one organization and one admin dispatcher role
(``desk_local``); the app then connects as that role via ``dispatcher_url``, so it obeys
the same policies as a dispatcher on a shared server.

For a shared server, ``ConnectionDetails`` + ``check_login`` test a user name and
password and say clearly what went wrong; the password is remembered only in the
operating system's keyring (``remember_password`` / ``recall_password``), never in a
file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import quote

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.common import Actor, DeskError

KEYRING_SERVICE = "desk-desktop"
PRIVATE_LOGIN_ROLE = "desk_local"
PRIVATE_ORG_SLUG = "local"
PRIVATE_ORG_NAME = "My organization"
SSL_MODES = ("verify-full", "verify-ca", "require", "prefer", "disable")


class NotADispatcher(DeskError):
    """The connected database user is not mapped to an organization (or was disabled)."""


@dataclass(frozen=True)
class SessionInfo:
    actor: Actor
    login_role: str
    display_name: str
    organization_slug: str
    organization_name: str

    def status_text(self) -> str:
        """For the status bar: organization and user."""
        admin = " · administrator" if self.actor.is_admin else ""
        return f"{self.organization_name} · {self.display_name} ({self.login_role}){admin}"


_WHO_SQL = text(
    "SELECT d.id, d.organization_id, d.login_role, d.display_name, d.is_admin, d.active, "
    "       o.slug, o.name AS org_name "
    "FROM dispatchers d JOIN organizations o ON o.id = d.organization_id "
    "WHERE d.login_role = session_user::text"
)


def current_session(*, uow: UnitOfWork) -> SessionInfo:
    """The dispatcher this connection logs in as (``NotADispatcher`` if there is none)."""
    from sqlalchemy.exc import ProgrammingError

    with uow:
        user = uow.session.execute(text("SELECT session_user::text")).scalar_one()
        try:
            row = uow.session.execute(_WHO_SQL).one_or_none()
        except ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) != "42501":
                raise
            row = None  # not even a member of desk_dispatcher
        else:
            uow.commit()
    if row is None:
        raise NotADispatcher(
            f"The database user '{user}' is not set up as a dispatcher of any organization. "
            f"Ask your administrator to run: desk-desktop admin add-dispatcher --org SLUG --login {user}"
        )
    if not row.active:
        raise NotADispatcher(f"The dispatcher account '{user}' has been disabled. Ask your administrator.")
    actor = Actor(organization_id=row.organization_id, name=row.display_name, dispatcher_id=row.id,
                  is_admin=row.is_admin)
    return SessionInfo(actor=actor, login_role=row.login_role, display_name=row.display_name,
                       organization_slug=row.slug, organization_name=row.org_name)


def current_actor(*, uow: UnitOfWork) -> Actor:
    """The ``Actor`` for the connected login role, resolved through the dispatchers mapping."""
    return current_session(uow=uow).actor


# --------------------------------------------------------------------------- private cluster
@dataclass(frozen=True)
class PrivateSetup:
    login_role: str
    organization_id: int
    organization_slug: str
    created_organization: bool
    created_role: bool
    url: str  # connect the app with this URL: the dispatcher role, not the superuser


def dispatcher_url(url: str, login_role: str) -> str:
    """``url`` with its user replaced by ``login_role`` (and no password)."""
    u = make_url(url).set(username=login_role, password=None)
    return u.render_as_string(hide_password=False)


def ensure_private_setup(*, engine: Engine, login_role: str = PRIVATE_LOGIN_ROLE,
                         org_slug: str = PRIVATE_ORG_SLUG, org_name: str = PRIVATE_ORG_NAME) -> PrivateSetup:
    """Make sure the private cluster has an organization and an admin dispatcher role.

    ``engine`` must be the cluster's superuser engine (the schema must be migrated).
    Idempotent: the first run creates them; later runs only return what to connect as.
    The private cluster only accepts connections on its own Unix socket, so the role
    needs no password there.
    """
    from desk_desktop.services.admin import quote_ident

    created_org = created_role = False
    with engine.begin() as conn:
        # One start-up at a time (two app instances starting together).
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('desk_private_setup'))"))
        mapped = conn.execute(
            text("SELECT d.organization_id, o.slug FROM dispatchers d JOIN organizations o ON o.id = d.organization_id "
                 "WHERE d.login_role = :r"), {"r": login_role}).one_or_none()
        if mapped is None:
            org = conn.execute(text("SELECT id, slug FROM organizations ORDER BY id LIMIT 1")).one_or_none()
            if org is None:
                org = conn.execute(
                    text("INSERT INTO organizations (name, slug) VALUES (:n, :s) RETURNING id, slug"),
                    {"n": org_name, "s": org_slug}).one()
                created_org = True
            conn.execute(
                text("INSERT INTO dispatchers (organization_id, login_role, display_name, is_admin) "
                     "VALUES (:o, :r, :n, true)"),
                {"o": org.id, "r": login_role, "n": "Local dispatcher"})
            mapped = (org.id, org.slug)
        else:
            conn.execute(text("UPDATE dispatchers SET active = true, is_admin = true WHERE login_role = :r"),
                         {"r": login_role})
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login_role}).first()
        # One person on one machine: the app's own scan is the one to trust (migration 0015).
        if exists is None:
            conn.execute(text(f"CREATE ROLE {quote_ident(login_role)} LOGIN IN ROLE desk_dispatcher, desk_scanner"))
            created_role = True
        else:
            conn.execute(text(f"GRANT desk_dispatcher, desk_scanner TO {quote_ident(login_role)}"))
    return PrivateSetup(login_role=login_role, organization_id=mapped[0], organization_slug=mapped[1],
                        created_organization=created_org, created_role=created_role,
                        url=dispatcher_url(engine.url.render_as_string(hide_password=False), login_role))


def use_private_dispatcher(db, *, login_role: str = PRIVATE_LOGIN_ROLE) -> SessionInfo:
    """Private cluster start-up: map ``login_role`` and switch ``db`` over to it.

    ``db`` is a ``bootstrap.Database`` whose engine is still the cluster superuser's
    (migrations and demo data are done with it first). Afterwards ``db.engine``,
    ``db.uow_factory`` and ``db.url`` are the dispatcher's, so the running app obeys
    row-level security like any dispatcher; the superuser engine is disposed.
    """
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine

    setup = ensure_private_setup(engine=db.engine, login_role=login_role)
    engine = make_engine(setup.url)
    try:
        session = current_session(uow=UnitOfWorkFactory(engine)())
    except Exception:
        engine.dispose()
        raise
    db.engine.dispose()
    db.engine = engine
    db.uow_factory = UnitOfWorkFactory(engine)
    db.url = setup.url
    return session


# --------------------------------------------------------------------------- shared-server login
@dataclass(frozen=True)
class ConnectionDetails:
    """Where and as whom to log in. Holds no password (that lives in the keyring)."""

    host: str
    user: str
    port: int = 5432
    database: str = "desk"
    sslmode: str = "verify-full"  # the server's certificate, checked against its name (issue 21)
    pooler: str | None = None  # "transaction" when the address is a PgBouncer pool in transaction mode

    def url(self, password: str | None) -> str:
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        query = f"sslmode={quote(self.sslmode)}&connect_timeout=10"
        if self.pooler:
            query += f"&pooler={quote(self.pooler)}"
        if self.host.startswith("/"):  # a Unix socket folder
            return f"postgresql+psycopg://{auth}@/{quote(self.database)}?host={quote(self.host)}&port={self.port}&{query}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{quote(self.database)}?{query}"

    @property
    def keyring_username(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    @classmethod
    def from_url(cls, url: str) -> ConnectionDetails:
        u = make_url(url)
        host = u.host or str(u.query.get("host") or "")
        port = u.port or int(u.query.get("port") or 5432)
        sslmode = str(u.query.get("sslmode") or "verify-full")
        pooler = str(u.query["pooler"]) if u.query.get("pooler") else None
        return cls(host=host, user=u.username or "", port=port, database=u.database or "desk", sslmode=sslmode,
                   pooler=pooler)

    def with_changes(self, **kw) -> ConnectionDetails:
        return replace(self, **kw)


@dataclass(frozen=True)
class LoginCheck:
    ok: bool
    message: str
    session: SessionInfo | None = None
    field: str | None = None  # which input to fix: "password", "host", "database", "sslmode", "user"


def describe_connect_error(details: ConnectionDetails, exc: BaseException) -> tuple[str, str | None]:
    """A message a dispatcher can act on, and the field to look at."""
    msg = str(getattr(exc, "orig", None) or exc)
    low = msg.lower()
    where = f"{details.host}:{details.port}" if not details.host.startswith("/") else details.host
    if "password authentication failed" in low or "authentication failed" in low:
        return (f"Wrong user name or password for '{details.user}' on {where}. Check both and try again.", "password")
    if "no password supplied" in low or "fe_sendauth" in low:
        return ("This server needs a password for this user.", "password")
    if "no pg_hba.conf entry" in low or "rejected" in low:
        return (f"The server {where} does not accept logins from this computer for '{details.user}'"
                f"{' without SSL' if 'no encryption' in low else ''}. Ask your administrator "
                "(pg_hba.conf), or try another SSL mode.", "sslmode")
    if ("server does not support ssl" in low or "certificate" in low
            or ("ssl" in low and any(s in low for s in ("handshake", "ssl error", "ssl syscall", "tlsv1")))):
        hint = ("verify-ca and verify-full need the server's CA certificate in ~/.postgresql/root.crt "
                "(ask your administrator), or choose 'require'." if "root certificate" in low
                else "Check the SSL mode, or ask your administrator for the server certificate.")
        return (f"Secure connection to {where} failed: {msg.strip().splitlines()[-1]}. {hint}", "sslmode")
    if re.search(r'database ".*" does not exist', low):
        return (f"The database '{details.database}' does not exist on {where}.", "database")
    if re.search(r'role ".*" does not exist', low):
        return (f"There is no user '{details.user}' on {where}.", "user")
    if any(s in low for s in ("could not connect", "connection refused", "could not translate host name",
                              "timeout expired", "no such file or directory", "name or service not known",
                              "network is unreachable", "no route to host", "connection timed out")):
        return (f"Cannot reach the server {where}. Check the server name and port, and that this computer "
                "is on the network.", "host")
    return (f"Could not log in: {msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__}", None)


def check_login(details: ConnectionDetails, password: str | None, *, timeout: float = 10) -> LoginCheck:
    """Try to log in and find the dispatcher; never raises for a failed login."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from desk_desktop.db.session import UnitOfWorkFactory, secure_url

    if not details.host.strip():
        return LoginCheck(False, "Enter the server name.", field="host")
    if not details.user.strip():
        return LoginCheck(False, "Enter your user name.", field="user")
    if details.sslmode not in SSL_MODES:
        return LoginCheck(False, f"Unknown SSL mode '{details.sslmode}'.", field="sslmode")
    engine = create_engine(secure_url(details.url(password)), poolclass=NullPool,
                           connect_args={"connect_timeout": max(1, int(timeout))})
    try:
        try:
            session = current_session(uow=UnitOfWorkFactory(engine)())
        except NotADispatcher as exc:
            return LoginCheck(False, str(exc), field="user")
        except DBAPIError as exc:
            message, field = describe_connect_error(details, exc)
            return LoginCheck(False, message, field=field)
        return LoginCheck(True, f"Logged in: {session.status_text()}", session=session)
    finally:
        engine.dispose()


# The keyring: the operating system's password store (never a config file).
def remember_password(details: ConnectionDetails, password: str) -> None:
    import keyring

    keyring.set_password(KEYRING_SERVICE, details.keyring_username, password)


def recall_password(details: ConnectionDetails) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(KEYRING_SERVICE, details.keyring_username)
    except KeyringError:
        return None


def forget_password(details: ConnectionDetails) -> None:
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(KEYRING_SERVICE, details.keyring_username)
    except (PasswordDeleteError, KeyringError):
        pass


# Server, port, database, user and SSL mode of the last successful login (no password:
# that is only ever in the keyring). A small TOML file next to desk.toml.
LOGIN_FILE = "login.toml"


def save_login_details(config_dir, details: ConnectionDetails) -> None:
    from pathlib import Path

    import tomli_w

    path = Path(config_dir) / LOGIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)

    values = {"host": details.host, "port": int(details.port), "database": details.database,
              "user": details.user, "sslmode": details.sslmode}
    if details.pooler:
        values["pooler"] = details.pooler
    path.write_text("# Last shared-server login of Desk Dispatcher. The password is kept in the system keyring, "
                    "never here.\n" + tomli_w.dumps(values), encoding="utf-8")


def load_login_details(config_dir) -> ConnectionDetails | None:
    import tomllib
    from pathlib import Path

    path = Path(config_dir) / LOGIN_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return ConnectionDetails(host=str(data["host"]), user=str(data["user"]), port=int(data.get("port", 5432)),
                                 database=str(data.get("database", "desk")),
                                 sslmode=str(data.get("sslmode", "verify-full")),
                                 pooler=str(data["pooler"]) if data.get("pooler") else None)
    except (FileNotFoundError, KeyError, ValueError, tomllib.TOMLDecodeError):
        return None
