"""discount codes: percent or fixed, on the order or on chosen products, with a minimum spend,
dates, once per shopper and a usage limit; limited uses are held like stock (discount_holds)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
# The only line to change when this migration is re-chained after another one.
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD_WHERE = "state = 'held'"


def _codes() -> None:
    op.create_table(
        'discount_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=40), nullable=False),
        sa.Column(
            'kind',
            sa.Enum('percent', 'fixed', name='discountkind', native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column(
            'applies_to',
            sa.Enum('order', 'products', name='discountscope', native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column('min_spend_cents', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('once_per_shopper', sa.Boolean(), nullable=False),
        sa.Column('usage_limit', sa.Integer(), nullable=True),
        sa.Column('uses', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('code = upper(code)', name=op.f('ck_discount_codes_code_upper_case')),
        sa.CheckConstraint('value > 0', name=op.f('ck_discount_codes_value_positive')),
        sa.CheckConstraint(
            "kind != 'percent' OR value <= 10000",
            name=op.f('ck_discount_codes_percent_at_most_100'),
        ),
        sa.CheckConstraint(
            "kind != 'fixed' OR currency IS NOT NULL",
            name=op.f('ck_discount_codes_fixed_has_currency'),
        ),
        sa.CheckConstraint(
            'min_spend_cents >= 0', name=op.f('ck_discount_codes_min_spend_not_negative')
        ),
        sa.CheckConstraint('uses >= 0', name=op.f('ck_discount_codes_uses_not_negative')),
        sa.CheckConstraint(
            'usage_limit IS NULL OR usage_limit >= 1',
            name=op.f('ck_discount_codes_usage_limit_positive'),
        ),
        sa.CheckConstraint(
            'usage_limit IS NULL OR uses <= usage_limit',
            name=op.f('ck_discount_codes_uses_within_limit'),
        ),
        sa.CheckConstraint(
            'starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at',
            name=op.f('ck_discount_codes_starts_before_ends'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_codes')),
        sa.UniqueConstraint('code', name=op.f('uq_discount_codes_code')),
    )
    op.create_table(
        'discount_code_products',
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['code_id'], ['discount_codes.id'],
            name=op.f('fk_discount_code_products_code_id_discount_codes'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['product_id'], ['products.id'],
            name=op.f('fk_discount_code_products_product_id_products'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('code_id', 'product_id', name=op.f('pk_discount_code_products')),
    )
    op.create_index(
        op.f('ix_discount_code_products_product_id'), 'discount_code_products', ['product_id'],
    )


def _holds() -> None:
    op.create_table(
        'discount_holds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code_id', sa.Integer(), nullable=False),
        sa.Column('checkout_id', sa.Integer(), nullable=True),
        sa.Column('shopper_key', sa.String(length=254), nullable=False),
        sa.Column(
            'state',
            sa.Enum(
                'held', 'committed', 'released',
                name='discountholdstate', native_enum=False, length=32,
            ),
            nullable=False,
        ),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('released_reason', sa.String(length=40), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(state = 'committed') = (committed_at IS NOT NULL)",
            name=op.f('ck_discount_holds_committed_has_time'),
        ),
        sa.CheckConstraint(
            "state != 'released' OR released_at IS NOT NULL",
            name=op.f('ck_discount_holds_released_has_time'),
        ),
        sa.ForeignKeyConstraint(
            ['code_id'], ['discount_codes.id'],
            name=op.f('fk_discount_holds_code_id_discount_codes'),
        ),
        sa.ForeignKeyConstraint(
            ['checkout_id'], ['checkouts.id'],
            name=op.f('fk_discount_holds_checkout_id_checkouts'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_holds')),
    )
    op.create_index(
        op.f('ix_discount_holds_checkout_id'), 'discount_holds', ['checkout_id'],
    )
    op.create_index(
        'ix_discount_holds_code_state_expires', 'discount_holds',
        ['code_id', 'state', 'expires_at'],
    )
    op.create_index(
        'ix_discount_holds_code_shopper', 'discount_holds', ['code_id', 'shopper_key'],
    )
    op.create_index(
        'ix_discount_holds_held_expires',
        'discount_holds',
        ['expires_at'],
        postgresql_where=sa.text(HELD_WHERE),
        sqlite_where=sa.text(HELD_WHERE),
    )


def upgrade() -> None:
    _codes()
    _holds()


def downgrade() -> None:
    op.drop_index('ix_discount_holds_held_expires', table_name='discount_holds')
    op.drop_index('ix_discount_holds_code_shopper', table_name='discount_holds')
    op.drop_index('ix_discount_holds_code_state_expires', table_name='discount_holds')
    op.drop_index(op.f('ix_discount_holds_checkout_id'), table_name='discount_holds')
    op.drop_table('discount_holds')
    op.drop_index(
        op.f('ix_discount_code_products_product_id'), table_name='discount_code_products'
    )
    op.drop_table('discount_code_products')
    op.drop_table('discount_codes')
