"""The plumbing shared by the fake payment provider APIs served on 127.0.0.1.

The fakes themselves live one per provider: ``tests/fakes/paypal.py`` (FakePayPal),
``tests/fakes/stripe.py`` (FakeStripe) and ``tests/fakes/razorpay.py`` (FakeRazorpay); they
exist for testing the adapters' real SDKs.

Each fake is a stdlib ``ThreadingHTTPServer`` on an ephemeral port, serving from a daemon
thread and keeping its state in memory. It imitates only the calls our adapters make, in the
shapes, status codes and idempotency rules of the real API. This module holds what they share:
``FakeRequest``, the ``FakeProvider`` base class (routing, auth, idempotency, injected
failures), the HTTP handler and small helpers (``new_id``, ``basic_auth``).

The same test helpers on every fake:

- ``fake.settings``: the adapter settings that point at this fake.
- ``fake.approve(ref, capture=...)``: the shopper approves/pays; returns the parameters the
  provider sends back with the shopper.
- ``fake.decline(ref)``: the shopper's payment fails.
- ``fake.webhook(event_type, ref, amount_cents=None, forged=False)``: ``(headers, body)`` of a
  webhook signed as the provider signs it (``forged``: with a wrong key or signature).
- ``fake.fail_next(status, times=1)``: the next requests answer with this HTTP status.
- ``fake.calls``: ``"METHOD /path"`` of every request served.
- ``fake.lose_next_answer(times=1)``: the next requests are done, but their answers are lost
  (a 504 reaches the caller): a capture that timed out after it happened.
- ``fake.stop()``: close the port, so calls fail as on a network outage.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Answer = tuple[int, Any]
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):04d}{uuid.uuid4().hex[:10]}"


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    body: bytes
    params: tuple[str, ...] = ()  # what the route's placeholders matched

    def json(self) -> dict[str, Any]:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class FakeProvider:
    """The HTTP plumbing shared by the fakes: routing, auth, idempotency, injected failures."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[str] = []
        self._failures: list[int] = []
        self._lost_answers = 0
        self._replies: dict[tuple[str, str], Answer] = {}
        self._routes = [(method, pattern.split("/")) for method, pattern in self.routes()]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll keeps stop() quick: shutdown() waits for the loop to look up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    # -- to override
    def routes(self) -> list[tuple[str, str]]:
        """(method, path pattern) pairs; ``{}`` segments are passed to ``handle``."""
        raise NotImplementedError

    def authorized(self, request: FakeRequest) -> bool:
        raise NotImplementedError

    def error(self, status: int, message: str, code: str | None = None) -> Answer:
        raise NotImplementedError

    def handle(self, route: str, request: FakeRequest) -> Answer:
        raise NotImplementedError

    # -- helpers for tests
    def fail_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self._failures.extend([status] * times)

    def lose_next_answer(self, times: int = 1) -> None:
        with self.lock:
            self._lost_answers += times

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    # -- machinery
    def dispatch(self, request: FakeRequest) -> Answer:
        with self.lock:
            self.calls.append(f"{request.method} {request.path}")
            if self._failures:
                return self.error(self._failures.pop(0), "injected failure")
            if not self.authorized(request):
                return self.error(401, "authentication failed")
            for method, pattern in self._routes:
                params = _match(pattern, request.path.split("/"))
                if method == request.method and params is not None:
                    request.params = params
                    answer = self.handle(f"{method} {'/'.join(pattern)}", request)
                    if self._lost_answers and request.method == "POST":
                        self._lost_answers -= 1
                        return self.error(504, "gateway timeout (the work was done)")
                    return answer
            return self.error(404, f"no route {request.method} {request.path}")

    def once(self, key: str | None, route: str, compute: Callable[[], Answer]) -> Answer:
        """Answer a repeated idempotency key with the first answer, as the real APIs do."""
        if not key:
            return compute()
        if (route, key) not in self._replies:
            answer = compute()
            if answer[0] >= 500:
                return answer
            self._replies[(route, key)] = answer
        return self._replies[(route, key)]


def _match(pattern: list[str], parts: list[str]) -> tuple[str, ...] | None:
    if len(pattern) != len(parts):
        return None
    params = []
    for want, got in zip(pattern, parts, strict=True):
        if want == "{}":
            params.append(got)
        elif want != got:
            return None
    return tuple(params)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = FakeRequest(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            status, payload = fake.dispatch(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


def basic_auth(request: FakeRequest) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password
