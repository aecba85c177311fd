"""Every door's rate limit fires, as a client hammering it would see: the allowed requests pass,
the next answers 429 with Retry-After and a page that says when to try again; another address
is not limited; with the limits off nothing is. (app/rate_limits.py holds the table.)

Limits do not depend on the database, so these tests run on SQLite only; one runs on real Redis
(two apps, as two workers, share one count) and one on a Redis that is down (memory fallback).
"""

from __future__ import annotations

import logging
import re
import secrets

import pytest

from app.config import ConfigError
from app.rate_limits import DOORS, limiter_of
from tests.checkout_helpers import ADDRESS, checkout_path, fill_cart, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import UserFactory, variant_with_stock

ALLOWED = 3
SMALL_LIMITS = {door.setting: f"{ALLOWED} per minute" for door in DOORS}
PASSWORD = "correct horse battery"  # tests/factories.py
NEW_PASSWORD = {"password": "a new long password", "confirm": "a new long password"}
# Routes that change state yet need no limit of their own, and why.
NOT_LIMITED = {
    "account.logout": "ends the caller's own session",
    "account.logout_everywhere": "ends the caller's own sessions; needs a log-in",
    "account.default_address": "changes the caller's own saved address; needs a log-in",
    "account.delete_address": "deletes the caller's own saved address; needs a log-in",
}


@pytest.fixture
def app(sqlite_url):
    """Limits on, each door at ALLOWED per minute (overrides conftest's ``app``)."""
    app = make_test_app(sqlite_url, RATE_LIMIT_ENABLED=True, **SMALL_LIMITS)
    yield app
    app.extensions["holdfast.db"].dispose()


def _from(app, address: str) -> Browser:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Browser(client)


def _logged_in(browser):
    UserFactory(email="ada@example.com")
    assert (
        browser.post("/login", {"email": "ada@example.com", "password": PASSWORD}).status_code
        == 303
    )
    return browser


def _change_password(browser, i):
    if i == 0:
        _logged_in(browser)
    return browser.post("/account/password", {"current": f"wrong {i}", **NEW_PASSWORD})


KNOCK = {
    "log-in": lambda b, i: b.post(
        "/login", {"email": f"nobody{i}@example.com", "password": "wrong password"}
    ),
    "password-change": _change_password,
    "register": lambda b, i: b.post("/register", {"email": f"new{i}@example.com", **NEW_PASSWORD}),
    "email-confirmation": lambda b, i: b.get(f"/register/confirm/not-a-token-{i}"),
    "password-forgot": lambda b, i: b.post("/password/forgot", {"email": f"ada{i}@example.com"}),
    "password-reset": lambda b, i: b.get(f"/password/reset/not-a-token-{i}"),
    # Adding and updating share one count.
    "cart": lambda b, i: b.post(
        "/cart/add" if i % 2 else "/cart/update", {"variant_id": 999999, "quantity": 1}
    ),
    "checkout-start": lambda b, i: b.post("/checkout", ADDRESS),
    "checkout-by-id": lambda b, i: b.get(f"/checkout/co_guess{i}"),
    "discount-code": lambda b, i: b.post(f"/checkout/co_guess{i}/discount", {"code": "GUESS"}),
    "pay": lambda b, i: b.post(f"/checkout/co_guess{i}/pay", {"payment_provider": "testpay"}),
    "provider-return": lambda b, i: b.get(f"/checkout/co_guess{i}/return"),
    "search": lambda b, i: b.get(f"/search?q=tee{i}"),
    "order-lookup": lambda b, i: b.get(f"/orders/HF-{1000 + i}?t=not-a-token"),
    "order-link": lambda b, i: b.post(
        "/orders/link", {"number": f"HF-{1000 + i}", "email": "ada@example.com"}
    ),
    "webhook": lambda b, i: b.client.post(
        "/webhooks/testpay", data=b"{}", content_type="application/json"
    ),
}


def test_every_door_in_the_table_has_a_test_here():
    assert set(KNOCK) == {door.name for door in DOORS}


