"""security hardening: privileges from PUBLIC, scan verdicts, immutable bytes, outbox, numbers, audit actor

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:00:00

What an outside review found a dispatcher could do with raw SQL (issue 21), closed here:

* PUBLIC keeps CREATE on the schema on clusters made by PostgreSQL <= 14 (a dispatcher
  could plant an operator the superuser scheduler then runs) and CONNECT/TEMP on the
  database: both revoked; CONNECT and TEMP go to ``desk_dispatcher`` only. Sequences:
  USAGE only (SELECT showed every organization's totals).
* Scan verdicts: a blob a dispatcher inserts is always ``pending`` with a temporary
  ``~`` hash, and its scan columns change only through ``desk_record_scan`` (SECURITY
  DEFINER, legal transitions only: pending -> verdict, pending -> pending with a reason,
  not_scanned -> pending). The bytes are immutable once the upload has its hash: chunks
  are written and deleted only while the blob is still in progress (``~``), never
  updated; hash, size and type are fixed once set. Chunks are readable only when the
  file is ``clean`` (or by an administrator, the audited override); the scanner reads a
  pending file through ``desk_scan_chunks``.
* Attachments: what was stored (blob, name, type, category) never changes, and a
  thumbnail, once stored, is never replaced (only removed, when the file is quarantined);
  one is stored only for a clean file.
* Outbox: a dispatcher's connection may queue only messages about one of its work orders
  to that order's customer or technician (at their stored address), and never rewrites
  recipient, subject or body afterwards.
* A ticket's number never changes after insert; an audit row's actor is the connected
  dispatcher (``session_user`` through the mapping), the app's claim kept as a detail.

"Trusted" below means a connection not mapped to any organization (the superuser or an
administrator's tools, which row-level security already keeps away from tenant rows if
they are not privileged) or code running as ``desk_owner`` (SECURITY DEFINER functions
and the cascades of foreign keys).
"""
from alembic import op
from sqlalchemy import text

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OWNER = "desk_owner"
GROUP = "desk_dispatcher"
ORG = "organization_id = (SELECT desk_current_org())"
ADMIN = "(SELECT desk_is_admin())"
SCAN_COLUMNS = ("scan_status", "scan_signature", "scan_reason", "scanned_at", "scan_attempts")
STORED_COLUMNS = ("sha256", "size", "chunk_count", "mime_type")
ATTACHMENT_FIXED = ("blob_id", "original_name", "mime_type", "category", "extension_mismatch")
# As in domain/filetypes.py when this was written.
DATA_TEXT_TYPES = ("text/csv", "text/tab-separated-values", "text/x-log", "application/json", "text/json",
                   "application/xml", "text/xml", "application/x-ndjson")
OUTBOX_FIXED = ("idempotency_key", "event", "channel", "recipient_kind", "recipient_id", "recipient_address",
                "work_order_id", "subject", "body_text", "body_html")

FUNCTIONS = (
    "desk_trusted()", "desk_session_is_superuser()", "desk_current_dispatcher_name()",
    "desk_record_scan(bigint, text, text, text, integer)", "desk_scan_chunks(bigint)",
    "desk_guard_blob()", "desk_guard_attachment()", "desk_guard_outbox()", "desk_guard_ticket_number()",
    "desk_audit_actor()",
)
TRIGGERS = (
    ("blobs", "desk_guard_blob"), ("attachments", "desk_guard_attachment"),
    ("notifications", "desk_guard_outbox"), ("tickets", "desk_guard_ticket_number"),
    ("audit_log", "desk_audit_actor"),
)


def _changed(columns) -> str:
    return " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)


