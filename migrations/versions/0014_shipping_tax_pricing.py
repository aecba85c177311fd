"""shipping zones and rates, tax rates, variant weights, and each checkout's and order's price
breakdown (subtotal, discount, shipping, tax, per line discount and tax)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
# The only line to change when this migration is re-chained after another one.
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BREAKDOWN = ('subtotal_cents', 'discount_cents', 'shipping_cents', 'shipping_tax_cents', 'tax_cents')
LINE = ('discount_cents', 'tax_cents')


def _breakdown(batch) -> None:
    for name in BREAKDOWN:
        batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0'))
    batch.add_column(
        sa.Column('prices_include_tax', sa.Boolean(), nullable=False, server_default=sa.false())
    )
    batch.add_column(sa.Column('shipping_name', sa.String(80), nullable=False, server_default=''))
    batch.add_column(sa.Column('discount_code', sa.String(40), nullable=False, server_default=''))


def _line(batch) -> None:
    for name in LINE:
        batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0'))
    batch.add_column(sa.Column('tax_percent', sa.String(12), nullable=False, server_default=''))


def upgrade() -> None:
    op.create_table(
        'shipping_zones',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('rest_of_world', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_zones')),
        sa.UniqueConstraint('name', name=op.f('uq_shipping_zones_name')),
    )
    op.create_table(
        'shipping_places',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('zone_id', sa.Integer(), nullable=False),
        sa.Column('country', sa.String(2), nullable=False),
        sa.Column('region', sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(
            ['zone_id'], ['shipping_zones.id'], ondelete='CASCADE',
            name=op.f('fk_shipping_places_zone_id_shipping_zones'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_places')),
        sa.UniqueConstraint('country', 'region', name='one_zone_per_place'),
    )
    op.create_index(op.f('ix_shipping_places_zone_id'), 'shipping_places', ['zone_id'])
    op.create_table(
        'shipping_rates',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('zone_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('price_cents', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('bands', sa.JSON(), nullable=False),
        sa.Column('free_above_cents', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('price_cents >= 0', name=op.f('ck_shipping_rates_price_not_negative')),
        sa.CheckConstraint(
            'free_above_cents IS NULL OR free_above_cents >= 0',
            name=op.f('ck_shipping_rates_free_above_not_negative'),
        ),
        sa.ForeignKeyConstraint(
            ['zone_id'], ['shipping_zones.id'], ondelete='CASCADE',
            name=op.f('fk_shipping_rates_zone_id_shipping_zones'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_rates')),
    )
    op.create_index(op.f('ix_shipping_rates_zone_id'), 'shipping_rates', ['zone_id'])
    op.create_table(
        'tax_rates',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('country', sa.String(2), nullable=False),
        sa.Column('region', sa.String(80), nullable=False),
        sa.Column('category', sa.String(40), nullable=False),
        sa.Column('percent_thousandths', sa.Integer(), nullable=False),
        sa.Column('applies_to_shipping', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            'percent_thousandths >= 0 AND percent_thousandths <= 100000',
            name=op.f('ck_tax_rates_percent_range'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_rates')),
        sa.UniqueConstraint(
            'country', 'region', 'category', name='one_rate_per_place'
        ),
    )
    with op.batch_alter_table('variants') as batch:
        batch.add_column(sa.Column('weight_grams', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('checkouts') as batch:
        _breakdown(batch)
        batch.add_column(sa.Column('shipping_rate_id', sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column('needs_shipping', sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.create_foreign_key(
            op.f('fk_checkouts_shipping_rate_id_shipping_rates'), 'shipping_rates',
            ['shipping_rate_id'], ['id'], ondelete='SET NULL',
        )
    with op.batch_alter_table('checkout_lines') as batch:
        _line(batch)
        batch.add_column(sa.Column('weight_grams', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(
            sa.Column('is_digital', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('orders') as batch:
        _breakdown(batch)
    with op.batch_alter_table('order_lines') as batch:
        _line(batch)
    # Orders and checkouts from before this migration: their total was their subtotal.
    op.execute('UPDATE checkouts SET subtotal_cents = total_cents')
    op.execute('UPDATE orders SET subtotal_cents = total_cents')


def downgrade() -> None:
    with op.batch_alter_table('order_lines') as batch:
        for name in (*LINE, 'tax_percent'):
            batch.drop_column(name)
    with op.batch_alter_table('orders') as batch:
        for name in (*BREAKDOWN, 'prices_include_tax', 'shipping_name', 'discount_code'):
            batch.drop_column(name)
    with op.batch_alter_table('checkout_lines') as batch:
        for name in (*LINE, 'tax_percent', 'weight_grams', 'is_digital'):
            batch.drop_column(name)
    with op.batch_alter_table('checkouts') as batch:
        batch.drop_constraint(op.f('fk_checkouts_shipping_rate_id_shipping_rates'), type_='foreignkey')
        for name in (
            *BREAKDOWN, 'prices_include_tax', 'shipping_name', 'discount_code',
            'shipping_rate_id', 'needs_shipping',
        ):
            batch.drop_column(name)
    with op.batch_alter_table('variants') as batch:
        batch.drop_column('weight_grams')
    op.drop_table('tax_rates')
    op.drop_index(op.f('ix_shipping_rates_zone_id'), table_name='shipping_rates')
    op.drop_table('shipping_rates')
    op.drop_index(op.f('ix_shipping_places_zone_id'), table_name='shipping_places')
    op.drop_table('shipping_places')
    op.drop_table('shipping_zones')
