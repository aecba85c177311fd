"""``GET /metrics``: who may read it, what the shop counts, and (slow) the counts of every
gunicorn worker and of the RQ worker's jobs added up in one scrape."""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from app import clock
from app.providers.testpay import SIGNATURE_HEADER
from app.services.stock import holds, sweeper
from app.services.stock.ledger import InsufficientStock
from tests.checkout_helpers import buy, signed_webhook
from tests.conftest import PG_URL, REDIS_URL, make_test_app
from tests.factories import variant_with_stock

PUBLIC = {"REMOTE_ADDR": "203.0.113.5"}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: str) -> dict[tuple, float]:
    """``{(sample name, sorted labels): value}`` of a text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# ---------------------------------------------------------------- who may read it


def test_metrics_answer_loopback_in_the_text_format(client, db):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    body = response.get_data(as_text=True)
    assert "# TYPE holdfast_http_requests_total counter" in body
    assert response.headers["Cache-Control"] == "no-store"
    outbox = samples(body)
    assert outbox[("holdfast_outbox_messages", (("state", "pending"),))] == 0
    assert ("holdfast_outbox_messages", (("state", "failed"),)) in outbox


def test_metrics_are_not_found_from_any_other_address(client, db):
    response = client.get("/metrics", environ_base=PUBLIC)
    assert response.status_code == 404
    assert "holdfast_" not in response.get_data(as_text=True)


def test_a_forwarded_request_is_refused_when_no_proxy_is_trusted(client, db):
    """nginx on the same machine connects from 127.0.0.1: with TRUSTED_PROXIES=0 its
    shoppers would all look local, so a request that came through a proxy is refused."""
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert response.status_code == 404


@pytest.mark.parametrize(("forwarded_for", "status"), [("203.0.113.5", 404), ("127.0.0.1", 200)])
def test_behind_a_trusted_proxy_the_client_address_decides(database_url, forwarded_for, status):
    app = make_test_app(database_url, TRUSTED_PROXIES=1)
    response = app.test_client().get("/metrics", headers={"X-Forwarded-For": forwarded_for})
    assert response.status_code == status
    app.extensions["holdfast.db"].dispose()


def test_a_bearer_token_opens_metrics_from_anywhere(database_url):
    app = make_test_app(database_url, METRICS_TOKEN="s3cret-scrape-token", METRICS_ALLOW=())
    client = app.test_client()
    right = {"Authorization": "Bearer s3cret-scrape-token"}
    assert client.get("/metrics", headers=right, environ_base=PUBLIC).status_code == 200
    wrong = {"Authorization": "Bearer guess"}
    assert client.get("/metrics", headers=wrong, environ_base=PUBLIC).status_code == 404
    assert client.get("/metrics").status_code == 404  # loopback is no longer allowed
    app.extensions["holdfast.db"].dispose()


# ---------------------------------------------------------------- what is counted


def test_requests_are_counted_by_endpoint_not_by_path(client, db):
    labels = {"method": "GET", "endpoint": "unmatched", "status": "4xx"}
    before = value("holdfast_http_requests_total", **labels)
    client.get("/no/such/page/12345")
    assert value("holdfast_http_requests_total", **labels) == before + 1
    body = client.get("/metrics").get_data(as_text=True)
    assert "/no/such/page" not in body
    assert 'holdfast_http_request_duration_seconds_bucket{endpoint="unmatched",le="0.1"}' in body


def test_holds_count_when_they_commit_refusals_when_refused(app, db):
    variant = variant_with_stock(db, 2)
    session = app.extensions["holdfast.db"].session_factory()
    taken, refused = (
        value("holdfast_holds_taken_total"),
        value("holdfast_holds_refused_total", reason="insufficient_stock"),
    )
    holds.take_hold(session, [(variant.id, 1)])
    holds.take_hold(session, [(variant.id, 1)], commit=False)
    session.rollback()  # undone: not counted
    with pytest.raises(InsufficientStock):
        holds.take_hold(session, [(variant.id, 5)])
    session.close()
    assert value("holdfast_holds_taken_total") == taken + 1
    assert value("holdfast_holds_refused_total", reason="insufficient_stock") == refused + 1


def test_swept_hold_lines_are_counted(app, db):
    first, second = variant_with_stock(db, 3), variant_with_stock(db, 3)
    session = app.extensions["holdfast.db"].session_factory()
    long_ago = clock.utcnow() - timedelta(hours=1)
    holds.take_hold(session, [(first.id, 1), (second.id, 1)], ttl_minutes=1, now=long_ago)
    before = value("holdfast_hold_lines_swept_total")
    assert sweeper.sweep_expired_holds(session).expired == 2
    session.close()
    assert value("holdfast_hold_lines_swept_total") == before + 2


def test_a_purchase_counts_a_paid_checkout_and_its_webhooks(app, db, browser):
    variant = variant_with_stock(db, 3)
    paid = value("holdfast_checkouts_ended_total", outcome="paid")
    buy(browser, variant)
    assert value("holdfast_checkouts_ended_total", outcome="paid") == paid + 1

    def webhooks(result: str) -> float:
        return value("holdfast_webhooks_total", provider="testpay", result=result)

    before = {r: webhooks(r) for r in ("received", "duplicate", "invalid_signature", "ignored")}
    body, headers = signed_webhook(app, "tp_nobody", 100, event_id="evt_metrics")
    for _ in range(2):
        assert browser.client.post("/webhooks/testpay", data=body, headers=headers).status_code
    forged = {**headers, SIGNATURE_HEADER: "t=1,v1=00"}
    assert browser.client.post("/webhooks/testpay", data=body, headers=forged).status_code == 400
    after = {r: webhooks(r) - before[r] for r in before}
    assert after == {"received": 1, "duplicate": 1, "invalid_signature": 1, "ignored": 1}


# ---------------------------------------------------------------- several processes (slow)


def _per_process(directory: Path, name: str, **labels: str) -> dict[str, float]:
    """Each process's own count, read file by file (each alone in a directory)."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        alone = Path(tempfile.mkdtemp(prefix="holdfast-one-metrics-"))
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))
        counts[path.stem] = registry.get_sample_value(name, labels) or 0.0
        shutil.rmtree(alone)
    return counts


