"""Digital keys and back-orders: delivered at payment as far as they go, the rest when stock
or keys arrive, never a key to two lines."""

import threading

from sqlalchemy import func, select

from app.models import KeyState, LicenseKey, OrderStatus, ProductKind, Variant
from app.models import Order as OrderRow
from app.services.checks import invariants as verify
from app.services.orders import fulfilment
from app.services.orders.order_book import OrderLinks
from app.services.stock import keys
from tests.checkout_helpers import buy
from tests.conftest import Browser
from tests.factories import ProductFactory, VariantFactory, variant_with_stock


def _digital(db, name="Lumen Photo Editor", sku="LUMEN"):
    product = ProductFactory(name=name, kind=ProductKind.DIGITAL)
    return VariantFactory(product=product, sku=sku, allow_backorder=True, price_cents=4900)


def _import(app, tmp_path, sku, codes):
    path = tmp_path / f"{sku}-{len(codes)}.txt"
    path.write_text("\n".join(codes) + "\n")
    result = app.test_cli_runner().invoke(args=["keys", "import", sku, str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def _buy(app, variant, quantity):
    browser = Browser(app.test_client())
    return browser, buy(browser, variant, quantity)


def test_importing_keys_refuses_duplicates_and_grows_stock(app, db, tmp_path):
    lumen = _digital(db)
    out = _import(app, tmp_path, "LUMEN", ["AAA-1", "AAA-2", "AAA-2", "", "AAA-3"])
    assert "3 imported, 0 already known, 1 duplicated in the file, 1 blank" in out
    out = _import(app, tmp_path, "LUMEN", ["AAA-3", "AAA-4"])
    assert "1 imported, 1 already known" in out
    db.expire_all()
    assert db.get(Variant, lumen.id).on_hand == 4
    assert verify.check_all(db) == []


def test_keys_for_a_physical_product_are_refused(app, db, tmp_path):
    variant_with_stock(db, 3, sku="MUG")
    path = tmp_path / "k.txt"
    path.write_text("K-1\n")
    result = app.test_cli_runner().invoke(args=["keys", "import", "MUG", str(path)])
    assert result.exit_code != 0 and "not a digital product" in result.output


def test_partial_key_delivery_completes_itself_when_keys_are_uploaded(app, db, tmp_path):
    lumen = _digital(db)
    _import(app, tmp_path, "LUMEN", ["KEY-A", "KEY-B"])
    browser, order_url = _buy(app, lumen, 3)
    order = db.scalar(select(OrderRow))
    assert order.status is OrderStatus.PARTIALLY_FULFILLED
    html = browser.get(order_url).get_data(as_text=True)
    assert "KEY-A" in html and "KEY-B" in html and "1 still coming" in html
    stranger = Browser(app.test_client())
    assert stranger.get(order_url).status_code == 404

    _import(app, tmp_path, "LUMEN", ["KEY-C", "KEY-D"])
    db.expire_all()
    order = db.get(OrderRow, order.id)
    assert order.status is OrderStatus.FULFILLED
    assert order.lines[0].quantity_fulfilled == 3
    html = browser.get(order_url).get_data(as_text=True)
    assert "KEY-C" in html and "still coming" not in html
    assert (
        db.scalar(select(LicenseKey.state).where(LicenseKey.code == "KEY-D")) is KeyState.AVAILABLE
    )
    assert db.get(Variant, lumen.id).on_hand == 1
    assert verify.check_all(db) == []


def test_a_digital_order_with_no_keys_left_awaits_stock(app, db, tmp_path):
    lumen = _digital(db)
    _buy(app, lumen, 1)
    assert db.scalar(select(OrderRow.status)) is OrderStatus.AWAITING_STOCK
    _import(app, tmp_path, "LUMEN", ["ONLY-ONE"])
    db.expire_all()
    assert db.scalar(select(OrderRow.status)) is OrderStatus.FULFILLED


def test_physical_back_orders_fill_oldest_first_when_stock_arrives(app, db):
    throw = variant_with_stock(db, 0, allow_backorder=True, sku="THROW", price_cents=8000)
    _buy(app, throw, 2)
    _buy(app, throw, 1)
    first, second = db.scalars(select(OrderRow).order_by(OrderRow.id)).all()
    assert first.status is second.status is OrderStatus.AWAITING_STOCK
    session = app.extensions["holdfast.db"].session_factory()
    from app.services.stock.inventory import receive_stock

    receive_stock(session, throw.id, 2, reference="po-1")
    session.close()
    result = app.test_cli_runner().invoke(args=["orders", "retry-fulfilment"])
    assert result.exit_code == 0 and first.number in result.output
    db.expire_all()
    first, second = db.scalars(select(OrderRow).order_by(OrderRow.id)).all()
    assert first.status is OrderStatus.PAID  # every unit set aside; ready to ship
    assert second.status is OrderStatus.AWAITING_STOCK
    assert db.get(Variant, throw.id).on_hand == 0
    assert verify.check_all(db) == []


def test_no_key_is_given_twice_under_concurrent_fulfilment(app, db, tmp_path):
    lumen = _digital(db)
    for _ in range(6):
        _buy(app, lumen, 2)  # twelve units wait for keys
    session = app.extensions["holdfast.db"].session_factory()
    keys.import_keys(session, "LUMEN", [f"K-{i:02d}" for i in range(9)])
    session.close()
    barrier = threading.Barrier(4)
    errors = []

    def fill():
        s = app.extensions["holdfast.db"].session_factory()
        try:
            barrier.wait()
            fulfilment.fill_waiting(s, lumen.id, links=OrderLinks("http://shop", "k"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=fill) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    db.expire_all()
    assigned = db.scalars(select(LicenseKey).where(LicenseKey.state == KeyState.ASSIGNED)).all()
    assert len(assigned) == 9
    assert len({k.code for k in assigned}) == 9
    delivered = db.scalar(select(func.sum(fulfilment.OrderLine.quantity_fulfilled)))
    assert delivered == 9
    assert verify.check_all(db) == []
