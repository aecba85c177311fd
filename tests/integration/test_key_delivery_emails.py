"""The whole digital-delivery story as the shopper's inbox tells it, through a real SMTP server:
a partial delivery, then the rest arriving on its own when the owner uploads keys."""

import pytest
from sqlalchemy import select

from app.models import Order as OrderRow
from app.models import OrderStatus, ProductKind
from tests.checkout_helpers import approval_ref, checkout_path, fill_cart, pay, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import ProductFactory, VariantFactory, bind


@pytest.fixture
def app(database_url, sink, tmp_path):
    app = make_test_app(
        database_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=sink.port,
        MAIL_USE_TLS=False,
        MAIL_TIMEOUT=5,
        MAIL_AUTO_DISPATCH=True,
        SHOP_BASE_URL="https://shop.example",
        MAIL_DEFAULT_SENDER="Holdfast Supply Co. <shop@holdfast.example>",
    )
    yield app
    app.extensions["holdfast.db"].dispose()


def _bodies(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def _send(app):
    result = app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output


def test_partial_key_delivery_then_completion_when_keys_are_uploaded(app, db, sink, tmp_path):
    bind(db)
    product = ProductFactory(name="Lumen Photo Editor", kind=ProductKind.DIGITAL)
    VariantFactory(
        product=product, sku="LUMEN-PRO", name="Pro license", price_cents=4900, allow_backorder=True
    )
    keys_file = tmp_path / "first.txt"
    keys_file.write_text("LUMEN-AAAA-1111\nLUMEN-BBBB-2222\n")
    assert (
        app.test_cli_runner().invoke(args=["keys", "import", "LUMEN-PRO", str(keys_file)]).exit_code
        == 0
    )

    shopper = Browser(app.test_client())
    variant_id = db.scalar(select(VariantFactory._meta.model.id))
    fill_cart(shopper, (type("V", (), {"id": variant_id})(), 3))
    path = checkout_path(start_checkout(shopper, email="grace@example.com"))
    ref = approval_ref(pay(shopper, path))
    shopper.get(f"/testpay/pay/{ref}")
    shopper.post(f"/testpay/pay/{ref}/approve")
    assert shopper.client.get(f"{path}/return").status_code == 303
    _send(app)  # the request's own dispatch may still be on its thread; this sends the rest

    order = db.scalar(select(OrderRow))
    assert order.status is OrderStatus.PARTIALLY_FULFILLED
    subjects = sorted(m["Subject"] for m in sink.messages)
    assert subjects == sorted(
        [
            f"Order {order.number} confirmed",
            f"Your first keys for order {order.number}; the rest are coming",
            f"Order {order.number}: some items are on their way to us",
        ]
    )
    assert all(to == ["grace@example.com"] for _sender, to in sink.envelopes)
    keys_mail = next(m for m in sink.messages if "first keys" in m["Subject"])
    text, html = _bodies(keys_mail)
    for body in (text, html):
        assert "LUMEN-AAAA-1111" in body and "LUMEN-BBBB-2222" in body
        assert f"https://shop.example/orders/{order.number}?t=" in body
    assert "Lumen Photo Editor" in text

    more = tmp_path / "more.txt"
    more.write_text("LUMEN-CCCC-3333\nLUMEN-AAAA-1111\n")  # one new, one already known
    result = app.test_cli_runner().invoke(args=["keys", "import", "LUMEN-PRO", str(more)])
    assert "1 imported, 1 already known" in result.output
    db.expire_all()
    assert db.get(OrderRow, order.id).status is OrderStatus.FULFILLED
    assert len(sink.messages) == 4
    last = sink.messages[-1]
    assert last["Subject"] == f"The rest of your keys for order {order.number}"
    text, _html = _bodies(last)
    assert "LUMEN-CCCC-3333" in text and "LUMEN-AAAA-1111" not in text

    _send(app)  # nothing is ever sent twice
    assert len(sink.messages) == 4
    assert len(set(sink.message_ids())) == 4
