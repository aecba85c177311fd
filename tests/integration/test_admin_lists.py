"""The lists the dashboard's counts open: stock that fell to each variant's own threshold,
payments that have not settled, and orders waiting for stock; every count links to its list."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app import clock
from app.models import Payment
from tests.admin_helpers import text
from tests.checkout_helpers import checkout_path, fill_cart, pay, start_checkout
from tests.factories import variant_with_stock


def test_low_stock_follows_each_variants_threshold_and_the_count_opens_the_list(owner, db):
    plenty = variant_with_stock(db, 8, low_stock_threshold=5)
    scarce = variant_with_stock(db, 8, low_stock_threshold=10)
    board = text(owner.get("/admin"))
    assert '<strong class="count">1</strong> Variants low or out of stock' in board
    assert 'href="/admin/stock?low=1"' in board
    low = text(owner.get("/admin/stock?low=1"))
    assert f'data-sku="{scarce.sku}"' in low and f'data-sku="{plenty.sku}"' not in low
    every = text(owner.get("/admin/stock"))
    assert f'data-sku="{scarce.sku}"' in every and f'data-sku="{plenty.sku}"' in every


def test_a_payment_left_waiting_shows_until_it_settles(owner, browser, db):
    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 1))
    pay(browser, checkout_path(start_checkout(browser, email="slow@example.com")))
    assert "Every payment has settled." in text(owner.get("/admin/payments"))
    db.execute(update(Payment).values(created_at=clock.utcnow() - timedelta(hours=1)))
    board = text(owner.get("/admin"))
    assert '<strong class="count">1</strong> Payments not settled' in board
    listed = text(owner.get("/admin/payments"))
    assert "slow@example.com" in listed and "pending" in listed


def test_orders_waiting_for_stock_are_one_filter_away(owner, db):
    assert 'href="/admin/orders?waiting=1"' in text(owner.get("/admin"))
    assert "No orders match." in text(owner.get("/admin/orders?waiting=1"))
