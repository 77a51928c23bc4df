"""default number format for every organization, made by the database with the organization

Ticket creation used to add an organization's number format the first time a ticket was
created; now it only reads it. A trigger gives each new organization the default format
in the statement that creates it, whichever path creates it (the admin command, the demo,
a benchmark, a script), and every existing organization that has none gets it now.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION desk_add_default_number_format() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            INSERT INTO ticket_number_sequences (organization_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
            RETURN NEW;
        END $$
    """)
    op.execute("REVOKE ALL ON FUNCTION desk_add_default_number_format() FROM PUBLIC")
    op.execute("CREATE TRIGGER organizations_default_number_format AFTER INSERT ON organizations "
               "FOR EACH ROW EXECUTE FUNCTION desk_add_default_number_format()")
    op.execute(
        "INSERT INTO ticket_number_sequences (organization_id) "
        "SELECT o.id FROM organizations o "
        "WHERE NOT EXISTS (SELECT 1 FROM ticket_number_sequences s WHERE s.organization_id = o.id)"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER organizations_default_number_format ON organizations")
    op.execute("DROP FUNCTION desk_add_default_number_format()")
    # The format rows are the organizations' data: a downgraded schema keeps and uses them.
