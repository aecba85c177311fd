"""Every state-changing route refuses a request without a valid CSRF token, found by walking
``app.url_map`` (a route added later is walked too; nothing here lists routes by hand).

The shop is seeded (the demo catalogue, a paid order, a shipped order with a return, a live
checkout, a payment waiting at testpay, a webhook, an email, a member of staff, a reset token),
and each route is called with those rows' ids and a plausible form, so without the CSRF check
the request would reach its view and change something. It is sent by an anonymous visitor and
by the owner (so the admin's routes are reached), with no token and with a token from another
session: each answer must be the 400 CSRF page and the database must not move.

The only exempt route is the payment providers' webhook (``EXEMPT``); it proves itself by its
signature instead: unsigned and badly signed posts are refused for each provider.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from app.db import begin_write, get_session
from app.demo.seed import seed
from app.extensions import csrf
from app.models import (
    Base,
    Category,
    Checkout,
    DiscountCode,
    Order,
    OutboxMessage,
    ProductImage,
    Return,
    Role,
    ShippingRate,
    ShippingZone,
    TaxRate,
    Variant,
    WebhookEvent,
)
from app.providers import get_provider
from app.providers.testpay import SIGNATURE_HEADER
from app.services import audit
from app.services.accounts import password_reset
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks
from tests.admin_helpers import signed_in
from tests.checkout_helpers import (
    approval_ref,
    buy,
    checkout_path,
    fill_cart,
    pay,
    signed_webhook,
    start_checkout,
)
from tests.conftest import Browser, make_test_app
from tests.factories import UserFactory, bind
from tests.provider_adapter_helpers import FAKES, paid

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Exempt from CSRF, checked by signature instead (test_webhooks_refuse_unsigned_and_forged_posts).
EXEMPT = frozenset({"webhooks.receive"})
CSRF_PAGE = "Your form expired or was not sent from this shop."
Fingerprint = Callable[[], tuple]


def state_changing_rules(app) -> list:
    return sorted(
        (r for r in app.url_map.iter_rules() if r.methods & STATE_CHANGING),
        key=lambda r: r.rule,
    )


def fingerprint(engine) -> Fingerprint:
    """Every table's row count, and the columns the shop's actions move without adding a row."""
    counts = " UNION ALL ".join(
        f"SELECT '{t.name}', count(*) FROM {t.name}"  # noqa: S608 - our own table names
        for t in Base.metadata.sorted_tables
    )
    moved = (
        "SELECT 'order:' || status, count(*) FROM orders GROUP BY status UNION ALL "
        "SELECT 'links_withdrawn', count(guest_links_since) FROM orders UNION ALL "
        "SELECT 'checkout:' || state, count(*) FROM checkouts GROUP BY state UNION ALL "
        "SELECT 'user:' || role || ':' || active, count(*) FROM users "
        "GROUP BY role, active UNION ALL "
        "SELECT 'email:' || state, count(*) FROM outbox_messages GROUP BY state UNION ALL "
        "SELECT 'hold:' || state, count(*) FROM reservations GROUP BY state UNION ALL "
        "SELECT 'return:' || state, count(*) FROM returns GROUP BY state UNION ALL "
        "SELECT 'on_hand', coalesce(sum(on_hand), 0) FROM variants UNION ALL "
        "SELECT 'prices', coalesce(sum(price_cents), 0) FROM variants UNION ALL "
        "SELECT 'cart_qty', coalesce(sum(quantity), 0) FROM cart_lines"
    )

    def take() -> tuple:
        with engine.connect() as conn:
            rows = conn.execute(text(f"{counts} UNION ALL {moved}"))
            return tuple(sorted((str(name), int(n)) for name, n in rows))

    return take


def build_url(app, rule, method: str, values: dict) -> str:
    """The rule's URL with the seeded value of each argument (``(endpoint, name)`` first, then
    ``name``); an argument nobody seeded gets ``1``. It must route back to this very rule."""
    args = {
        name: values.get((rule.endpoint, name), values.get(name, "1")) for name in rule.arguments
    }
    adapter = app.url_map.bind("localhost")
    url = adapter.build(rule.endpoint, args, method=method)
    routed, _args = adapter.match(url.split("?", 1)[0], method=method, return_rule=True)
    assert routed is rule, (rule.rule, url, routed.rule)
    return url


def walk(app, visitors: dict[str, Browser], values: dict, before: Fingerprint) -> list[str]:
    """Post every state-changing route (but ``EXEMPT``) with no token and with another
    session's token, as each visitor; returns what was not refused or changed something."""
    problems = []
    start = before()
    tokens = {who: v.token() for who, v in visitors.items()}
    for rule in state_changing_rules(app):
        if rule.endpoint in EXEMPT:
            continue
        for method in sorted(rule.methods & STATE_CHANGING):
            url = build_url(app, rule, method, values)
            for who, visitor in visitors.items():
                foreign = next(t for w, t in tokens.items() if w != who)
                for token in (None, foreign):
                    form = {**values["form"], **({"csrf_token": token} if token else {})}
                    answer = visitor.client.open(url, method=method, data=form)
                    body = answer.get_data(as_text=True)
                    case = f"{method} {url} as {who}, {'foreign' if token else 'no'} token"
                    if answer.status_code != 400 or CSRF_PAGE not in body:
                        problems.append(f"{case}: {answer.status}")
                    if before() != start:
                        problems.append(f"{case}: the database changed")
                        start = before()
    return problems


