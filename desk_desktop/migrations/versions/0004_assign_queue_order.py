"""the assign job's queue index in claim order, per organization

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 04:35:00

The assign job claims ``ORDER BY next_assign_at NULLS FIRST, id`` among an organization's
orders that want assignment. The old queue index (``next_assign_at`` only, ascending with
nulls last) could not give that order, so every claim sorted all due orders of the
organization (26 ms per batch at 10,000 due orders). In claim order and per organization,
a claim reads its batch off the index.
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_work_orders_assign_queue", table_name="work_orders")
    op.execute("CREATE INDEX ix_work_orders_assign_queue ON work_orders "
               "(organization_id, next_assign_at NULLS FIRST, id) WHERE needs_assignment")


def downgrade() -> None:
    op.drop_index("ix_work_orders_assign_queue", table_name="work_orders")
    op.create_index("ix_work_orders_assign_queue", "work_orders", ["next_assign_at"], unique=False,
                    postgresql_where="needs_assignment")
