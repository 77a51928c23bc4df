"""catalogs per organization: ticket categories, skills, customer types, work-order types

Revision ID: 0008
Revises: 0007

Until now these four vocabularies were Python enums, so an organization could not use its
own words. Each becomes a table of entries per organization — a stable ``key`` (what rows
refer to), a display ``name`` (what people read; renaming changes it everywhere at once),
an ``active`` flag (a retired entry is hidden from new choices and kept on old records)
and a ``position`` (the order of the choices).

* The rows that use an entry refer to it by a foreign key on (organization, key): tickets,
  customers, work orders, rules' work-order type and technicians' skills. An entry in use
  cannot be deleted; entries are never deleted by the product, only retired.
* Rules keep their trigger lists and required skills as arrays; a trigger checks every
  element against the catalog (a foreign key cannot reach into an array).
* Keys never change: dispatchers get UPDATE on name, active and position only.
* Everyone in the organization reads its catalogs; only its administrators write them
  (row-level security, as for rules).
* A new organization gets today's values as its defaults, from a trigger on
  ``organizations`` (as its number format, migration 0007); existing organizations get
  them now, plus any key their rows already use.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OWNER = "desk_owner"
GROUP = "desk_dispatcher"
ORG = "organization_id = (SELECT desk_current_org())"
ADMIN = "(SELECT desk_is_admin())"

# (table, default entries as (key, name)): the values of the enums they replace.
CATALOGS = {
    "ticket_categories": [
        ("hvac", "HVAC"), ("electrical", "Electrical"), ("plumbing", "Plumbing"), ("network", "Network"),
        ("hardware", "Hardware"), ("software", "Software"), ("security", "Security"),
        ("appliance", "Appliance"), ("general", "General"),
    ],
    "skills": [
        ("hvac", "HVAC"), ("electrical", "Electrical"), ("plumbing", "Plumbing"),
        ("networking", "Networking"), ("fiber", "Fiber"), ("refrigeration", "Refrigeration"),
        ("appliances", "Appliances"), ("security_systems", "Security systems"),
        ("it_hardware", "IT hardware"), ("gas", "Gas"), ("solar", "Solar"), ("carpentry", "Carpentry"),
    ],
    "customer_types": [
        ("residential", "Residential"), ("business", "Business"), ("enterprise", "Enterprise"),
        ("government", "Government"),
    ],
    "work_order_types": [
        ("installation", "Installation"), ("repair", "Repair"), ("maintenance", "Maintenance"),
        ("inspection", "Inspection"), ("emergency", "Emergency"), ("diagnostic", "Diagnostic"),
    ],
}

# (table, column, catalog): the rows that refer to an entry by its key.
REFERENCES = (
    ("tickets", "category", "ticket_categories"),
    ("customers", "customer_type", "customer_types"),
    ("work_orders", "work_type", "work_order_types"),
    ("ticket_work_order_rules", "wo_type", "work_order_types"),
    ("technician_skills", "skill", "skills"),
)

# (rule column, catalog, what the error calls an element)
RULE_ARRAYS = (
    ("trigger_categories", "ticket_categories", "category"),
    ("trigger_customer_types", "customer_types", "customer type"),
    ("required_skills", "skills", "skill"),
)


def _defaults_sql(table: str, org: str) -> str:
    values = ", ".join(f"('{key}', '{name}', {i})" for i, (key, name) in enumerate(CATALOGS[table], start=1))
    return (f"INSERT INTO {table} (organization_id, key, name, position) "
            f"SELECT {org}, v.key, v.name, v.position FROM (VALUES {values}) AS v(key, name, position) "
            "ON CONFLICT DO NOTHING")


def upgrade() -> None:
    for table in CATALOGS:
        op.execute(f"""
            CREATE TABLE {table} (
                organization_id bigint NOT NULL,
                key varchar(40) NOT NULL,
                name varchar(80) NOT NULL,
                active boolean NOT NULL DEFAULT true,
                position integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT pk_{table} PRIMARY KEY (organization_id, key),
                CONSTRAINT fk_{table}_organization_id_organizations FOREIGN KEY (organization_id)
                    REFERENCES organizations(id) ON DELETE CASCADE,
                CONSTRAINT ck_{table}_key_format CHECK (key ~ '^[a-z0-9][a-z0-9_]*$'),
                CONSTRAINT ck_{table}_name_not_blank CHECK (length(btrim(name)) > 0)
            )""")
        op.execute(f"CREATE UNIQUE INDEX uq_{table}_name ON {table} (organization_id, lower(name))")
        op.execute(f"ALTER TABLE {table} OWNER TO {OWNER}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE (name, active, position) ON {table} TO {GROUP}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY desk_tenant_read ON {table} FOR SELECT USING ({ORG})")
        op.execute(f"CREATE POLICY desk_admin_insert ON {table} FOR INSERT WITH CHECK ({ORG} AND {ADMIN})")
        op.execute(f"CREATE POLICY desk_admin_update ON {table} FOR UPDATE "
                   f"USING ({ORG} AND {ADMIN}) WITH CHECK ({ORG} AND {ADMIN})")

    # New organizations: the defaults, in the statement that creates them.
    body = ";\n".join(_defaults_sql(t, "NEW.id") for t in CATALOGS)
    op.execute(f"""
        CREATE FUNCTION desk_add_default_catalogs() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            {body};
            RETURN NEW;
        END $$""")
    op.execute("REVOKE ALL ON FUNCTION desk_add_default_catalogs() FROM PUBLIC")
    op.execute("CREATE TRIGGER organizations_default_catalogs AFTER INSERT ON organizations "
               "FOR EACH ROW EXECUTE FUNCTION desk_add_default_catalogs()")

    # Existing organizations: the defaults, then every key already in use (named after itself).
    for table in CATALOGS:
        op.execute(_defaults_sql(table, "o.id").replace("FROM (VALUES", "FROM organizations o, (VALUES", 1))
    used = [(t, c, cat) for t, c, cat in REFERENCES] + [("ticket_work_order_rules", f"unnest({c})", cat)
                                                        for c, cat, _ in RULE_ARRAYS]
    for table, column, catalog in used:
        op.execute(f"""
            INSERT INTO {catalog} (organization_id, key, name, position)
            SELECT DISTINCT u.organization_id, u.key, initcap(replace(u.key, '_', ' ')), 1000
              FROM (SELECT organization_id, {column} AS key FROM {table}) u
             WHERE u.key IS NOT NULL
            ON CONFLICT DO NOTHING""")

    for table, column, catalog in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ck_{table}_{column}")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(40)")  # as long as a key
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_{catalog} "
                   f"FOREIGN KEY (organization_id, {column}) REFERENCES {catalog} (organization_id, key)")
        # Keys change only by migration, so an entry in use can be neither deleted nor rekeyed.

    checks = "\n".join(f"""
        SELECT min(k) INTO bad FROM unnest(NEW.{column}) k
         WHERE NOT EXISTS (SELECT 1 FROM {catalog} c WHERE c.organization_id = NEW.organization_id AND c.key = k);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'The rule names an unknown {word} ''%''.', bad
                USING ERRCODE = '23503', CONSTRAINT = 'fk_rule_{column}';
        END IF;""" for column, catalog, word in RULE_ARRAYS)
    op.execute(f"""
        CREATE FUNCTION desk_check_rule_catalogs() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        DECLARE bad text;
        BEGIN
            {checks}
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER desk_rule_catalogs BEFORE INSERT OR UPDATE ON ticket_work_order_rules "
               "FOR EACH ROW EXECUTE FUNCTION desk_check_rule_catalogs()")


def downgrade() -> None:
    op.execute("DROP TRIGGER desk_rule_catalogs ON ticket_work_order_rules")
    op.execute("DROP FUNCTION desk_check_rule_catalogs()")
    for table, column, catalog in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_{column}_{catalog}")
    # The key columns stay 40 characters long (a key longer than the old 20 may be in use).
    op.execute("ALTER TABLE customers ADD CONSTRAINT ck_customers_customer_type "
               "CHECK (customer_type IN ('residential','business','enterprise','government')) NOT VALID")
    op.execute("DROP TRIGGER organizations_default_catalogs ON organizations")
    op.execute("DROP FUNCTION desk_add_default_catalogs()")
    for table in CATALOGS:
        op.execute(f"DROP TABLE {table}")
