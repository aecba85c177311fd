"""variant images: a product photo may show one colour of the product (product_images.colour);
the product page shows the photo of the chosen variant's colour

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
# The only line to change when this migration is re-chained after another one.
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('product_images') as batch:
        batch.add_column(sa.Column('colour', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('product_images') as batch:
        batch.drop_column('colour')
