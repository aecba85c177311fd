"""Helpers for checkout tests: a shopper who fills a cart and checks out through the pages."""

from __future__ import annotations

import re

from app.providers.testpay import SIGNATURE_HEADER, sign, webhook_secret

ADDRESS = {
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "address_line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "gb",
}


def fill_cart(browser, *lines) -> None:
    for variant, quantity in lines:
        response = browser.post("/cart/add", {"variant_id": variant.id, "quantity": quantity})
        assert response.status_code == 303, response.get_data(as_text=True)


def start_checkout(browser, **address):
    browser.get("/checkout")
    return browser.post("/checkout", {**ADDRESS, **address})


def checkout_path(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert re.match(r"^/checkout/co_[\w-]+$", location), location
    return location


def pay(browser, path: str, provider: str = "testpay"):
    browser.get(path)
    return browser.post(f"{path}/pay", {"payment_provider": provider})


def approval_ref(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.match(r"^/testpay/pay/(tp_\w+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def signed_webhook(
    app,
    ref: str,
    amount: int,
    event_type: str = "payment.captured",
    event_id: str = "evt_1",
    currency: str = "USD",
    timestamp: int | None = None,
):
    import json

    body = json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "data": {"payment_ref": ref, "amount": amount, "currency": currency},
        }
    ).encode()
    header = sign(body, webhook_secret(app.config), timestamp)
    return body, {SIGNATURE_HEADER: header, "Content-Type": "application/json"}


def approve(browser, ref: str):
    """The shopper presses Approve on testpay's page."""
    browser.get(f"/testpay/pay/{ref}")
    return browser.post(f"/testpay/pay/{ref}/approve")


def paid_checkout(browser, variant, quantity: int = 1, **address) -> tuple[str, str]:
    """A shopper who checked out and approved a testpay payment that nothing has reported
    yet: (checkout path, payment ref)."""
    fill_cart(browser, (variant, quantity))
    path = checkout_path(start_checkout(browser, **address))
    ref = approval_ref(pay(browser, path))
    approve(browser, ref)
    return path, ref


def buy(browser, variant, quantity: int = 1, **address) -> str:
    """A whole purchase through the pages, ending on the order page; returns its URL."""
    path, _ref = paid_checkout(browser, variant, quantity, **address)
    landed = browser.client.get(f"{path}/return")
    assert landed.status_code == 303, landed.get_data(as_text=True)
    return landed.headers["Location"]
