"""No request with bad input is a 5xx, and none changes anything, on SQLite and on Postgres.

A Hypothesis walk over the URL map: every route, with every form field the shop has and the
query parameters it reads, filled with what a careless or hostile visitor sends (NUL bytes,
strings far beyond any column, ids beyond the database's integer range, stray unicode). Each
request carries a valid CSRF token, so it gets past the door to the code behind it. After each
one the database must look exactly as before.

Then the cases the rush issue found, named one by one.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from app import forms as form_module
from app.models import Base, Variant
from app.providers.testpay import SIGNATURE_HEADER, sign, webhook_secret
from tests.checkout_helpers import approval_ref, buy, checkout_path, fill_cart, pay, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import bind, variant_with_stock

MAX_ID = 2**31 - 1

FORM_FIELDS = sorted(
    {
        name
        for cls in vars(form_module).values()
        if isinstance(cls, type)
        and issubclass(cls, form_module.FlaskForm)
        and cls is not form_module.FlaskForm
        for name, value in vars(cls).items()
        if hasattr(value, "field_class") and name != "csrf_token"
    }
)
QUERY_NAMES = [
    "q",
    "page",
    "sort",
    "variant",
    "variant_id",
    "next",
    "t",  # and what providers
    "razorpay_payment_id",
    "razorpay_order_id",
    "razorpay_signature",  # return with
    "session_id",
    "token",
    "PayerID",
    "address",  # a saved address picked at checkout
]

nul_text = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=12), st.text(max_size=12))
long_text = st.text(alphabet="xyz é€", min_size=300, max_size=3000)
huge_text = st.just("y" * 25_000)
bad_number = st.sampled_from(
    [
        str(MAX_ID + 1),
        str(-MAX_ID - 2),
        str(2**63),
        str(-(2**63) - 1),
        "9" * 40,
        "1e309",
        "NaN",
        "-0",
        "0x10",
        "١٢٣",
        "",
    ]
)
junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
bad_value = st.one_of(nul_text, long_text, huge_text, bad_number, junk)
surely_bad = st.one_of(nul_text, long_text, huge_text)
bad_path_text = st.one_of(
    nul_text,
    st.text(alphabet="ab-_~é", min_size=300, max_size=600),
    bad_number,
    junk.filter(lambda s: "/" not in s and s not in (".", "..")),
)
bad_path_int = st.sampled_from([str(MAX_ID + 1), str(2**63), str(2**64), "9" * 30])

# POST routes that take nothing but their path (and the CSRF token): only a bad path is bad.
PATH_ONLY = {
    "checkout.extend",
    "checkout.retry",
    "orders.cancel",
    "testpay.approve",
    "testpay.decline",
    "account.logout",
    "account.default_address",
    "account.delete_address",
}


def _fingerprint(engine) -> tuple:
    """Every table's row count and the sums that move when stock, carts or accounts change."""
    counts = " UNION ALL ".join(
        f"SELECT '{t.name}', count(*) FROM {t.name}"  # noqa: S608 - our own table names
        for t in Base.metadata.sorted_tables
    )
    extra = (
        "SELECT 'on_hand', coalesce(sum(on_hand), 0) FROM variants UNION ALL "
        "SELECT 'cart_qty', coalesce(sum(quantity), 0) FROM cart_lines UNION ALL "
        "SELECT 'failed_logins', coalesce(sum(failed_logins), 0) FROM users UNION ALL "
        "SELECT 'live_holds', count(*) FROM reservations WHERE state = 'active' UNION ALL "
        "SELECT 'checkout_states', count(DISTINCT state || phase) FROM checkouts"
    )
    with engine.connect() as conn:
        return tuple(
            sorted((name, int(n)) for name, n in conn.execute(text(f"{counts} UNION ALL {extra}")))
        )


