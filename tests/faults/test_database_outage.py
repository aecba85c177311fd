"""A database outage: every route answers a 503 page that says to try again, with Retry-After
(never a 500), and /health names the database as down without a host, port or error text.
(A real Postgres restarted under load: test_postgres_restart.py.)"""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_test_app

UNREACHABLE = [
    "postgresql://postgres@127.0.0.1:1/gone",
    "sqlite:////nonexistent-dir/for/holdfast/shop.db",
]
SAMPLE = {
    "slug": "tee",
    "public_id": "co_x",
    "number": "HF-X",
    "ref": "tp_x",
    "order_id": "o_x",
    "token": "t",
    "provider": "testpay",
    "image_id": "1",
    "product_id": "1",
    "variant_id": "1",
    "category_id": "1",
    "user_id": "1",
    "return_id": "1",
    "message_id": "1",
    "webhook_id": "1",
    "address_id": "1",
    "zone_id": "1",
    "rate_id": "1",
    "tax_id": "1",
    "code_id": "1",
    "filename": "css/shop.css",
}


# Answered while the database is down: the process is alive, and a scrape still shows what the
# processes counted (the outbox's backlog, read from the database, is left out).
ANSWER_ANYWAY = {"health.live", "metrics.scrape"}


def _path(rule) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", SAMPLE[name], path)
    return path


@pytest.mark.parametrize("url", UNREACHABLE, ids=["postgres", "sqlite"])
def test_every_route_answers_503_with_retry_after_while_the_database_is_down(url):
    app = make_test_app(url)
    client = app.test_client()
    first = client.get("/cart")  # a page for this visitor: it carries the token (not "/")
    assert first.status_code == 503
    token = re.search(r'"X-CSRFToken": "([^"]+)"', first.get_data(as_text=True)).group(1)
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(_path(rule))
            else:
                response = client.post(_path(rule), data={"csrf_token": token})
            where = f"{method} {rule.rule}"
            if rule.endpoint in ANSWER_ANYWAY:  # liveness and metrics need no database
                assert response.status_code == 200, (where, response.status_code)
                continue
            assert response.status_code == 503, (where, response.status_code)
            assert response.headers.get("Retry-After") == "2", where
            body = response.get_data(as_text=True)
            if rule.endpoint == "health.check":
                assert response.get_json()["down"] == ["database"]
                assert "127.0.0.1" not in body and "nonexistent" not in body
            elif rule.endpoint == "health.ready":
                assert "database" in response.get_json()["not_ready"]
                assert "127.0.0.1" not in body and "nonexistent" not in body
            elif not rule.rule.startswith("/webhooks"):
                assert "please try again" in body, where
    assert client.get("/static/css/shop.css").status_code in (200, 404)
    app.extensions["holdfast.db"].dispose()
