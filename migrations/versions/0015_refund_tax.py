"""each refund records the tax it returned (refunds.tax_cents)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
# The only line to change when this migration is re-chained after another one.
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Refunds from before this migration read 0 tax: orders then charged none.
    with op.batch_alter_table('refunds') as batch:
        batch.add_column(sa.Column('tax_cents', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('refunds') as batch:
        batch.drop_column('tax_cents')