def test_the_table_names_real_endpoints_and_every_public_state_change_is_at_a_door(app):
    endpoints = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    at_doors = {endpoint for door in DOORS for endpoint in door.endpoints}
    assert at_doors <= set(endpoints), at_doors - set(endpoints)
    changes_state = {
        endpoint
        for endpoint, methods in endpoints.items()
        if not endpoint.startswith("admin.") and methods & {"POST", "PUT", "PATCH", "DELETE"}
    }
    assert changes_state - at_doors == set(NOT_LIMITED)


@pytest.mark.parametrize("door", sorted(KNOCK))
def test_each_door_refuses_the_request_past_its_limit_and_says_when_to_retry(app, db, door):
    knock = KNOCK[door]
    browser = _from(app, "192.0.2.10")
    for i in range(ALLOWED):
        assert knock(browser, i).status_code != 429, f"{door}: request {i + 1} refused"
    refused = knock(browser, ALLOWED)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == str(ALLOWED)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert "Try again in " in refused.get_data(as_text=True)
    # Another shopper, at another address, is let in.
    assert knock(_from(app, "192.0.2.99"), ALLOWED + 1).status_code != 429


def test_the_429_page_is_a_page_for_browsers_a_fragment_for_htmx_and_json_for_webhooks(app):
    browser = _from(app, "192.0.2.11")
    for _ in range(ALLOWED):
        browser.get("/search?q=tee")
    page = browser.get("/search?q=tee")
    html = page.get_data(as_text=True)
    assert page.status_code == 429 and "<html" in html
    assert "Too many requests" in html
    # the window of "3 per minute" ends within the minute: seconds, or the minute itself
    assert re.search(r"Try again in (\d\d? seconds?|1 minute)\.", html), html
    fragment = browser.get("/search?q=tee", headers={"HX-Request": "true"})
    assert fragment.status_code == 429
    assert "<html" not in fragment.get_data(as_text=True)
    assert "Try again in" in fragment.get_data(as_text=True)

    for _ in range(ALLOWED):
        KNOCK["webhook"](browser, 0)
    refused = KNOCK["webhook"](browser, 0)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.json["status"] == 429 and "Try again in" in refused.json["error"]


def test_limited_answers_carry_the_rate_limit_headers_and_no_retry_after(app):
    response = _from(app, "192.0.2.12").get("/search?q=tee")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == str(ALLOWED)
    assert response.headers["X-RateLimit-Remaining"] == str(ALLOWED - 1)
    assert "Retry-After" not in response.headers


def test_a_shopper_polling_their_own_checkout_is_never_limited_but_a_guesser_is(app, db):
    tee = variant_with_stock(db, 5)
    browser = _from(app, "192.0.2.13")
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    for _ in range(ALLOWED * 3):
        assert browser.get(f"{path}/status").status_code != 429
        assert browser.get(path).status_code == 200
    for i in range(ALLOWED):
        assert browser.get(f"/checkout/co_guess{i}").status_code == 404
    assert browser.get(path).status_code == 429  # the guesser waits, even for its own


def test_log_in_counts_every_attempt_so_spraying_many_accounts_is_stopped(app, db):
    UserFactory(email="ada@example.com")
    browser = _from(app, "192.0.2.14")
    for i in range(ALLOWED):
        browser.post("/login", {"email": f"victim{i}@example.com", "password": "Summer2026!"})
    # Even the right password waits: the address is out of attempts.
    right = browser.post("/login", {"email": "ada@example.com", "password": PASSWORD})
    assert right.status_code == 429


def test_posts_without_a_csrf_token_count_too(app):
    client = _from(app, "192.0.2.18").client
    statuses = [client.post("/login", data={"email": "a@b.c"}).status_code for _ in range(4)]
    assert statuses == [400] * ALLOWED + [429]


