"""What an operator reads: request ids on every answer, one JSON object per log line (or a
readable one on a laptop), and Sentry's events without a shopper's personal data."""

from __future__ import annotations

import gzip
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import logs, observability
from app.config import ConfigError, load_config, log_settings
from tests.conftest import make_test_app

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """The root logger's lines as the app writes them in production (JSON), new ones at each
    call; the test suite's own logging is put back afterwards."""
    import io
    import logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    buffer = io.StringIO()
    logs.configure("json", "INFO", stream=buffer)

    def read() -> list[dict]:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return [json.loads(line) for line in text.splitlines() if line]

    read.buffer = buffer
    yield read
    root.handlers[:] = handlers
    root.setLevel(level)


def _boom_app(database_url: str, **overrides):
    """The test app with one view that fails the way a bug would."""
    app = make_test_app(database_url, WTF_CSRF_ENABLED=False, **overrides)

    @app.route("/boom", methods=["GET", "POST"])
    def boom():
        from flask import request

        email = request.form.get("email", "")  # a local variable holding personal data
        raise RuntimeError(f"the shop broke ({len(email)} characters)")

    return app


# ---------------------------------------------------------------- request ids


def test_a_sane_request_id_from_the_proxy_is_kept_and_sent_back(client, db):
    response = client.get("/cart", headers={"X-Request-ID": "nginx-7f3a.b_9"})
    assert response.headers["X-Request-ID"] == "nginx-7f3a.b_9"


@pytest.mark.parametrize("sent", [None, "a b", "x" * 65, "<script>", "id;drop", ""])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(client, db, sent):
    headers = {"X-Request-ID": sent} if sent is not None else {}
    first = client.get("/cart", headers=headers).headers["X-Request-ID"]
    second = client.get("/cart", headers=headers).headers["X-Request-ID"]
    assert HEX_ID.fullmatch(first) and HEX_ID.fullmatch(second) and first != second


def test_error_pages_carry_the_request_id(database_url):
    app = _boom_app(database_url, RATE_LIMIT_ENABLED=True, RATE_LIMIT_SEARCH="1 per minute")
    client = app.test_client()
    sent = {"X-Request-ID": "err-page-1"}
    missing = client.get("/no/such/page", headers=sent)
    broken = client.get("/boom", headers=sent)
    client.get("/search?q=hat")
    limited = client.get("/search?q=hat", headers=sent)
    assert [r.status_code for r in (missing, broken, limited)] == [404, 500, 429]
    assert {r.headers["X-Request-ID"] for r in (missing, broken, limited)} == {"err-page-1"}
    assert "Something went wrong on our side" in broken.get_data(as_text=True)
    app.extensions["holdfast.db"].dispose()


def test_the_503_of_a_database_outage_carries_the_request_id():
    app = make_test_app("sqlite:////nonexistent-dir/for/holdfast/shop.db")
    response = app.test_client().get("/", headers={"X-Request-ID": "outage-1"})
    assert response.status_code == 503
    assert response.headers["X-Request-ID"] == "outage-1"


# ---------------------------------------------------------------- log lines