def _scrape(base_url: str) -> dict[tuple, float]:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:  # noqa: S310
        return samples(response.read().decode())


def _hit(base_url: str, times: int) -> None:
    def one(_):
        with urllib.request.urlopen(f"{base_url}/health/live", timeout=10) as r:  # noqa: S310
            return r.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(times))) == {200}


LIVE = {"method": "GET", "endpoint": "health.live", "status": "2xx"}


def _assert_json_access_line(stack) -> None:
    """Staging logs JSON: the request's id comes back and is on its access line."""
    import json

    url, sent = f"{stack.base_url}/cart", {"X-Request-ID": "probe-1"}
    probe = urllib.request.Request(url, headers=sent)  # noqa: S310 - the stack's own address
    with urllib.request.urlopen(probe, timeout=10) as response:  # noqa: S310
        assert response.headers["X-Request-ID"] == "probe-1"
    lines = [json.loads(x) for x in stack.log("gunicorn").splitlines() if x.startswith("{")]
    (line,) = [x for x in lines if x.get("request_id") == "probe-1"]
    assert (line["logger"], line["path"], line["status"]) == ("holdfast.access", "/cart", 200)
    assert any(x["logger"] == "gunicorn.error" for x in lines)  # gunicorn's own lines too


@pytest.mark.slow
def test_one_scrape_adds_up_every_gunicorn_worker_and_the_rq_workers_jobs(tmp_path):
    """gunicorn with 2 workers and an RQ worker sharing PROMETHEUS_MULTIPROC_DIR: a small
    flash sale (paid through testpay, its webhooks processed by RQ jobs) and requests spread
    over both workers; every scrape, whichever worker answers it, shows the same totals."""
    if not PG_URL or not REDIS_URL:
        pytest.skip(reason="the stack needs TEST_DATABASE_URL and REDIS_URL")
    from bench.flash_sale import run_flash_sale
    from bench.stack import Stack

    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with Stack(
        workers=2, threads=2, redis_url=REDIS_URL, pg_base_url=PG_URL, extra_env=env
    ) as stack:
        result = run_flash_sale(stack, buyers=6, stock=2)
        assert result["orders"] == 2, result
        sent = 0
        while (
            sent < 400
            and sum(
                1
                for c in _per_process(directory, "holdfast_http_requests_total", **LIVE).values()
                if c
            )
            < 2
        ):
            _hit(stack.base_url, 40)
            sent += 40
        scrapes = [_scrape(stack.base_url) for _ in range(4)]
        per_process = _per_process(directory, "holdfast_http_requests_total", **LIVE)
        _assert_json_access_line(stack)
    live_key = ("holdfast_http_requests_total", tuple(sorted(LIVE.items())))
    assert len([c for c in per_process.values() if c]) >= 2, per_process
    assert {scrape[live_key] for scrape in scrapes} == {float(sent)}
    scrape = scrapes[-1]
    assert scrape[("holdfast_checkouts_ended_total", (("outcome", "paid"),))] == 2
    processed = (("provider", "testpay"), ("result", "processed"))
    assert scrape[("holdfast_webhooks_total", processed)] == 2  # counted in the RQ jobs
    jobs = _per_process(
        directory, "holdfast_webhooks_total", provider="testpay", result="processed"
    )
    assert [name for name, c in jobs.items() if c] == [next(n for n in jobs if "-jobs" in n)]
