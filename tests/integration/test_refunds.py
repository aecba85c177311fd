"""Refunds, full and partial, through the provider; idempotent; optionally back to stock."""

from sqlalchemy import select

from app.models import Order as OrderRow
from app.models import OrderStatus, Payment, Refund, StockMovement, Variant
from app.providers import get_provider
from app.services.checks import invariants as verify
from app.services.orders import refunds
from tests.checkout_helpers import buy
from tests.factories import variant_with_stock


def _refund(app, number, **kwargs):
    session = app.extensions["holdfast.db"].session_factory()
    try:
        return refunds.refund_order(
            session,
            lambda n: get_provider(n, app.config),
            number,
            reason=kwargs.pop("reason", "customer asked"),
            **kwargs,
        )
    finally:
        session.close()


def test_a_partial_then_a_full_refund_go_through_the_provider(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2000)
    buy(browser, tee, 2)
    order = db.scalar(select(OrderRow))
    first = _refund(app, order.number, amount_cents=1500, idempotency_key="r1")
    assert first.status.value == "succeeded" and first.amount_cents == 1500
    db.expire_all()
    assert db.get(OrderRow, order.id).status is OrderStatus.PARTIALLY_REFUNDED
    rest = _refund(app, order.number, idempotency_key="r2")
    assert rest.amount_cents == 2500
    db.expire_all()
    assert db.get(OrderRow, order.id).status is OrderStatus.REFUNDED
    payment = db.scalar(select(Payment))
    assert payment.refunded_cents == 4000
    tp = get_provider("testpay", app.config).fetch(payment.provider_ref)
    assert tp.refunded_cents == 4000
    assert "Refunded 15.00 USD" in browser.get(f"/orders/{order.number}").get_data(as_text=True)
    assert verify.check_all(db) == []


def test_retrying_a_refund_with_its_key_never_refunds_twice(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2000)
    buy(browser, tee, 1)
    number = db.scalar(select(OrderRow.number))
    a = _refund(app, number, amount_cents=500, idempotency_key="same")
    b = _refund(app, number, amount_cents=500, idempotency_key="same")
    assert a.id == b.id
    assert len(db.scalars(select(Refund)).all()) == 1
    assert db.scalar(select(Payment.refunded_cents)) == 500


def test_refunding_more_than_was_paid_is_refused(app, browser, db):
    import pytest

    tee = variant_with_stock(db, 5, price_cents=2000)
    buy(browser, tee, 1)
    number = db.scalar(select(OrderRow.number))
    with pytest.raises(refunds.RefundError, match="between 0.01 and 20.00"):
        _refund(app, number, amount_cents=2001)
    assert db.scalars(select(Refund)).all() == []


def test_a_refund_can_return_units_to_stock_through_the_ledger(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2000)
    buy(browser, tee, 2)
    order = db.scalar(select(OrderRow))
    line_id = order.lines[0].id
    result = app.test_cli_runner().invoke(
        args=[
            "payments",
            "refund",
            order.number,
            "--amount",
            "2000",
            "--reason",
            "one came back torn",
            "--restock",
            f"{line_id}:1",
            "--key",
            "cli-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "2000 USD succeeded" in result.output
    db.expire_all()
    assert db.get(Variant, tee.id).on_hand == 4
    movement = db.scalar(select(StockMovement).where(StockMovement.reason == "return"))
    assert movement.delta == 1 and movement.actor == "cli"
    assert verify.check_all(db) == []