def test_each_request_writes_one_json_access_line_with_its_id(client, db, log_lines):
    log_lines()
    client.get("/cart?secret=query", headers={"X-Request-ID": "access-1"})
    (line,) = [line for line in log_lines() if line["logger"] == "holdfast.access"]
    assert line["request_id"] == "access-1"
    assert (line["method"], line["path"], line["status"], line["endpoint"]) == (
        "GET",
        "/cart",
        200,
        "cart.show",
    )
    assert isinstance(line["ms"], float) and line["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_lines_logged_while_answering_carry_the_request_id(client, db, log_lines):
    log_lines()
    client.post("/webhooks/testpay", data=b"{}", headers={"X-Request-ID": "hook-1"})
    lines = log_lines()
    refused = [line for line in lines if "refused" in line["message"]]
    assert refused and {line["request_id"] for line in refused} == {"hook-1"}
    assert all(line["request_id"] == "hook-1" for line in lines)


def test_a_token_in_the_path_is_masked_in_the_access_line(client, db, log_lines):
    log_lines()
    client.get("/password/reset/tok3n-from-an-email")
    text = json.dumps(log_lines())
    assert "tok3n-from-an-email" not in text
    assert "/password/reset/<token>" in text


def test_json_messages_become_fields_and_exceptions_their_traceback(log_lines):
    import logging

    log = logging.getLogger("holdfast.test")
    log_lines()
    log.info(json.dumps({"event": "db.retry", "kind": "deadlock", "attempt": 1}))
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("it failed", extra={"order": "HF-1"})
    retry, failure = log_lines()
    assert retry["event"] == "db.retry" and retry["kind"] == "deadlock" and retry["attempt"] == 1
    assert failure["order"] == "HF-1" and failure["exc_type"] == "ValueError"
    assert "Traceback" in failure["exc"] and "request_id" not in failure


def test_text_lines_are_short_and_readable(client, db, log_lines):
    logs.configure("text", "INFO", stream=log_lines.buffer)
    client.get("/cart", headers={"X-Request-ID": "text-1"})
    (line,) = [x for x in log_lines.buffer.getvalue().splitlines() if "holdfast.access" in x]
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO holdfast.access \[text-1\] GET /cart 200 [\d.]+ ms", line
    )


def test_json_logs_by_default_in_staging_and_production_text_elsewhere(tmp_path):
    assert log_settings({"HOLDFAST_ENV": "production"}) == ("json", "INFO")
    assert log_settings({"HOLDFAST_ENV": "staging", "LOG_LEVEL": "warning"}) == ("json", "WARNING")
    assert log_settings({"HOLDFAST_ENV": "development"}) == ("text", "INFO")
    assert log_settings({"HOLDFAST_ENV": "test", "LOG_FORMAT": "JSON"}) == ("json", "INFO")
    for bad in ({"LOG_FORMAT": "xml"}, {"LOG_LEVEL": "loud"}):
        with pytest.raises(ConfigError):
            log_settings(bad)
    with pytest.raises(ConfigError, match="METRICS_ALLOW"):
        load_config(str(tmp_path), {"METRICS_ALLOW": "127.0.0.1,localhost"})


# ---------------------------------------------------------------- Sentry


class _FakeSentry(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_sentry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    _FakeSentry.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://public@127.0.0.1:{server.server_address[1]}/1", _FakeSentry.received
    import sentry_sdk

    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    observability._sentry_dsn = None
    server.shutdown()


def _events(received: list[tuple[str, bytes]]) -> list[dict]:
    events = []
    for _path, body in received:
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def test_an_unhandled_error_reaches_sentry_without_the_shoppers_data(database_url, fake_sentry):
    import sentry_sdk

    dsn, received = fake_sentry
    app = _boom_app(database_url, SENTRY_DSN=dsn)
    client = app.test_client()
    client.set_cookie("holdfast_cart", "cookie-secret-value")
    response = client.post(
        "/boom", data={"email": "ada@example.com"}, headers={"X-Request-ID": "sentry-1"}
    )
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
    sentry_sdk.flush(timeout=10)
    assert {path for path, _ in received} == {"/api/1/envelope/"}
    (event,) = _events(received)
    assert event["tags"]["request_id"] == "sentry-1"
    assert event["environment"] == app.config["ENV_NAME"]
    assert event["release"].startswith("holdfast@")
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    raw = b"".join(body for _, body in received).decode()
    assert "ada@example.com" not in raw and "cookie-secret-value" not in raw
    app.extensions["holdfast.db"].dispose()


def test_without_a_dsn_sentry_is_not_even_imported(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; from tests.conftest import make_test_app; "
        f"make_test_app('sqlite:///{tmp_path}/shop.db'); print('sentry_sdk' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=root,
    )
    assert result.stdout.strip().splitlines()[-1] == "False"
