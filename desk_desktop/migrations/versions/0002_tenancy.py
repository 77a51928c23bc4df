"""tenancy: owner and dispatcher roles, row-level security keyed on session_user

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 23:00:00

Several organizations share one database and the desktop app connects to PostgreSQL
directly, so the database itself keeps them apart:

* ``desk_owner`` (NOLOGIN) owns every table; ``FORCE ROW LEVEL SECURITY`` makes even the
  owner obey the policies (only superusers bypass them).
* ``desk_dispatcher`` (NOLOGIN group) holds exactly the privileges the app needs:
  SELECT/INSERT/UPDATE/DELETE on the business tables, SELECT/INSERT on the audit log,
  SELECT on the mapping; no TRUNCATE, no REFERENCES, no DDL, no BYPASSRLS. Each dispatcher
  logs in with their own role, a member of ``desk_dispatcher`` (``desk-desktop admin
  add-dispatcher``), mapped to one organization by the ``dispatchers`` table.
* Policies compare ``organization_id`` with ``desk_current_org()``: a SECURITY DEFINER
  function owned by ``desk_owner`` that looks up ``session_user`` (which a client cannot
  change, unlike ``current_user`` or any ``SET`` variable) in ``dispatchers``. Its own
  read of ``dispatchers`` is allowed by a policy that applies to ``desk_owner`` only, so
  there is no recursion. ``(SELECT desk_current_org())`` makes it an init-plan: evaluated
  once per statement, not once per row.
* Admin-only operations are enforced here too, not only by hidden buttons: writing rules
  and numbering formats, deleting/moving counters other than by one, reading the chunks
  of an infected (quarantined) file, and marking an infected file as anything else all
  require ``desk_is_admin()``.

Roles are cluster-wide, so they are created only if missing and never dropped by the
downgrade (other databases on the same server may use them); the downgrade removes this
database's policies, triggers, functions, grants and ownership changes.
"""
from alembic import op
from sqlalchemy import text

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

OWNER = "desk_owner"
GROUP = "desk_dispatcher"

# Tables with special rules; every other table carrying organization_id gets the plain
# tenant policy (all commands, own organization only).
ADMIN_WRITE_TABLES = ("ticket_work_order_rules", "ticket_number_sequences")
APPEND_ONLY_TABLES = ("audit_log",)
READ_ONLY_TABLES = ("dispatchers",)
NOT_OURS = ("spatial_ref_sys", "alembic_version")

ORG = "organization_id = (SELECT desk_current_org())"
# ILIKE / LIKE (trigram search) and array containment (tags): see upgrade().
LEAKPROOF_FUNCTIONS = (
    "pg_catalog.texticlike(text, text)",
    "pg_catalog.textlike(text, text)",
    "pg_catalog.arraycontains(anyarray, anyarray)",
)
ADMIN = "(SELECT desk_is_admin())"


def _schema(conn) -> str:
    return conn.execute(text("SELECT current_schema()")).scalar_one()


def _tables(conn) -> list[str]:
    return list(conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )).scalars())


def _tenant_tables(conn) -> list[str]:
    return list(conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )).scalars())


def _tenant_references(conn, tenant: list[str]) -> list[tuple[str, str, str, str]]:
    """Single-column foreign keys from one tenant table to another (not to organizations)."""
    rows = conn.execute(text(
        "SELECT cl.relname, a.attname, rf.relname, ra.attname FROM pg_constraint c "
        "JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rf ON rf.oid = c.confrelid "
        "JOIN pg_namespace n ON n.oid = cl.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] "
        "WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND n.nspname = current_schema() "
        "ORDER BY 1, 2")).all()
    return [tuple(r) for r in rows if r[0] in tenant and r[2] in tenant and r[0] != r[2]]


def _reference_check(table: str, column: str, ref_table: str, ref_column: str) -> str:
    # Runs as the caller, so row-level security hides other organizations' rows anyway;
    # the organization_id comparison covers administrator (RLS-exempt) connections too.
    return (
        f"IF NEW.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"{ref_table}\" r "
        f"WHERE r.{ref_column} = NEW.{column} AND r.organization_id = NEW.organization_id) THEN\n"
        f"    RAISE EXCEPTION '{table}.{column} must refer to a {ref_table} row of the same organization' "
        f"USING ERRCODE = '42501';\n"
        f"END IF;"
    )


