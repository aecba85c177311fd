"""alerts: what the owner is told about (errors, the sweeper, webhooks, the database, memory),
opened and resolved, at most one open per kind

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_WHERE = 'resolved_at IS NULL'


def upgrade() -> None:
    op.create_table(
        'alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column(
            'kind',
            sa.Enum(
                'errors', 'sweeper', 'webhooks', 'database', 'memory',
                name='alertkind', native_enum=False, length=32,
            ),
            nullable=False,
        ),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('notified', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    )
    op.create_index(op.f('ix_alerts_opened_at'), 'alerts', ['opened_at'], unique=False)
    op.create_index(
        'uq_alerts_open_kind',
        'alerts',
        ['kind'],
        unique=True,
        postgresql_where=sa.text(OPEN_WHERE),
        sqlite_where=sa.text(OPEN_WHERE),
    )


def downgrade() -> None:
    op.drop_index('uq_alerts_open_kind', table_name='alerts')
    op.drop_index(op.f('ix_alerts_opened_at'), table_name='alerts')
    op.drop_table('alerts')