# ---------------------------------------------------------------- the seeded shop


@pytest.fixture
def fakes() -> Iterator[dict]:
    servers = {name: fake() for name, fake in FAKES.items()}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def shop(database_url, fakes):
    settings = {k: v for fake in fakes.values() for k, v in fake.settings.items()}
    app = make_test_app(
        database_url,
        RATE_LIMIT_ENABLED=False,
        RATELIMIT_ENABLED=False,
        PAYMENT_PROVIDERS=["testpay", *FAKES],
        **settings,
    )
    engine = app.extensions["holdfast.db"].engine.execution_options(isolation_level="AUTOCOMMIT")
    db = sessionmaker(engine)()
    bind(db)
    yield app, db, engine
    db.close()
    app.extensions["holdfast.db"].dispose()


def _session(app):
    return app.extensions["holdfast.db"].session_factory()


def _seed(app, db) -> dict:
    """Rows behind every kind of argument the routes take; returns the values to use."""
    session = _session(app)
    seed(session)
    session.commit()
    session.close()
    tee = db.scalar(select(Variant).where(Variant.on_hand >= 5).order_by(Variant.id))
    buyer = Browser(app.test_client())
    buy(buyer, tee, 1, email="ada@example.com")
    shipped = buy(buyer, tee, 1, email="ada@example.com").split("?", 1)[0]
    _ship_and_return(app, db, buyer, shipped)
    fill_cart(buyer, (tee, 1))
    waiting = checkout_path(start_checkout(buyer))
    ref = approval_ref(pay(buyer, waiting))
    fill_cart(buyer, (tee, 1))  # a new cart line cancels that checkout; start a fresh one
    live = checkout_path(start_checkout(buyer)).rsplit("/", 1)[1]
    body, headers = signed_webhook(app, "tp_unknown", 100, event_id="evt_walk")
    buyer.client.post("/webhooks/testpay", data=body, headers=headers)
    staff = UserFactory(role=Role.STAFF, email="staff@example.com")
    image = db.scalar(select(ProductImage).order_by(ProductImage.id))
    order = db.scalar(select(Order).order_by(Order.id))
    hold = db.scalar(select(Checkout.hold_ref).where(Checkout.public_id == live))
    values = {
        "number": order.number,
        "public_id": live,
        "ref": ref,
        ("admin.release_hold", "ref"): hold,
        "token": _reset_token(app, db, staff.email),
        "product_id": image.product_id,
        "image_id": image.id,
        "category_id": db.scalar(select(func.min(Category.id))),
        "variant_id": tee.id,
        "message_id": db.scalar(select(func.min(OutboxMessage.id))),
        "return_id": db.scalar(select(func.min(Return.id))),
        "webhook_id": db.scalar(select(func.min(WebhookEvent.id))),
        "user_id": staff.id,
        "zone_id": db.scalar(select(func.min(ShippingZone.id))),
        "rate_id": db.scalar(select(func.min(ShippingRate.id))),
        "tax_id": db.scalar(select(func.min(TaxRate.id))),
        "code_id": db.scalar(select(func.min(DiscountCode.id))),
        "form": _plausible_form(app, tee, order),
    }
    missing = [name for name, value in values.items() if value in (None, "not-a-token")]
    assert not missing, f"the seeded shop has no row for {missing}"
    return values


def _ship_and_return(app, db, buyer: Browser, order_url: str) -> None:
    number = order_url.rsplit("/", 1)[1]
    session = _session(app)
    aftersales.ship_order(
        session,
        number,
        carrier="DHL",
        tracking="JD1",
        actor="owner",
        links=OrderLinks.from_config(app.config),
    )
    session.close()
    line_id = db.scalar(select(Order).where(Order.number == number)).lines[0].id
    buyer.get(order_url)
    answer = buyer.post(f"{order_url}/return", {"line_id": line_id, "quantity": 1, "reason": "x"})
    assert answer.status_code == 303


def _reset_token(app, db, email: str) -> str:
    session = _session(app)
    password_reset.send_reset_link(session, email, "http://shop")
    session.close()
    db.expire_all()
    links = db.scalars(select(OutboxMessage.context).where(OutboxMessage.template.like("%reset")))
    found = [re.search(r"/reset/([\w-]+)", c.get("reset_link", "")) for c in links]
    return next((m.group(1) for m in found if m), "not-a-token")


