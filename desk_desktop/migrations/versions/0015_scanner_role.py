"""only the virus scanner's connection marks a file clean (role desk_scanner)

Revision ID: 0015
Revises: 0014

Since 0006 a verdict goes only through ``desk_record_scan``, and only from ``pending``. A
dispatcher's connection could still call it with ``clean`` for one of its organization's
pending files — for example one the workstation left pending because clamd was down — and
that file would then open on every workstation with one click (issue 21, item 5).

A verdict of *clean* is now recorded only by a connection whose login is a member of the
NOLOGIN role ``desk_scanner`` (a superuser counts as a member of every role). That is the
administrator's decision of whose scan to trust:

* the server's ``desk-desktop scheduler`` connected as a superuser (or as a scanner login)
  scans every organization's pending files; its ``rescan`` job wakes on each upload;
* the private cluster's own login ``desk_local`` is a scanner (one person, one machine);
* ``admin add-dispatcher --scanner`` makes a workstation's login a scanner, for a site
  without a server scheduler.

Any other dispatcher's upload stays *pending* ("waiting for the server's virus scanner")
until a scanner looks at it; *infected* and *not scanned* can still be recorded by anyone,
as they only ever lock a file away. The check is a trigger on ``blobs``, so it holds for
``desk_record_scan`` (which runs as the owner: the trigger asks about ``session_user``, the
login) and for any other path alike.
"""

from alembic import op
from sqlalchemy import text

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

OWNER = "desk_owner"
GROUP = "desk_dispatcher"
SCANNER = "desk_scanner"


def upgrade() -> None:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    path = f'SET search_path = pg_catalog, "{schema}", pg_temp'
    # Roles are cluster-wide: another database on this server may have created it.
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SCANNER}') THEN
                CREATE ROLE {SCANNER} NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
            END IF;
        END
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_may_record_verdicts() RETURNS boolean
        LANGUAGE sql STABLE {path} AS $$
            SELECT pg_has_role(session_user, '{SCANNER}', 'MEMBER')
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_guard_clean_verdict() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF NEW.scan_status = 'clean' AND OLD.scan_status <> 'clean' AND NOT desk_may_record_verdicts() THEN
                RAISE EXCEPTION 'Only the virus scanner''s connection (a member of {SCANNER}) may mark a file clean.'
                    USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END
        $$""")
    for fn in ("desk_may_record_verdicts()", "desk_guard_clean_verdict()"):
        op.execute(f"ALTER FUNCTION {fn} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION desk_may_record_verdicts() TO {GROUP}")
    op.execute("CREATE TRIGGER desk_guard_clean_verdict BEFORE UPDATE OF scan_status ON blobs "
               "FOR EACH ROW EXECUTE FUNCTION desk_guard_clean_verdict()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS desk_guard_clean_verdict ON blobs")
    op.execute("DROP FUNCTION IF EXISTS desk_guard_clean_verdict()")
    op.execute("DROP FUNCTION IF EXISTS desk_may_record_verdicts()")
    # The role stays: other databases on this server may use it (as 0002 leaves its roles).