@pytest.fixture
def shop(database_url):
    """A shop with something behind every route: a product, a shopper with a reserved
    checkout, a paid order, a payment waiting at testpay."""
    unreachable = "http://127.0.0.1:9"  # every provider is enabled; none can be reached
    app = make_test_app(
        database_url,
        RATELIMIT_ENABLED=False,
        PAYMENT_PROVIDERS=["testpay", "paypal", "stripe", "razorpay"],
        PAYPAL_CLIENT_ID="id",
        PAYPAL_CLIENT_SECRET="secret",
        PAYPAL_WEBHOOK_ID="wh",
        PAYPAL_BASE_URL=unreachable,
        STRIPE_SECRET_KEY="sk_test_x",
        STRIPE_WEBHOOK_SECRET="whsec_x",
        STRIPE_API_BASE=unreachable,
        RAZORPAY_KEY_ID="rzp",
        RAZORPAY_KEY_SECRET="secret",
        RAZORPAY_WEBHOOK_SECRET="wh",
        RAZORPAY_BASE_URL=unreachable,
    )
    engine = app.extensions["holdfast.db"].engine.execution_options(isolation_level="AUTOCOMMIT")
    from sqlalchemy.orm import sessionmaker

    db = sessionmaker(engine)()
    bind(db)
    tee = variant_with_stock(db, 50, product__slug="heavy-tee", product__category__slug="tops")
    browser = Browser(app.test_client())
    order_url = buy(browser, tee, 1)
    fill_cart(browser, (tee, 1))
    waiting_path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, waiting_path))
    fill_cart(browser, (tee, 1))  # a new cart line cancels that checkout; start a fresh one
    path = checkout_path(start_checkout(browser))
    valid = {
        "slug": ["heavy-tee", "tops"],
        "public_id": [path.rsplit("/", 1)[1], waiting_path.rsplit("/", 1)[1]],
        "number": [order_url.split("/orders/", 1)[1].split("?", 1)[0]],
        "ref": [ref],
        "order_id": [ref],
        "token": ["not-a-token"],
        "provider": ["testpay", "paypal", "stripe", "razorpay"],
        **{name: ["1"] for name in INT_PATH_ARGS},
    }
    yield app, browser, engine, valid, db
    db.close()
    app.extensions["holdfast.db"].dispose()


# ``<int:...>`` path arguments (the admin's rows, images): a valid one is any id.
INT_PATH_ARGS = (
    "image_id",
    "product_id",
    "variant_id",
    "category_id",
    "user_id",
    "return_id",
    "message_id",
    "webhook_id",
    "address_id",
    "zone_id",
    "rate_id",
    "tax_id",
    "code_id",
)


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def _path(rule, values: dict[str, str]) -> str:
    from urllib.parse import quote

    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", quote(values[name], safe=""), path)
    return path


@st.composite
def bad_requests(draw, rules, valid):
    rule = draw(st.sampled_from(rules))
    method = draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})))
    form_fields = (
        {}
        if method == "GET"
        else draw(st.dictionaries(st.sampled_from(FORM_FIELDS), bad_value, max_size=6))
    )
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), bad_value, max_size=3))
    keep_valid_path = (
        rule.arguments
        and draw(st.booleans())
        and not (method == "POST" and rule.endpoint in PATH_ONLY)
    )
    if keep_valid_path:  # then something else must surely be bad
        query["zz"] = draw(surely_bad)
    path_values = {}
    for name in rule.arguments:
        if keep_valid_path:
            path_values[name] = draw(st.sampled_from(valid[name]))
        elif name in INT_PATH_ARGS:
            path_values[name] = draw(bad_path_int)
        else:
            path_values[name] = draw(bad_path_text)
    if method == "POST" and not keep_valid_path and not rule.arguments and not form_fields:
        form_fields = {draw(st.sampled_from(FORM_FIELDS)): draw(surely_bad)}
    return rule, method, _path(rule, path_values), query, form_fields, draw(st.booleans())