def _plausible_form(app, tee: Variant, order: Order) -> dict:
    """What the shop's forms take, filled as a real visitor would."""
    return {
        "variant_id": str(tee.id),
        "quantity": "1",
        "email": "ada@example.com",
        "password": "correct horse battery",
        "confirm": "correct horse battery",
        "current": "correct horse battery",
        "full_name": "Ada Lovelace",
        "name": "Ada",
        "address_line1": "12 St James's Square",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country": "GB",
        "payment_provider": "testpay",
        "seen_total_cents": str(order.total_cents),
        "line_id": str(order.lines[0].id),
        "reason": "walked",
        "carrier": "DHL",
        "tracking": "JD2",
        "amount": "1.00",
        "key": "k" * 32,
        "number": order.number,
        "t": OrderLinks.from_config(app.config).token(order.number),
        "role": "owner",
        "delta": "5",
        "price": "1.00",
        "title": "Walked",
        "slug": "walked",
        "sku": "WALK-1",
    }


def test_every_state_changing_route_refuses_a_request_without_a_csrf_token(shop):
    app, db, engine = shop
    values = _seed(app, db)
    rules = state_changing_rules(app)
    assert len(rules) >= 40 and {r.endpoint for r in rules} >= {
        "orders.cancel",
        "orders.request_link",
        "admin.refund",
        "admin.withdraw_links",
        "checkout.start",
    }
    visitors = {
        "anonymous": Browser(app.test_client()),
        "owner": signed_in(app, Role.OWNER, email="owner@example.com"),
    }
    problems = walk(app, visitors, values, fingerprint(engine))
    assert problems == []


def test_the_seeded_values_reach_the_views_when_the_token_is_there(shop):
    """The walk's requests are real ones: with the owner's token, a few of them act."""
    app, db, engine = shop
    values = _seed(app, db)
    owner = signed_in(app, Role.OWNER, email="owner@example.com")
    before = fingerprint(engine)()
    for endpoint in ("admin.withdraw_links", "admin.ship", "admin.resend_email"):
        rule = next(r for r in state_changing_rules(app) if r.endpoint == endpoint)
        owner.get("/admin")
        answer = owner.post(build_url(app, rule, "POST", values), values["form"])
        assert answer.status_code == 303, (endpoint, answer.status)
    assert fingerprint(engine)() != before


def _rogue():
    """A state-changing view someone forgot to protect (exempt from CSRF)."""
    session = get_session()
    begin_write(session)
    audit.record(session, "rogue.write")
    session.commit()
    return "done"


def test_the_walk_finds_a_new_route_that_is_exempt_from_csrf(database_url):
    app = make_test_app(database_url, RATE_LIMIT_ENABLED=False, RATELIMIT_ENABLED=False)
    app.add_url_rule("/rogue", "rogue", csrf.exempt(_rogue), methods=["POST"])
    engine = app.extensions["holdfast.db"].engine
    visitors = {"a": Browser(app.test_client()), "b": Browser(app.test_client())}
    problems = walk(app, visitors, {"form": {}}, fingerprint(engine))
    assert problems and all(p.startswith("POST /rogue") for p in problems)
    assert any("the database changed" in p for p in problems)
    app.extensions["holdfast.db"].dispose()


# ---------------------------------------------------------------- the exempt webhooks


def _bad_posts(app, fakes: dict) -> Iterator[tuple[str, bytes, dict]]:
    """Per provider: an unsigned post, and one signed with the wrong key or signature."""
    yield "testpay", b'{"id": "evt_x"}', {"Content-Type": "application/json"}
    body, headers = signed_webhook(app, "tp_x", 100, event_id="evt_forged")
    yield "testpay", body, {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER][:-4] + "beef"}
    for name, fake in fakes.items():
        adapter = get_provider(name, fake.settings)
        event = {"paypal": "PAYMENT.CAPTURE.COMPLETED", "stripe": "checkout.session.completed"}
        headers, body = fake.webhook(event.get(name, "payment.captured"), paid(fake, adapter))
        yield name, body, {"Content-Type": "application/json"}
        headers, body = fake.webhook(
            event.get(name, "payment.captured"), paid(fake, adapter), forged=True
        )
        yield name, body, headers


def test_webhooks_refuse_unsigned_and_forged_posts(shop, fakes):
    app, _db, engine = shop
    exempt = [r for r in state_changing_rules(app) if r.endpoint in EXEMPT]
    assert [r.rule for r in exempt] == ["/webhooks/<provider>"]
    before = fingerprint(engine)
    start = before()
    client = app.test_client()
    seen = set()
    for provider, body, headers in _bad_posts(app, fakes):
        answer = client.post(f"/webhooks/{provider}", data=body, headers=headers)
        assert 400 <= answer.status_code < 500, (provider, headers, answer.status)
        assert before() == start, provider
        seen.add(provider)
    assert seen == set(app.config["PAYMENT_PROVIDERS"])
    assert db_events(engine) == 0


def db_events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
