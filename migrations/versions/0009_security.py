"""security: session versions, email confirmations for registering, log-in throttles, guest
links the owner can withdraw

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), nullable=False, server_default='0')
        )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('guest_links_since', sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        'email_confirmations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_confirmations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_email_confirmations_token_hash')),
    )
    op.create_index(
        op.f('ix_email_confirmations_email'), 'email_confirmations', ['email'], unique=False
    )
    op.create_table(
        'login_throttles',
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_login_throttles')),
    )
    op.create_index(
        op.f('ix_login_throttles_updated_at'), 'login_throttles', ['updated_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_login_throttles_updated_at'), table_name='login_throttles')
    op.drop_table('login_throttles')
    op.drop_index(op.f('ix_email_confirmations_email'), table_name='email_confirmations')
    op.drop_table('email_confirmations')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('guest_links_since')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
