"""/health for operators; error pages for visitors."""

import pytest

from tests.conftest import make_test_app


def test_health_reports_a_reachable_database(client, db):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "healthy"
    assert body["checks"]["database"]["status"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/nowhere",
        "sqlite:////nonexistent-dir/for/holdfast/shop.db",
    ],
)
def test_health_answers_503_when_the_database_is_unreachable(url):
    app = make_test_app(url)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == {"status": "down"}
    assert body["down"] == ["database"]
    text = response.get_data(as_text=True)
    assert "127.0.0.1" not in text and "nonexistent" not in text and "Error" not in text


def test_pages_answer_a_styled_503_not_a_crash_when_the_database_is_gone():
    app = make_test_app("sqlite:////nonexistent-dir/for/holdfast/shop.db")
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "please try again" in response.get_data(as_text=True)


def test_health_checks_redis_when_configured(database_url, redis_url):
    app = make_test_app(database_url, REDIS_URL=redis_url)
    body = app.test_client().get("/health").get_json()
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["status"] == "healthy"


def test_health_is_degraded_not_down_when_redis_is_unreachable(database_url):
    app = make_test_app(database_url, REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["down"] == ["redis"]
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_wrong_methods_answer_405_with_allow(client, db):
    response = client.get("/cart/add")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_json_clients_get_json_errors(client, db):
    response = client.get("/products/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"]


def test_pages_carry_security_headers(client, db):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_oversized_bodies_are_refused(browser, db):
    response = browser.post(
        "/cart/add", {"variant_id": "1", "quantity": "1", "pad": "x" * 2_000_000}
    )
    assert response.status_code == 413