def test_limits_are_read_from_the_config_at_request_time(app):
    app.config["RATE_LIMIT_SEARCH"] = "1 per minute"
    browser = _from(app, "192.0.2.15")
    assert browser.get("/search?q=tee").status_code == 200
    assert browser.get("/search?q=tee").status_code == 429
    app.config["RATE_LIMIT_SEARCH"] = ""  # empty: no limit at that door
    assert browser.get("/search?q=tee").status_code == 200


@pytest.mark.parametrize("switch", ["RATE_LIMIT_ENABLED", "RATELIMIT_ENABLED"])
def test_with_limits_off_no_door_is_limited(app, db, switch):
    app.config[switch] = False
    browser = _from(app, "192.0.2.16")
    for door, knock in KNOCK.items():
        statuses = [knock(browser, i).status_code for i in range(ALLOWED + 2)]
        assert 429 not in statuses, door
    assert "X-RateLimit-Limit" not in browser.get("/search?q=tee").headers


def test_limits_are_off_in_tests_unless_a_test_turns_them_on(sqlite_url):
    app = make_test_app(sqlite_url, RATE_LIMIT_SEARCH="1 per minute")
    client = app.test_client()
    assert [client.get("/search").status_code for _ in range(3)] == [200, 200, 200]
    app.extensions["holdfast.db"].dispose()


def test_a_limit_that_cannot_be_read_stops_the_start_naming_the_setting(sqlite_url):
    with pytest.raises(ConfigError, match="RATE_LIMIT_CART='lots'"):
        make_test_app(sqlite_url, RATE_LIMIT_ENABLED=True, RATE_LIMIT_CART="lots")


def test_two_workers_on_one_redis_share_the_count(sqlite_url, redis_url):
    settings = {"RATE_LIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": redis_url, **SMALL_LIMITS}
    first, second = make_test_app(sqlite_url, **settings), make_test_app(sqlite_url, **settings)
    assert limiter_of(first) is not limiter_of(second)
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    one, two = _from(first, address), _from(second, address)
    statuses = [(one if i % 2 else two).get("/search?q=tee").status_code for i in range(ALLOWED)]
    assert statuses == [200] * ALLOWED
    assert one.get("/search?q=tee").status_code == 429
    assert two.get("/search?q=tee").status_code == 429
    for app in (first, second):
        app.extensions["holdfast.db"].dispose()


def test_with_redis_down_limits_count_in_memory_and_say_so_once(sqlite_url, caplog):
    app = make_test_app(
        sqlite_url,
        RATE_LIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="redis://:hunter2@127.0.0.1:1/0",  # nothing listens there
        **SMALL_LIMITS,
    )
    browser = _from(app, "192.0.2.17")
    with caplog.at_level(logging.WARNING, logger="holdfast.rate_limits"):
        statuses = [browser.get("/search?q=tee").status_code for _ in range(ALLOWED + 2)]
    assert statuses == [200] * ALLOWED + [429, 429]
    warnings = [r.getMessage() for r in caplog.records if r.name == "holdfast.rate_limits"]
    assert len(warnings) == 1 and "counting in memory" in warnings[0], warnings
    assert "hunter2" not in warnings[0]
    app.extensions["holdfast.db"].dispose()


def test_a_storage_error_the_limiter_swallows_is_one_line_without_a_traceback(sqlite_url, caplog):
    """Requests meeting Redis down at the same instant: the ones after the first find the memory
    fallback taken, and Flask-Limiter logs their error as it does here."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    app = make_test_app(
        sqlite_url, RATE_LIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0"
    )
    logger = limiter_of(app).logger
    with caplog.at_level(logging.WARNING, logger=logger.name):
        try:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        except RedisConnectionError:
            logger.exception("Failed to rate limit. Swallowing error")
    [record] = [r for r in caplog.records if r.name == logger.name]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage() == (
        "Failed to rate limit. Swallowing error (ConnectionError: Error 111 connecting to "
        "127.0.0.1:1. Connection refused.)"
    )
    assert "Traceback" not in caplog.text
    app.extensions["holdfast.db"].dispose()