def _ensure_role(name: str) -> None:
    # Roles are cluster-wide: another database on this server may have created them.
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
                CREATE ROLE {name} NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
            END IF;
        END
        $$""")


def upgrade() -> None:
    conn = op.get_bind()
    schema = _schema(conn)
    _ensure_role(OWNER)
    _ensure_role(GROUP)
    # The group's members (dispatcher logins) inherit its privileges; the group itself
    # must not hold anything dangerous even if someone granted it earlier.
    op.execute(f"ALTER ROLE {GROUP} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    op.execute(f"ALTER ROLE {OWNER} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")

    tables = [t for t in _tables(conn) if t not in NOT_OURS]
    tenant = [t for t in _tenant_tables(conn) if t not in NOT_OURS]

    for t in tables:
        op.execute(f'ALTER TABLE "{t}" OWNER TO {OWNER}')  # also moves its identity sequences

    # Who is connected: functions owned by the owner, reading the mapping by session_user.
    path = f'SET search_path = pg_catalog, "{schema}", pg_temp'
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_current_org() RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT organization_id FROM dispatchers WHERE login_role = session_user::text AND active
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_is_admin() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT coalesce((SELECT is_admin FROM dispatchers
                             WHERE login_role = session_user::text AND active), false)
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_current_dispatcher_id() RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT id FROM dispatchers WHERE login_role = session_user::text AND active
        $$""")
    # Counters move only forward by one unless an administrator moves them.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_guard_counter() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF desk_current_org() IS NULL OR desk_is_admin() THEN
                RETURN NEW;  -- an administrator connection (RLS keeps unmapped roles out anyway)
            END IF;
            IF TG_OP = 'INSERT' AND NEW.next_value BETWEEN 1 AND 2 THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.next_value = OLD.next_value + 1
               AND NEW.organization_id = OLD.organization_id AND NEW.period = OLD.period THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'Only an administrator can change ticket numbering.'
                USING ERRCODE = '42501';
        END
        $$""")
    for fn in ("desk_current_org()", "desk_is_admin()", "desk_current_dispatcher_id()", "desk_guard_counter()"):
        op.execute(f"ALTER FUNCTION {fn} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    for fn in ("desk_current_org()", "desk_is_admin()", "desk_current_dispatcher_id()"):
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO PUBLIC")

    # Privileges: only what the app needs.
    op.execute(f"GRANT USAGE ON SCHEMA \"{schema}\" TO {GROUP}")
    op.execute(f"REVOKE CREATE ON SCHEMA \"{schema}\" FROM {GROUP}")
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO {GROUP}', current_database()); END $$")
    op.execute(f"GRANT SELECT ON alembic_version TO {GROUP}")  # the app checks the schema version
    for t in tables:
        if t == "organizations":
            op.execute(f"GRANT SELECT, UPDATE ON organizations TO {GROUP}")
        elif t in READ_ONLY_TABLES:
            op.execute(f'GRANT SELECT ON "{t}" TO {GROUP}')
        elif t in APPEND_ONLY_TABLES:
            op.execute(f'GRANT SELECT, INSERT ON "{t}" TO {GROUP}')
        elif t in tenant:
            op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{t}" TO {GROUP}')
        # A table without organization_id gets nothing: it cannot be isolated.
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO {GROUP}")

    # Row-level security everywhere, forced for the owner too.
    for t in [*tenant, "organizations"]:
        op.execute(f'ALTER TABLE "{t}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{t}" FORCE ROW LEVEL SECURITY')

    # The mapping: the owner (inside the SECURITY DEFINER functions) reads it all, a
    # dispatcher sees the colleagues of its own organization. Policies naming roles keep
    # the functions from recursing into their own policy.
    op.execute(f"CREATE POLICY desk_owner_all ON dispatchers TO {OWNER} USING (true) WITH CHECK (true)")
    op.execute(f"CREATE POLICY desk_tenant_read ON dispatchers FOR SELECT TO {GROUP} USING ({ORG})")

    op.execute("CREATE POLICY desk_tenant_read ON organizations FOR SELECT "
               "USING (id = (SELECT desk_current_org()))")
    op.execute(f"CREATE POLICY desk_admin_update ON organizations FOR UPDATE "
               f"USING (id = (SELECT desk_current_org()) AND {ADMIN}) WITH CHECK (id = (SELECT desk_current_org()))")

    for t in tenant:
        if t in READ_ONLY_TABLES:
            continue
        if t in ADMIN_WRITE_TABLES:
            op.execute(f'CREATE POLICY desk_tenant_read ON "{t}" FOR SELECT USING ({ORG})')
            op.execute(f'CREATE POLICY desk_admin_update ON "{t}" FOR UPDATE '
                       f'USING ({ORG} AND {ADMIN}) WITH CHECK ({ORG} AND {ADMIN})')
            op.execute(f'CREATE POLICY desk_admin_delete ON "{t}" FOR DELETE USING ({ORG} AND {ADMIN})')
            if t == "ticket_number_sequences":
                # The organization's format row is created with the organization (admin
                # tools); the first ticket of an organization set up otherwise may create
                # the default one. Once it exists only an administrator changes it.
                op.execute(f'CREATE POLICY desk_tenant_insert ON "{t}" FOR INSERT WITH CHECK ({ORG})')
            else:
                op.execute(f'CREATE POLICY desk_admin_insert ON "{t}" FOR INSERT WITH CHECK ({ORG} AND {ADMIN})')
        elif t == "ticket_number_counters":
            op.execute(f'CREATE POLICY desk_tenant_read ON "{t}" FOR SELECT USING ({ORG})')
            op.execute(f'CREATE POLICY desk_tenant_insert ON "{t}" FOR INSERT WITH CHECK ({ORG})')
            op.execute(f'CREATE POLICY desk_tenant_update ON "{t}" FOR UPDATE USING ({ORG}) WITH CHECK ({ORG})')
            op.execute(f'CREATE POLICY desk_admin_delete ON "{t}" FOR DELETE USING ({ORG} AND {ADMIN})')
            op.execute(f'CREATE TRIGGER desk_guard_counter BEFORE INSERT OR UPDATE ON "{t}" '
                       f'FOR EACH ROW EXECUTE FUNCTION desk_guard_counter()')
        elif t == "blobs":
            # A quarantined (infected) file stays quarantined unless an administrator acts.
            op.execute(f'CREATE POLICY desk_tenant_read ON "{t}" FOR SELECT USING ({ORG})')
            op.execute(f'CREATE POLICY desk_tenant_insert ON "{t}" FOR INSERT WITH CHECK ({ORG})')
            op.execute(f'CREATE POLICY desk_tenant_update ON "{t}" FOR UPDATE '
                       f"USING ({ORG} AND (scan_status <> 'infected' OR {ADMIN})) WITH CHECK ({ORG})")
            op.execute(f'CREATE POLICY desk_tenant_delete ON "{t}" FOR DELETE USING ({ORG})')
        elif t == "blob_chunks":
            # The bytes of an infected file are readable by an administrator only
            # (the "download anyway" override).
            op.execute(f'CREATE POLICY desk_tenant_read ON "{t}" FOR SELECT USING ({ORG} AND ({ADMIN} OR NOT EXISTS ('
                       f"SELECT 1 FROM blobs b WHERE b.id = blob_chunks.blob_id AND b.scan_status = 'infected')))")
            op.execute(f'CREATE POLICY desk_tenant_insert ON "{t}" FOR INSERT WITH CHECK ({ORG})')
            op.execute(f'CREATE POLICY desk_tenant_update ON "{t}" FOR UPDATE USING ({ORG}) WITH CHECK ({ORG})')
            op.execute(f'CREATE POLICY desk_tenant_delete ON "{t}" FOR DELETE USING ({ORG})')
        else:
            op.execute(f'CREATE POLICY desk_tenant ON "{t}" USING ({ORG}) WITH CHECK ({ORG})')

    # References stay inside the organization. Foreign-key checks bypass row-level
    # security, so without this a dispatcher could point its own rows at another
    # organization's customer, technician, ticket… (and learn which ids exist there).
    by_table: dict[str, list[tuple[str, str, str]]] = {}
    for table, column, ref_table, ref_column in _tenant_references(conn, tenant):
        by_table.setdefault(table, []).append((column, ref_table, ref_column))
    for table, refs in by_table.items():
        insert_checks = "\n".join(_reference_check(table, c, rt, rc) for c, rt, rc in refs)
        update_checks = "\n".join(
            f"IF NEW.{c} IS DISTINCT FROM OLD.{c} OR NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN\n"
            f"{_reference_check(table, c, rt, rc)}\nEND IF;" for c, rt, rc in refs)
        op.execute(f"""
            CREATE OR REPLACE FUNCTION desk_same_org_{table}() RETURNS trigger
            LANGUAGE plpgsql {path} AS $fn$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    {insert_checks}
                ELSE
                    {update_checks}
                END IF;
                RETURN NEW;
            END
            $fn$""")
        op.execute(f"ALTER FUNCTION desk_same_org_{table}() OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION desk_same_org_{table}() FROM PUBLIC")
        op.execute(f'CREATE TRIGGER desk_same_org BEFORE INSERT OR UPDATE ON "{table}" '
                   f"FOR EACH ROW EXECUTE FUNCTION desk_same_org_{table}()")

    # Under row-level security the planner may use a user condition as an index condition
    # only if its function is LEAKPROOF (otherwise the condition waits until the policy has
    # filtered the rows). Without this the trigram search on tickets.search_text becomes a
    # scan of all of the organization's tickets for a dispatcher (measured: 2 ms → 350 ms
    # at 200,000 tickets). These comparisons raise errors only about the pattern or the
    # types, never about a row's value, so they reveal nothing beyond their result.
    for fn in LEAKPROOF_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} LEAKPROOF")

    # Organizations that exist already get their numbering row now, so that a
    # non-administrator never has to create it.
    if "ticket_number_sequences" in tenant:
        op.execute("INSERT INTO ticket_number_sequences (organization_id) SELECT id FROM organizations "
                   "ON CONFLICT DO NOTHING")


def downgrade() -> None:
    conn = op.get_bind()
    schema = _schema(conn)
    tables = [t for t in _tables(conn) if t not in NOT_OURS]
    policies = conn.execute(text(
        "SELECT tablename, policyname FROM pg_policies WHERE schemaname = current_schema() "
        "AND policyname LIKE 'desk\\_%'"
    )).all()
    for table, policy in policies:
        op.execute(f'DROP POLICY IF EXISTS "{policy}" ON "{table}"')
    op.execute("DROP TRIGGER IF EXISTS desk_guard_counter ON ticket_number_counters")
    for table in tables:
        op.execute(f'DROP TRIGGER IF EXISTS desk_same_org ON "{table}"')
        op.execute(f"DROP FUNCTION IF EXISTS desk_same_org_{table}()")
    for t in tables:
        op.execute(f'ALTER TABLE "{t}" NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{t}" DISABLE ROW LEVEL SECURITY')
        op.execute(f'REVOKE ALL ON "{t}" FROM {GROUP}')
        op.execute(f'ALTER TABLE "{t}" OWNER TO CURRENT_USER')
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA \"{schema}\" FROM {GROUP}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {GROUP}")
    op.execute(f"REVOKE USAGE ON SCHEMA \"{schema}\" FROM {GROUP}")
    op.execute(f"DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {GROUP}', current_database()); END $$")
    for fn in ("desk_guard_counter()", "desk_current_dispatcher_id()", "desk_is_admin()", "desk_current_org()"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for fn in LEAKPROOF_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} NOT LEAKPROOF")
    # The roles stay: they are cluster-wide and may serve other databases.
