"""`flask checkout monitor`: what an operator reads about the last day of checkouts."""

import json
import threading

from sqlalchemy import select

from app.models import Checkout as CheckoutRow
from app.models import CheckoutState
from tests.checkout_helpers import (
    approval_ref,
    checkout_path,
    fill_cart,
    pay,
    start_checkout,
)
from tests.conftest import Browser
from tests.factories import variant_with_stock


def test_the_monitor_counts_outcomes_and_the_success_rate(app, db):
    tee = variant_with_stock(db, 50, price_cents=1000)
    buyer = Browser(app.test_client())
    fill_cart(buyer, (tee, 1))
    path = checkout_path(start_checkout(buyer))
    ref = approval_ref(pay(buyer, path))
    buyer.get(f"/testpay/pay/{ref}")
    buyer.post(f"/testpay/pay/{ref}/approve")
    assert buyer.client.get(f"{path}/return").status_code == 303
    for _ in range(2):  # two shoppers still reviewing
        shopper = Browser(app.test_client())
        fill_cart(shopper, (tee, 1))
        checkout_path(start_checkout(shopper))

    result = app.test_cli_runner().invoke(args=["checkout", "monitor", "--hours", "24", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["started"] == 3
    assert summary["completed"] == 1
    assert summary["in_progress"] == 2
    assert summary["success_rate"] == round(1 / 3, 4)
    assert summary["median_seconds_to_complete"] is not None

    table = app.test_cli_runner().invoke(args=["checkout", "monitor"])
    assert "success rate" in table.output and "33.3%" in table.output


def test_failed_checkouts_are_grouped_by_phase_with_top_reasons(app, db):
    lamp = variant_with_stock(db, 1, product__name="Last Lamp")
    holder = Browser(app.test_client())
    fill_cart(holder, (lamp, 1))
    checkout_path(start_checkout(holder))
    for _ in range(2):
        shopper = Browser(app.test_client())
        # The cart accepted the lamp while it was free; then the holder took it.
        db.execute(
            lamp.__table__.update()
            .where(lamp.__table__.c.id == lamp.id)
            .values(allow_backorder=True)
        )
        fill_cart(shopper, (lamp, 1))
        db.execute(
            lamp.__table__.update()
            .where(lamp.__table__.c.id == lamp.id)
            .values(allow_backorder=False)
        )
        assert start_checkout(shopper).status_code == 409
    summary = json.loads(
        app.test_cli_runner().invoke(args=["checkout", "monitor", "--json"]).output
    )
    assert summary["failed"] == 2
    assert summary["failed_by_phase"] == {"inventory_reservation": 2}
    reason, count = summary["top_failure_reasons"][0]
    assert "Last Lamp is sold out" in reason and count == 2


def test_two_simultaneous_checkouts_of_one_cart_leave_one_active(app, db):
    tee = variant_with_stock(db, 10)
    first = Browser(app.test_client())
    fill_cart(first, (tee, 2))
    second = Browser(app.test_client())
    second.client.set_cookie("hf_cart", first.client.get_cookie("hf_cart").value)
    first.get("/checkout")
    second.get("/checkout")
    barrier = threading.Barrier(2)
    codes = []

    def submit(browser):
        from tests.checkout_helpers import ADDRESS

        token = browser.token()
        barrier.wait()
        codes.append(
            browser.client.post("/checkout", data={**ADDRESS, "csrf_token": token}).status_code
        )

    threads = [threading.Thread(target=submit, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(code in (303, 409) for code in codes), codes
    db.expire_all()
    active = db.scalars(
        select(CheckoutRow).where(
            CheckoutRow.state.in_([CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT])
        )
    ).all()
    assert len(active) == 1
    from app.services.stock.inventory import availability_of

    assert availability_of(db, tee.id).available == 8
