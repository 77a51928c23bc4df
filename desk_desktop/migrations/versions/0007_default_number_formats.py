"""default number format for every organization

Ticket creation used to add an organization's number format the first time a ticket was
created; now the format is made with the organization and ticket creation only reads it.
This gives every organization that has none yet (created since 0002 without a ticket) the
default format, so upgrading never leaves one unable to create tickets.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO ticket_number_sequences (organization_id) "
        "SELECT o.id FROM organizations o "
        "WHERE NOT EXISTS (SELECT 1 FROM ticket_number_sequences s WHERE s.organization_id = o.id)"
    )


def downgrade() -> None:
    pass  # the rows are the organizations' data: a downgraded schema keeps and uses them
