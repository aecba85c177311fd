"""What ``flask holdfast verify-production`` makes of the answers it gets: each verdict from
app/services/ops/verify_production.py, on answers a real shop (or a broken one) gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import urllib3

from app.services.ops import verify_production as verify
from app.services.ops.verify_production import FAIL, PASS, SKIP

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GOOD_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def test_the_target_defaults_to_https_and_port_80_for_the_redirect():
    target = verify.Target.parse("shop.example")
    assert target.base_url == "https://shop.example"
    assert target.http_url == "http://shop.example"
    assert verify.Target.parse("https://shop.example:8443/x").http_url == "http://shop.example"
    assert verify.Target.parse("http://10.0.0.5:8000").http_url == "http://10.0.0.5:8000"
    assert verify.Target.parse("https://[::1]:8443").http_url == "http://[::1]"
    assert verify.Target.parse("https://a.example", insecure=True).verify is False
    for wrong in ("ftp://shop.example", "https://shop.example:https", "https://:443"):
        with pytest.raises(ValueError):
            verify.Target.parse(wrong)


@pytest.mark.parametrize(
    ("status", "body", "ready", "expected"),
    [
        (200, '{"status": "healthy"}', None, PASS),
        (200, '{"status": "healthy"}', 200, PASS),
        (200, '{"status": "healthy"}', 503, FAIL),
        (200, '{"status": "degraded", "down": ["redis"]}', None, FAIL),
        (503, '{"status": "unhealthy"}', None, FAIL),
        (200, "<html>a page</html>", None, FAIL),
    ],
)
def test_health_passes_only_when_healthy_and_ready(status, body, ready, expected):
    assert verify.health_verdict(status, body, ready).status == expected


def test_a_certificate_expiring_within_two_weeks_fails_and_says_how_long_is_left():
    assert verify.days_left("Jul  1 12:00:00 2026 GMT", NOW) == 30
    fine = verify.tls_verdict("Jul  1 12:00:00 2026 GMT", "TLSv1.3", NOW)
    assert fine.status == PASS and "30 days left" in fine.detail
    soon = verify.tls_verdict("Jun 11 12:00:00 2026 GMT", "TLSv1.3", NOW)
    assert soon.status == FAIL and "10 days left" in soon.detail
    unverified = verify.tls_verdict(None, "TLSv1.3", NOW)
    assert unverified.status == SKIP and "NOT verified" in unverified.detail


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        (301, "https://shop.example/", PASS),
        (308, "https://shop.example/", PASS),
        (302, "https://shop.example/", FAIL),
        (301, "http://shop.example/", FAIL),
        (301, "https://elsewhere.example/", FAIL),
        (200, None, FAIL),
    ],
)
def test_plain_http_must_move_permanently_to_https_on_the_same_host(status, location, expected):
    assert verify.redirect_verdict(status, location, "shop.example").status == expected


def test_missing_security_headers_are_named_per_page():
    assert verify.missing_security_headers(GOOD_HEADERS) == []
    csp_only = {k: v for k, v in GOOD_HEADERS.items() if k != "X-Frame-Options"}
    assert verify.missing_security_headers(csp_only) == []  # frame-ancestors is enough
    lower = {k.lower(): v for k, v in GOOD_HEADERS.items()}
    assert verify.missing_security_headers(lower) == []

    check = verify.headers_verdict({"/": GOOD_HEADERS, "/static/x.css": {"X-Frame-Options": "x"}})
    assert check.status == FAIL
    assert "/static/x.css lacks Strict-Transport-Security" in check.detail
    assert "Referrer-Policy" in check.detail and "/ lacks" not in check.detail


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"stripe": 400, "paypal": 404, "testpay": 404}, PASS),
        ({"stripe": 404, "paypal": 404}, FAIL),  # no webhook endpoint at all
        ({"stripe": 200, "paypal": 404}, FAIL),  # an unsigned event accepted
        ({"stripe": 400, "paypal": 503}, FAIL),  # a crash, or verification unreachable
    ],
)
def test_an_unsigned_webhook_must_be_refused_with_a_4xx(answers, expected):
    assert verify.webhook_verdict(answers).status == expected


@pytest.mark.parametrize(
    ("path", "status", "cache_control", "expected"),
    [
        ("/static/css/shop.0123456789ab.css", 200, "public, max-age=31536000, immutable", PASS),
        ("/static/css/shop.css", 200, "public, max-age=31536000, immutable", FAIL),
        ("/static/css/shop.0123456789ab.css", 200, "public, max-age=300", FAIL),
        ("/static/css/shop.0123456789ab.css", 200, "max-age=31536000", FAIL),
        ("/static/css/shop.0123456789ab.css", 404, "", FAIL),
        (None, None, "", FAIL),
    ],
)
def test_static_files_need_a_fingerprint_and_a_long_immutable_cache(
    path, status, cache_control, expected
):
    assert verify.static_verdict(path, status, cache_control).status == expected


def test_metrics_must_be_refused():
    assert verify.metrics_verdict(403).status == PASS
    assert verify.metrics_verdict(404).status == PASS
    assert verify.metrics_verdict(200).status == FAIL
    assert verify.metrics_verdict(502).status == FAIL


def test_the_shops_own_static_links_are_found_stylesheet_first():
    html = """<html><head>
      <link rel="icon" href="/static/favicon.abcdefabcdef.svg">
      <link rel="stylesheet" href="/static/css/shop.0123456789ab.css">
      <script src="https://checkout.razorpay.com/v1/checkout.js"></script>
      <script src="/static/vendor/htmx.min.0123456789ab.js" defer></script>
      <link rel="canonical" href="/products/x">
    </head></html>"""
    assert verify.static_links(html, "https://shop.example") == [
        "/static/css/shop.0123456789ab.css",
        "/static/favicon.abcdefabcdef.svg",
        "/static/vendor/htmx.min.0123456789ab.js",
    ]


def test_a_request_that_fails_is_reported_by_its_innermost_cause():
    refused = ConnectionRefusedError(111, "Connection refused")
    pool = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")
    pool.__cause__ = refused
    retries = urllib3.exceptions.MaxRetryError(None, "/health", reason=pool)
    outer = requests.ConnectionError(retries)

    assert verify.failure_reason(outer) == "ConnectionRefusedError: [Errno 111] Connection refused"