def upgrade() -> None:
    conn = op.get_bind()
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    path = f'SET search_path = pg_catalog, "{schema}", pg_temp'

    # --- 1 / 9: privileges PUBLIC should never have had ------------------------------------
    op.execute(f'REVOKE CREATE ON SCHEMA "{schema}" FROM PUBLIC')
    op.execute(f"""DO $$ BEGIN
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
        EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {GROUP}', current_database());
    END $$""")
    op.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "{schema}" FROM {GROUP}')
    op.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {GROUP}')

    # --- who may bypass the guards ---------------------------------------------------------
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_session_is_superuser() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), false)
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_trusted() RETURNS boolean
        LANGUAGE sql STABLE {path} AS $$
            SELECT current_user = '{OWNER}' OR desk_current_org() IS NULL
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_current_dispatcher_name() RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT display_name FROM dispatchers WHERE login_role = session_user::text AND active
        $$""")

    # SECURITY DEFINER code runs as the owner, whom FORCE ROW LEVEL SECURITY binds to the
    # caller's organization; a superuser caller has none, so the owner sees all for it.
    for t in ("blobs", "blob_chunks"):
        op.execute(f'CREATE POLICY desk_owner_for_superuser ON "{t}" TO {OWNER} '
                   f"USING ((SELECT desk_session_is_superuser())) WITH CHECK ((SELECT desk_session_is_superuser()))")

    # --- 5: scan verdicts only through desk_record_scan ------------------------------------
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_record_scan(p_blob bigint, p_status text, p_signature text,
                                                    p_reason text, p_attempts integer) RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            cur text;
        BEGIN
            SELECT scan_status INTO cur FROM blobs WHERE id = p_blob AND sha256 NOT LIKE '~%' FOR UPDATE;
            IF NOT FOUND THEN
                RETURN false;  -- not visible, or still being stored (no verdict before the bytes are final)
            END IF;
            IF cur = 'pending' AND p_status IN ('clean', 'infected', 'not_scanned') THEN
                UPDATE blobs SET scan_status = p_status, scan_signature = p_signature, scan_reason = p_reason,
                       scanned_at = now(), scan_attempts = scan_attempts + 1 WHERE id = p_blob;
            ELSIF cur = 'pending' AND p_status = 'pending' THEN
                UPDATE blobs SET scan_reason = p_reason, scan_attempts = coalesce(p_attempts, scan_attempts)
                 WHERE id = p_blob;
            ELSIF cur = 'not_scanned' AND p_status = 'pending' THEN
                UPDATE blobs SET scan_status = 'pending', scan_reason = p_reason, scan_signature = NULL,
                       scan_attempts = 0 WHERE id = p_blob;
            ELSE
                RAISE EXCEPTION 'A file that is % cannot become %.', cur, p_status USING ERRCODE = '42501';
            END IF;
            RETURN true;
        END
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_scan_chunks(p_blob bigint) RETURNS TABLE (seq integer, data bytea)
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT c.seq, c.data FROM blob_chunks c JOIN blobs b ON b.id = c.blob_id
             WHERE c.blob_id = p_blob AND b.scan_status = 'pending' ORDER BY c.seq
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_guard_blob() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF desk_trusted() THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.sha256 NOT LIKE '~%' THEN
                    RAISE EXCEPTION 'A file is stored in progress first (temporary hash), then finished.'
                        USING ERRCODE = '42501';
                END IF;
                NEW.scan_status := 'pending';
                NEW.scan_signature := NULL;
                NEW.scan_reason := NULL;
                NEW.scanned_at := NULL;
                NEW.scan_attempts := 0;
                RETURN NEW;
            END IF;
            IF {_changed(SCAN_COLUMNS)} THEN
                RAISE EXCEPTION 'Only the virus scanner records a scan result.' USING ERRCODE = '42501';
            END IF;
            IF ({_changed(STORED_COLUMNS)}) AND OLD.sha256 NOT LIKE '~%' THEN
                RAISE EXCEPTION 'A stored file cannot be changed.' USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END
        $$""")

    # Chunks: written and removed only while their file is in progress, never updated;
    # readable when the file is clean, in progress, or by an administrator.
    in_progress = "EXISTS (SELECT 1 FROM blobs b WHERE b.id = blob_chunks.blob_id AND b.sha256 LIKE '~%')"
    for policy in ("desk_tenant_read", "desk_tenant_insert", "desk_tenant_update", "desk_tenant_delete"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON blob_chunks")
    op.execute(f"REVOKE UPDATE ON blob_chunks FROM {GROUP}")
    op.execute(f"CREATE POLICY desk_tenant_read ON blob_chunks FOR SELECT USING ({ORG} AND ({ADMIN} OR EXISTS ("
               f"SELECT 1 FROM blobs b WHERE b.id = blob_chunks.blob_id "
               f"AND (b.scan_status = 'clean' OR b.sha256 LIKE '~%'))))")
    # desk_scan_chunks (owned by the owner) reads a pending file of the caller's organization.
    op.execute(f"CREATE POLICY desk_owner_scan ON blob_chunks FOR SELECT TO {OWNER} USING ({ORG})")
    op.execute(f"CREATE POLICY desk_tenant_insert ON blob_chunks FOR INSERT WITH CHECK ({ORG} AND {in_progress})")
    op.execute(f"CREATE POLICY desk_tenant_delete ON blob_chunks FOR DELETE USING ({ORG} AND {in_progress})")

    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_guard_attachment() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF desk_trusted() THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.thumbnail IS NOT NULL THEN
                    RAISE EXCEPTION 'A thumbnail is made after the file is scanned.' USING ERRCODE = '42501';
                END IF;
                RETURN NEW;
            END IF;
            IF {_changed(ATTACHMENT_FIXED)} THEN
                RAISE EXCEPTION 'What was attached cannot be changed.' USING ERRCODE = '42501';
            END IF;
            IF NEW.thumbnail IS DISTINCT FROM OLD.thumbnail OR NEW.thumbnail_mime IS DISTINCT FROM OLD.thumbnail_mime THEN
                IF OLD.thumbnail IS NOT NULL AND NEW.thumbnail IS NOT NULL THEN
                    RAISE EXCEPTION 'A stored thumbnail cannot be replaced.' USING ERRCODE = '42501';
                END IF;
                IF NEW.thumbnail IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM blobs b WHERE b.id = NEW.blob_id AND b.scan_status = 'clean') THEN
                    RAISE EXCEPTION 'Only a clean file gets a thumbnail.' USING ERRCODE = '42501';
                END IF;
            END IF;
            RETURN NEW;
        END
        $$""")

    # --- 8: the outbox ---------------------------------------------------------------------
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_guard_outbox() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        DECLARE
            wo record;
            expected text;
        BEGIN
            IF desk_trusted() THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'UPDATE' THEN
                IF {_changed(c for c in OUTBOX_FIXED if c != "recipient_address")} THEN
                    RAISE EXCEPTION 'A queued message cannot be rewritten.' USING ERRCODE = '42501';
                END IF;
                IF NEW.recipient_address IS NOT DISTINCT FROM OLD.recipient_address THEN
                    RETURN NEW;
                END IF;
                -- The address became known (retry): checked as on insert.
            END IF;
            SELECT w.technician_id, t.customer_id INTO wo FROM work_orders w
              LEFT JOIN tickets t ON t.id = w.source_ticket_id AND t.organization_id = w.organization_id
             WHERE w.id = NEW.work_order_id AND w.organization_id = NEW.organization_id;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'A message must be about one of the organization''s work orders.'
                    USING ERRCODE = '42501';
            END IF;
            IF NEW.recipient_kind = 'customer' AND NEW.recipient_id IS NOT DISTINCT FROM wo.customer_id THEN
                SELECT nullif(btrim(email, E' \\t\\n\\r\\f\\v'), '') INTO expected FROM customers
                 WHERE id = NEW.recipient_id AND organization_id = NEW.organization_id;
            ELSIF NEW.recipient_kind = 'technician'
                  AND (NEW.recipient_id = wo.technician_id OR NEW.event = 'work_order.unassigned') THEN
                SELECT nullif(btrim(email, E' \\t\\n\\r\\f\\v'), '') INTO expected FROM technicians
                 WHERE id = NEW.recipient_id AND organization_id = NEW.organization_id;
            ELSE
                RAISE EXCEPTION 'A message may go only to the work order''s customer or technician.'
                    USING ERRCODE = '42501';
            END IF;
            IF NEW.channel = 'email' AND NEW.recipient_address IS DISTINCT FROM expected THEN
                RAISE EXCEPTION 'A message may go only to the address stored for its recipient.'
                    USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END
        $$""")

    # --- 10: ticket numbers ----------------------------------------------------------------
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_guard_ticket_number() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        BEGIN
            IF NEW.number IS DISTINCT FROM OLD.number AND NOT desk_trusted() THEN
                RAISE EXCEPTION 'A ticket''s number cannot be changed.' USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END
        $$""")

    # --- 11: the audit actor ---------------------------------------------------------------
    op.execute(f"""
        CREATE OR REPLACE FUNCTION desk_audit_actor() RETURNS trigger
        LANGUAGE plpgsql {path} AS $$
        DECLARE
            name text := desk_current_dispatcher_name();
        BEGIN
            IF name IS NULL THEN
                RETURN NEW;  -- not a dispatcher's connection: the administrator's tools say who
            END IF;
            IF NEW.actor IS DISTINCT FROM name THEN
                NEW.details := coalesce(NEW.details, '{{}}'::jsonb)
                               || jsonb_build_object('app_actor', NEW.actor, 'login_role', session_user::text);
            END IF;
            NEW.actor := left(name, 100);
            RETURN NEW;
        END
        $$""")

    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    for fn in ("desk_trusted()", "desk_session_is_superuser()", "desk_current_dispatcher_name()",
               "desk_record_scan(bigint, text, text, text, integer)", "desk_scan_chunks(bigint)"):
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {GROUP}")

    # Issue 22, item 7: data files (CSV, JSON, XML, logs) are "other", as the platform lists them.
    op.execute("UPDATE attachments SET category = 'other' WHERE category = 'document' AND mime_type IN ("
               + ", ".join(f"'{m}'" for m in DATA_TEXT_TYPES) + ")")

    op.execute("CREATE TRIGGER desk_guard_blob BEFORE INSERT OR UPDATE ON blobs "
               "FOR EACH ROW EXECUTE FUNCTION desk_guard_blob()")
    op.execute("CREATE TRIGGER desk_guard_attachment BEFORE INSERT OR UPDATE ON attachments "
               "FOR EACH ROW EXECUTE FUNCTION desk_guard_attachment()")
    op.execute("CREATE TRIGGER desk_guard_outbox BEFORE INSERT OR UPDATE ON notifications "
               "FOR EACH ROW EXECUTE FUNCTION desk_guard_outbox()")
    op.execute("CREATE TRIGGER desk_guard_ticket_number BEFORE UPDATE OF number ON tickets "
               "FOR EACH ROW EXECUTE FUNCTION desk_guard_ticket_number()")
    op.execute("CREATE TRIGGER desk_audit_actor BEFORE INSERT ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION desk_audit_actor()")


def downgrade() -> None:
    conn = op.get_bind()
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    for table, trigger in TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS {trigger} ON "{table}"')
    for t in ("blobs", "blob_chunks"):
        op.execute(f'DROP POLICY IF EXISTS desk_owner_for_superuser ON "{t}"')
    for policy in ("desk_tenant_read", "desk_tenant_insert", "desk_tenant_delete", "desk_owner_scan"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON blob_chunks")
    # 0002's chunk policies.
    op.execute(f"GRANT UPDATE ON blob_chunks TO {GROUP}")
    op.execute(f"CREATE POLICY desk_tenant_read ON blob_chunks FOR SELECT USING ({ORG} AND ({ADMIN} OR NOT EXISTS ("
               f"SELECT 1 FROM blobs b WHERE b.id = blob_chunks.blob_id AND b.scan_status = 'infected')))")
    op.execute(f"CREATE POLICY desk_tenant_insert ON blob_chunks FOR INSERT WITH CHECK ({ORG})")
    op.execute(f"CREATE POLICY desk_tenant_update ON blob_chunks FOR UPDATE USING ({ORG}) WITH CHECK ({ORG})")
    op.execute(f"CREATE POLICY desk_tenant_delete ON blob_chunks FOR DELETE USING ({ORG})")
    for fn in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute(f'GRANT SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {GROUP}')
    op.execute("UPDATE attachments SET category = 'document' WHERE category = 'other' AND mime_type IN ("
               + ", ".join(f"'{m}'" for m in DATA_TEXT_TYPES) + ")")
    # The database's and schema's PUBLIC privileges stay revoked: giving them back would
    # reopen what this migration closed, and nothing older relies on them.
