"""The checkout pipeline as a shopper meets it: reserve, review, pay, and every way it can end."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.models import Checkout as CheckoutRow
from app.models import (
    CheckoutEvent,
    CheckoutState,
    Reservation,
    StockMovement,
)
from app.services.stock.inventory import availability_of
from tests.checkout_helpers import (
    checkout_path,
    fill_cart,
    start_checkout,
)
from tests.conftest import Browser
from tests.factories import variant_with_stock


def _checkout(db, path: str) -> CheckoutRow:
    db.expire_all()
    return db.scalar(select(CheckoutRow).where(CheckoutRow.public_id == path.rsplit("/", 1)[1]))


def _events(db, checkout_id: int) -> list[tuple[str, str]]:
    return [
        (e.kind, e.phase)
        for e in db.scalars(
            select(CheckoutEvent)
            .where(CheckoutEvent.checkout_id == checkout_id)
            .order_by(CheckoutEvent.id)
        )
    ]


def test_checking_out_holds_the_stock_and_shows_the_review_with_a_countdown(browser, db):
    tee = variant_with_stock(db, 5, product__name="Harbor Tee", price_cents=2800)
    fill_cart(browser, (tee, 2))
    path = checkout_path(start_checkout(browser))
    assert availability_of(db, tee.id).available == 3
    html = browser.get(path).get_data(as_text=True)
    assert 'id="hold-countdown"' in html
    assert "data-expires-at=" in html
    assert 'aria-live="polite"' in html
    assert "Harbor Tee" in html and "$56.00" in html
    assert "Pay $56.00 with Test payment" in html
    checkout = _checkout(db, path)
    assert checkout.state is CheckoutState.RESERVED
    assert [k for k, _ in _events(db, checkout.id)][:3] == ["transition", "phase", "phase"]


def test_short_stock_answers_409_naming_each_item_and_holds_nothing(browser, db, app):
    cap = variant_with_stock(db, 3, product__name="Wool Cap")
    mug = variant_with_stock(db, 5, product__name="Camp Mug")
    fill_cart(browser, (cap, 3), (mug, 2))
    # Another shopper takes two caps while this one fills in the address.
    other = Browser(app.test_client())
    fill_cart(other, (cap, 2))
    checkout_path(start_checkout(other))

    response = start_checkout(browser)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Wool Cap" in html and "only 1 left (you asked for 3)" in html
    assert "Camp Mug" not in html
    assert availability_of(db, mug.id).available == 5
    failed = db.scalar(select(CheckoutRow).where(CheckoutRow.state == CheckoutState.FAILED))
    assert failed.failure_phase == "inventory_reservation"


def test_the_short_stock_answer_is_json_for_json_clients(browser, db):
    cap = variant_with_stock(db, 1, product__name="Wool Cap", allow_backorder=False)
    fill_cart(browser, (cap, 1))
    browser.client.application.config["CART_MAX_QUANTITY_PER_LINE"] = 99
    db.execute(
        StockMovement.__table__.insert().values(
            variant_id=cap.id,
            delta=-1,
            reason="adjust",
            actor="test",
            note="",
            reference=None,
            created_at=datetime.now(UTC),
        )
    )
    db.execute(cap.__table__.update().where(cap.__table__.c.id == cap.id).values(on_hand=0))
    browser.get("/checkout")
    response = browser.post(
        "/checkout",
        {
            "email": "a@example.com",
            "full_name": "A",
            "address_line1": "1 Road",
            "city": "X",
            "postal_code": "1",
            "country": "US",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 409
    body = response.get_json()
    assert body["phase"] == "inventory_reservation"
    assert body["short"][0]["available"] == 0


def test_an_invalid_address_is_refused_and_nothing_is_held(browser, db):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    response = start_checkout(browser, country="Germany", email="nope")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose your country from the list." in html and "valid email" in html
    assert db.scalar(select(func.count(Reservation.id))) == 0


def test_an_empty_cart_cannot_check_out(browser, db):
    response = browser.get("/checkout")
    assert response.status_code == 303
    response = browser.post(
        "/checkout",
        {
            "email": "a@example.com",
            "full_name": "A",
            "address_line1": "1 Road",
            "city": "X",
            "postal_code": "1",
            "country": "US",
        },
    )
    assert response.status_code == 400


def test_only_the_shopper_who_started_a_checkout_can_open_it(browser, db, app):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    stranger = Browser(app.test_client())
    assert stranger.get(path).status_code == 404
    assert stranger.post(f"{path}/pay", {"payment_provider": "testpay"}).status_code == 404
    assert browser.get(path).status_code == 200


def test_changing_the_cart_cancels_the_checkout_and_releases_its_hold(browser, db):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 2))
    path = checkout_path(start_checkout(browser))
    assert availability_of(db, tee.id).available == 3
    response = browser.post("/cart/update", {"variant_id": tee.id, "quantity": 5}, htmx=True)
    assert response.status_code == 200
    assert "checkout in progress was cancelled" in response.get_data(as_text=True)
    assert _checkout(db, path).state is CheckoutState.CANCELLED
    assert availability_of(db, tee.id).available == 5
    assert "This checkout has ended." in browser.get(path).get_data(as_text=True)


def test_a_second_active_checkout_for_one_cart_is_refused_by_the_database(db, browser):
    import pytest
    from sqlalchemy.exc import IntegrityError

    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    first = _checkout(db, checkout_path(start_checkout(browser)))
    clone = CheckoutRow(
        public_id="co_clone",
        cart_id=first.cart_id,
        active_cart_id=first.cart_id,
        owner_key="x",
        state=CheckoutState.RESERVED,
        phase="cart_validation",
        email="a@b.c",
        full_name="A",
        address_line1="1",
        city="X",
        postal_code="1",
        country="US",
        currency="USD",
        total_cents=1,
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    db.add(clone)
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_starting_again_replaces_the_earlier_checkout(browser, db):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 2))
    first = checkout_path(start_checkout(browser))
    second = checkout_path(start_checkout(browser))
    assert first != second
    assert _checkout(db, first).state is CheckoutState.CANCELLED
    assert availability_of(db, tee.id).available == 3
