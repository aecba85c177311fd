"""index owed back-orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:10:10.555042
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWED_WHERE = "state = 'committed' AND backorder_quantity > 0"


def upgrade() -> None:
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index(
            'ix_reservations_owed',
            ['variant_id'],
            unique=False,
            postgresql_where=sa.text(OWED_WHERE),
            sqlite_where=sa.text(OWED_WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_reservations_owed')