@pytest.mark.slow
def test_no_route_answers_bad_input_with_a_5xx_or_a_change(shop):
    app, browser, engine, valid, _db = shop
    rules = _rules(app)
    anonymous = Browser(app.test_client())
    before = _fingerprint(engine)

    @settings(
        max_examples=250, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(bad_requests(rules, valid))
    def walk(request):
        rule, method, path, query, form_fields, logged_in = request
        who = browser if logged_in else anonymous
        if method == "GET":
            response = who.client.get(path, query_string=query)
        else:
            response = who.client.post(
                path, query_string=query, data={**form_fields, "csrf_token": who.token()}
            )
        assert response.status_code < 500, (rule.rule, method, path[:200], query, response.status)
        assert _fingerprint(engine) == before, (rule.rule, method, path[:200], query)

    walk()


@pytest.mark.slow
def test_signature_checks_take_any_bytes_and_answer_400(shop):
    app, _browser, engine, _valid, _db = shop
    client = app.test_client()
    before = _fingerprint(engine)
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=120)

    @settings(
        max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(header_text, st.binary(max_size=300))
    def walk(signature, body):
        response = client.post(
            "/webhooks/testpay",
            data=body,
            headers={SIGNATURE_HEADER: signature, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (signature, body, response.status)
        assert _fingerprint(engine) == before

    walk()


# ---------------------------------------------------------------- the cases, one by one


@pytest.mark.parametrize(
    "url",
    [
        "/search?q=%00",
        "/search?q=a%00b",
        "/products/tee%00",
        "/category/%00",
        "/checkout/co_%00",
        "/orders/HF-%00",
        "/testpay/pay/tp_%00",
        "/password/reset/%00",
        "/media/images/9223372036854775808",
        "/media/images/2147483648",
        "/media/images/99999999999999999999999",
    ],
)
def test_nul_bytes_and_huge_ids_in_the_address_are_a_4xx(client, db, url):
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.status_code


@pytest.mark.parametrize("variant_id", [str(2**31), str(2**63), str(2**64), "-1", "0"])
def test_an_id_past_the_columns_range_is_refused_with_a_message(browser, db, variant_id):
    variant_with_stock(db, 5)
    response = browser.post("/cart/add", {"variant_id": variant_id, "quantity": "1"})
    assert response.status_code == 422
    assert "not in our catalogue" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "field",
    [
        "email",
        "full_name",
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
        "phone",
    ],
)
def test_a_nul_byte_in_an_address_field_is_refused_and_holds_nothing(browser, db, field):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    response = start_checkout(browser, **{field: "Ada\x00Lovelace"})
    assert response.status_code == 400
    assert "characters we cannot accept" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(text("reservations"))) == 0


@pytest.mark.parametrize(
    "path,data",
    [
        ("/register", {"email": "a\x00@example.com", "password": "x" * 12, "confirm": "x" * 12}),
        ("/login", {"email": "a@example.com\x00", "password": "whatever"}),
        ("/password/forgot", {"email": "\x00"}),
    ],
)
def test_account_forms_refuse_nul_bytes(browser, db, path, data):
    browser.get(path)
    response = browser.post(path, data)
    assert response.status_code == 400


def _signed(app, payload: dict) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    return body, {
        SIGNATURE_HEADER: sign(body, webhook_secret(app.config)),
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize(
    "data",
    [
        {"payment_ref": "tp_1", "amount": 2**31, "currency": "USD"},
        {"payment_ref": "tp_1", "amount": -5, "currency": "USD"},
        {"payment_ref": "tp_1", "amount": 10**400, "currency": "USD"},
        {"payment_ref": "tp_1", "amount": 100, "currency": "DOLLARS"},
        {"payment_ref": "tp_1", "amount": 100, "currency": "U\x00D"},
        {"payment_ref": "x" * 500, "amount": 100, "currency": "USD"},
    ],
)
def test_a_signed_webhook_with_fields_that_cannot_be_ours_is_a_400(app, client, db, data):
    body, headers = _signed(app, {"id": "evt_big", "type": "payment.captured", "data": data})
    response = client.post("/webhooks/testpay", data=body, headers=headers)
    assert response.status_code == 400
    assert db.scalar(select(func.count()).select_from(text("webhook_events"))) == 0


def test_a_signed_webhook_with_an_overlong_event_id_is_a_400(app, client, db):
    body, headers = _signed(
        app,
        {
            "id": "e" * 300,
            "type": "payment.captured",
            "data": {"payment_ref": "tp_1", "amount": 1, "currency": "USD"},
        },
    )
    assert client.post("/webhooks/testpay", data=body, headers=headers).status_code == 400


@pytest.mark.parametrize(
    "signature",
    [
        "t=1,v1=é",
        "t=1,v1=\u00ff\u00fe",
        "t=99999999999999999999,v1=ab",
        "t=-1,v1=",
        "v1=abc",
        "t=,v1=,",
        "t=1",
    ],
)
def test_a_webhook_signature_of_any_characters_is_a_400(client, db, signature):
    response = client.post("/webhooks/testpay", data=b"{}", headers={SIGNATURE_HEADER: signature})
    assert response.status_code == 400


def test_a_product_page_for_a_variant_id_past_the_range_shows_the_first_option(client, db):
    tee = variant_with_stock(db, 5, product__slug="heavy-tee")
    response = client.get(f"/products/heavy-tee?variant={2**63}")
    assert response.status_code == 200
    assert db.get(Variant, tee.id).on_hand == 5
