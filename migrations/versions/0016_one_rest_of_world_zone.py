"""at most one rest-of-the-world shipping zone, kept by a partial unique index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
# The only line to change when this migration is re-chained after another one.
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'uq_shipping_zones_one_rest_of_world',
        'shipping_zones',
        ['rest_of_world'],
        unique=True,
        postgresql_where=sa.text('rest_of_world'),
        sqlite_where=sa.text('rest_of_world'),
    )


def downgrade() -> None:
    op.drop_index('uq_shipping_zones_one_rest_of_world', table_name='shipping_zones')
