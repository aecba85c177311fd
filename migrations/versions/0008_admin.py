"""admin: per-variant low-stock threshold, resized product images, return decisions, the
audit log's IP, and the shop's settings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('low_stock_threshold', sa.Integer(), nullable=False, server_default='5')
        )
    with op.batch_alter_table('product_images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stored_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('height', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('card_data', sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_product_images_stored_name'), ['stored_name']
        )
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('decision_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=254), nullable=True))
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=True))
    op.create_table(
        'shop_settings',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_shop_settings')),
    )


def downgrade() -> None:
    op.drop_table('shop_settings')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('ip')
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_column('decided_by')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decision_reason')
        batch_op.drop_column('decision')
    with op.batch_alter_table('product_images', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_product_images_stored_name'), type_='unique')
        batch_op.drop_column('card_data')
        batch_op.drop_column('height')
        batch_op.drop_column('width')
        batch_op.drop_column('stored_name')
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_column('low_stock_threshold')
