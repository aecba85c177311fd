"""addresses: address line 2, region and phone on checkouts and orders; saved addresses of
accounts (at most one default per user)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_WHERE = 'is_default'
NEW_COLUMNS = (('address_line2', 200), ('region', 120), ('phone', 32))


def upgrade() -> None:
    for table in ('checkouts', 'orders'):
        with op.batch_alter_table(table) as batch:
            for name, length in NEW_COLUMNS:
                batch.add_column(
                    sa.Column(name, sa.String(length), server_default='', nullable=False)
                )
    op.create_table(
        'addresses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('full_name', sa.String(120), nullable=False),
        sa.Column('address_line1', sa.String(200), nullable=False),
        sa.Column('address_line2', sa.String(200), nullable=False),
        sa.Column('city', sa.String(120), nullable=False),
        sa.Column('region', sa.String(120), nullable=False),
        sa.Column('postal_code', sa.String(20), nullable=False),
        sa.Column('country', sa.String(2), nullable=False),
        sa.Column('phone', sa.String(32), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_addresses_user_id_users'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses')),
    )
    op.create_index(op.f('ix_addresses_user_id'), 'addresses', ['user_id'], unique=False)
    op.create_index(
        'uq_addresses_default_user',
        'addresses',
        ['user_id'],
        unique=True,
        postgresql_where=sa.text(DEFAULT_WHERE),
        sqlite_where=sa.text(DEFAULT_WHERE),
    )


def downgrade() -> None:
    op.drop_index('uq_addresses_default_user', table_name='addresses')
    op.drop_index(op.f('ix_addresses_user_id'), table_name='addresses')
    op.drop_table('addresses')
    for table in ('orders', 'checkouts'):
        with op.batch_alter_table(table) as batch:
            for name, _length in reversed(NEW_COLUMNS):
                batch.drop_column(name)
