"""desk-desktop admin … — organizations and dispatcher logins on a shared server.

Needs an administrator connection (a superuser, or CREATEROLE + BYPASSRLS): pass it with
``--database-url postgresql://ADMIN@SERVER/desk``. Against the private cluster the
cluster's own superuser is used.
"""

from __future__ import annotations

from dataclasses import asdict

from desk_desktop.cli import CliContext, add_password_options, read_password


def register(sub, common) -> None:
    p = sub.add_parser("admin", help="organizations and dispatcher logins (administrator connection)")
    asub = p.add_subparsers(dest="admin_command", metavar="ACTION")
    asub.required = True

    a = asub.add_parser("add-organization", parents=[common], help="create an organization")
    a.add_argument("--slug", required=True, help="short unique name, e.g. north-district")
    a.add_argument("--name", required=True, help="display name")
    a.add_argument("--timezone", default="UTC", help="IANA time zone for ticket numbers and schedules (default UTC)")
    a.set_defaults(func=run_add_organization)

    d = asub.add_parser("add-dispatcher", parents=[common], allow_abbrev=False,
                        help="create a login role for a dispatcher and map it to an organization")
    d.add_argument("--org", required=True, help="organization slug")
    d.add_argument("--login", required=True, help="PostgreSQL login name (lowercase)")
    d.add_argument("--name", help="display name (default: the login)")
    d.add_argument("--admin", action="store_true", help="may change rules, numbering and open quarantined files")
    add_password_options(d)  # default: a generated one, printed once
    d.add_argument("--existing-role", action="store_true", help="map a login role that already exists")
    d.add_argument("--scanner", action="store_true",
                   help="trust this workstation's virus scans (files it scans clean open for everyone); without it "
                        "its uploads wait for the server's scheduler")
    d.set_defaults(func=run_add_dispatcher)

    pw = asub.add_parser("set-password", parents=[common], allow_abbrev=False, help="set a new password for a dispatcher")
    pw.add_argument("--login", required=True)
    add_password_options(pw)  # default: a generated one, printed once
    pw.set_defaults(func=run_set_password)

    r = asub.add_parser("remove-dispatcher", parents=[common], help="unmap a dispatcher and drop its login role")
    r.add_argument("--login", required=True)
    r.add_argument("--keep-role", action="store_true", help="keep the login role (only remove the mapping)")
    r.set_defaults(func=run_remove_dispatcher)

    li = asub.add_parser("list", parents=[common], help="organizations and their dispatchers")
    li.set_defaults(func=run_list)


class _AdminConnection:
    """An engine for the administrator: the private cluster's superuser or --database-url."""

    def __init__(self, ctx: CliContext) -> None:
        from desk_desktop.db import migrate
        from desk_desktop.db.session import UnitOfWorkFactory, make_engine

        if ctx.settings.uses_private_cluster:
            db = ctx.database()  # starts and migrates the private cluster
            url = db.cluster.url if db.cluster is not None else db.url
        else:
            url = ctx.settings.database_url
        self.engine = make_engine(url, pool_size=1, max_overflow=1)
        try:
            migrate.check_schema(self.engine)
        except Exception:
            self.engine.dispose()
            raise
        self.uow_factory = UnitOfWorkFactory(self.engine)

    def __enter__(self):
        return self.uow_factory

    def __exit__(self, *exc):
        self.engine.dispose()


def run_add_organization(ctx: CliContext) -> int:
    from desk_desktop.services import admin

    with _AdminConnection(ctx) as uows:
        org = admin.add_organization(uow=uows(), slug=ctx.args.slug, name=ctx.args.name,
                                     timezone=ctx.args.timezone)
    ctx.emit(asdict(org), f"Organization '{org.slug}' ({org.name}, {org.timezone}) created.\n"
                          f"Add its dispatchers with: desk-desktop admin add-dispatcher --org {org.slug} --login NAME")
    return 0


def _password_lines(created) -> str:
    if created.generated:
        return (f"One-time password: {created.password}\n"
                "It is shown only now: give it to the dispatcher in person. To set a new one later: "
                f"desk-desktop admin set-password --login {created.dispatcher.login}")
    return "Password set as given." if created.password else "Password unchanged."


def run_add_dispatcher(ctx: CliContext) -> int:
    from desk_desktop.services import admin

    with _AdminConnection(ctx) as uows:
        created = admin.add_dispatcher(uow=uows(), org_slug=ctx.args.org, login=ctx.args.login,
                                       display_name=ctx.args.name, is_admin=ctx.args.admin,
                                       password=read_password(ctx.args), existing_role=ctx.args.existing_role,
                                       scanner=ctx.args.scanner)
    d = created.dispatcher
    data = asdict(d) | {"password": created.password if created.generated else None,
                        "password_generated": created.generated}
    ctx.emit(data, f"Dispatcher '{d.login}' ({d.display_name}) added to '{d.organization_slug}'"
                   f"{' as administrator' if d.is_admin else ''}{', trusted to scan files' if d.scanner else ''}.\n" + _password_lines(created))
    return 0


def run_set_password(ctx: CliContext) -> int:
    from desk_desktop.services import admin

    with _AdminConnection(ctx) as uows:
        created = admin.set_dispatcher_password(uow=uows(), login=ctx.args.login, password=read_password(ctx.args))
    ctx.emit({"login": created.dispatcher.login, "password": created.password if created.generated else None,
              "password_generated": created.generated},
             f"Password of '{created.dispatcher.login}' changed.\n" + _password_lines(created))
    return 0


def run_remove_dispatcher(ctx: CliContext) -> int:
    from desk_desktop.services import admin

    with _AdminConnection(ctx) as uows:
        removed = admin.remove_dispatcher(uow=uows(), login=ctx.args.login, keep_role=ctx.args.keep_role)
    human = f"Dispatcher '{removed.login}' removed from '{removed.organization_slug}'."
    human += " Login role dropped." if removed.role_dropped else " Login role kept (no longer a dispatcher)."
    if removed.sessions_ended:
        human += f" {removed.sessions_ended} open session(s) ended."
    ctx.emit(asdict(removed), human)
    return 0


def run_list(ctx: CliContext) -> int:
    from desk_desktop.services import admin

    with _AdminConnection(ctx) as uows:
        orgs = admin.list_organizations(uow=uows())
    lines = []
    for o in orgs:
        lines.append(f"{o.slug}  {o.name}  ({o.timezone})")
        if not o.dispatchers:
            lines.append("    (no dispatchers)")
        for d in o.dispatchers:
            flags = [f for f, on in (("admin", d.is_admin), ("scanner", d.scanner), ("disabled", not d.active),
                                     ("ROLE MISSING", not d.role_exists),
                                     ("cannot log in", d.role_exists and not d.can_login)) if on]
            lines.append(f"    {d.login:<24} {d.display_name}" + (f"  [{', '.join(flags)}]" if flags else ""))
    if not orgs:
        lines.append("No organizations yet. Create one with: desk-desktop admin add-organization --slug S --name N")
    ctx.emit({"organizations": [asdict(o) for o in orgs]}, "\n".join(lines))
    return 0
