"""Check a live deployment from outside, as a visitor's browser and a payment provider reach it
(``flask holdfast verify-production URL``).

Each check is a ``Check`` (pass, fail or skip, and what was seen); the command prints them as a
table and exits 1 on any fail. The verdicts are pure functions of what came back (unit-tested);
``run_checks`` does the fetching. Nothing here needs the shop's database or settings.

- health: ``/health`` answers 200 "healthy" (and ``/health/ready`` 200, where it exists);
- tls: the certificate verifies for the host and has at least ``MIN_DAYS_LEFT`` days left;
- https-redirect: ``http://`` answers 301/308 to ``https://`` on the same host;
- security-headers: HSTS, CSP, nosniff, framing refused, a Referrer-Policy, on the home page
  and on a static file (nginx serves those itself);
- webhooks: an unsigned POST to each provider's ``/webhooks/<provider>`` is refused with a 4xx
  (404: provider not enabled), never accepted (2xx) or crashed on (5xx);
- static-caching: a static file the home page links has a fingerprinted name and a long,
  immutable ``Cache-Control`` (``flask holdfast build-static``, nginx/holdfast.conf);
- metrics: ``/metrics`` is not served to the public.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from app import clock

PASS, FAIL, SKIP = "pass", "fail", "skip"
MIN_DAYS_LEFT = 14
LONG_MAX_AGE = 30 * 24 * 3600  # a static file cached for less is not "long"
PROVIDERS = ("stripe", "paypal", "razorpay", "testpay")
FINGERPRINTED = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")
USER_AGENT = "holdfast-verify-production"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str


@dataclass(frozen=True)
class Target:
    """The shop at ``base_url`` (https://shop.example), its plain-HTTP address, and how to trust
    its certificate: ``ca_file`` (a self-signed one) or ``insecure`` (not at all)."""

    base_url: str
    http_url: str
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 10.0

    @classmethod
    def parse(cls, url: str, http_url: str | None = None, **options) -> Target:
        if "://" not in url:
            url = "https://" + url
        parts = urlsplit(url)
        # ``parts.port`` raises ValueError for a port that is not a number in 0..65535.
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
            raise ValueError(f"not an http(s) URL: {url!r}")
        base = f"{parts.scheme}://{parts.netloc}"
        plain = http_url or (base if parts.scheme == "http" else f"http://{_bare_host(parts)}")
        return cls(base_url=base, http_url=plain.rstrip("/"), **options)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def verify(self) -> bool | str:
        """What ``requests`` calls ``verify``."""
        return False if self.insecure else (self.ca_file or True)

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/"))


def _bare_host(parts) -> str:
    """A URL's host without its port (bracketed when it is an IPv6 address)."""
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


# ------------------------------------------------------------------ verdicts (pure)


def health_verdict(status: int, body: str, ready_status: int | None) -> Check:
    """``ready_status``: /health/ready's answer, None when it has none (404)."""
    try:
        reported = json.loads(body).get("status")
    except (ValueError, AttributeError):
        reported = None
    detail = f"/health {status} {reported or 'not JSON'}"
    detail += "" if ready_status is None else f"; /health/ready {ready_status}"
    healthy = status == 200 and reported == "healthy"
    ready = ready_status in (None, 200)
    return Check("health", PASS if healthy and ready else FAIL, detail)


def days_left(not_after: str, now: datetime) -> int:
    """Whole days from ``now`` to a certificate's notAfter ("Jun  1 12:00:00 2030 GMT")."""
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
    return (expires - now).days


def tls_verdict(not_after: str | None, version: str | None, now: datetime) -> Check:
    """A verified certificate's expiry (None: it was not verified, under --insecure)."""
    if not_after is None:
        return Check("tls", SKIP, f"{version}; certificate NOT verified (--insecure)")
    left = days_left(not_after, now)
    detail = f"{version}; certificate verified, expires {not_after} ({left} days left)"
    if left < MIN_DAYS_LEFT:
        return Check("tls", FAIL, f"{detail}: renew it (certbot renew)")
    return Check("tls", PASS, detail)


def redirect_verdict(status: int, location: str | None, host: str) -> Check:
    """``http://`` must move permanently (301/308) to ``https://`` on the same host."""
    target = urlsplit(location or "")
    detail = f"{status} -> {location or '(no Location)'}"
    if status not in (301, 308):
        return Check("https-redirect", FAIL, f"{detail}: expected 301 or 308 to https://")
    if target.scheme != "https" or (target.hostname or "") != host:
        return Check("https-redirect", FAIL, f"{detail}: expected https://{host}/…")
    return Check("https-redirect", PASS, detail)


def missing_security_headers(headers: Mapping[str, str]) -> list[str]:
    """The protections ``headers`` (case-insensitive) lacks."""
    lowered = {k.lower(): v for k, v in headers.items()}
    csp = lowered.get("content-security-policy", "")
    missing = []
    if "max-age=" not in lowered.get("strict-transport-security", ""):
        missing.append("Strict-Transport-Security")
    if not csp:
        missing.append("Content-Security-Policy")
    if lowered.get("x-content-type-options", "").lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    if "frame-ancestors" not in csp and not lowered.get("x-frame-options"):
        missing.append("X-Frame-Options or frame-ancestors")
    if not lowered.get("referrer-policy"):
        missing.append("Referrer-Policy")
    return missing


def headers_verdict(pages: Mapping[str, Mapping[str, str]]) -> Check:
    """``pages``: path -> its response headers."""
    problems = [
        f"{path} lacks {', '.join(missing)}"
        for path, headers in pages.items()
        if (missing := missing_security_headers(headers))
    ]
    if problems:
        return Check("security-headers", FAIL, "; ".join(problems))
    return Check("security-headers", PASS, "all present on " + ", ".join(pages))


def webhook_verdict(answers: Mapping[str, int]) -> Check:
    """``answers``: provider -> the status of an unsigned POST to its webhook."""
    enabled = {p: s for p, s in answers.items() if s != 404}
    shown = ", ".join(f"{p} {s}" for p, s in answers.items())
    if not enabled:
        return Check("webhooks", FAIL, f"no webhook endpoint answers ({shown})")
    wrong = [p for p, s in enabled.items() if not 400 <= s < 500]
    if wrong:
        return Check("webhooks", FAIL, f"{shown}: {', '.join(wrong)} did not refuse with a 4xx")
    return Check("webhooks", PASS, f"unsigned POST refused: {shown}")


def max_age(cache_control: str) -> int | None:
    match = re.search(r"(?:^|[,\s])max-age=(\d+)", cache_control or "")
    return int(match[1]) if match else None


def static_verdict(path: str | None, status: int | None, cache_control: str) -> Check:
    if path is None:
        return Check("static-caching", FAIL, "the home page links no /static/ file")
    detail = f"{path} {status} Cache-Control: {cache_control or '(none)'}"
    if status != 200:
        return Check("static-caching", FAIL, detail)
    if not FINGERPRINTED.search(path):
        return Check("static-caching", FAIL, f"{detail}: not fingerprinted (build-static)")
    age = max_age(cache_control)
    if age is None or age < LONG_MAX_AGE or "immutable" not in cache_control:
        return Check("static-caching", FAIL, f"{detail}: expected a long max-age, immutable")
    return Check("static-caching", PASS, detail)


def metrics_verdict(status: int) -> Check:
    if 400 <= status < 500:
        return Check("metrics", PASS, f"/metrics {status} (not public)")
    return Check("metrics", FAIL, f"/metrics {status}: expected a refusal (403/404)")


class _AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        link = values.get("href") if tag == "link" else values.get("src")
        if tag in ("link", "script", "img") and link:
            self.links.append(link)


def static_links(html: str, base_url: str) -> list[str]:
    """Paths of the shop's own /static/ files that ``html`` links, stylesheets first."""
    parser = _AssetLinks()
    parser.feed(html)
    own = urlsplit(base_url).netloc
    paths = []
    for link in parser.links:
        parts = urlsplit(urljoin(base_url + "/", link))
        if parts.netloc == own and parts.path.startswith("/static/"):
            paths.append(parts.path)
    return sorted(dict.fromkeys(paths), key=lambda p: not p.endswith(".css"))


# ------------------------------------------------------------------ fetching


def peer_certificate(target: Target) -> tuple[str | None, str | None]:
    """(notAfter of the verified certificate, or None under --insecure; the TLS version).
    Raises ``ssl.SSLError`` (``SSLCertVerificationError``) or ``OSError``."""
    context = ssl.create_default_context(cafile=target.ca_file)
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    port = urlsplit(target.base_url).port or 443
    with (
        socket.create_connection((target.host, port), timeout=target.timeout) as raw,
        context.wrap_socket(raw, server_hostname=target.host) as tls,
    ):
        certificate = tls.getpeercert() or {}
        return certificate.get("notAfter"), tls.version()


class Visitor:
    """GETs and POSTs to the shop, never following redirects, trusting its certificate as the
    target says. A page is fetched once (several checks read the home page)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.pages: dict[str, requests.Response] = {}

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        with warnings.catch_warnings():  # --insecure was asked for: no warning per request
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            # ``verify`` per request: on the session, REQUESTS_CA_BUNDLE would override it.
            return self.http.request(
                method,
                url,
                timeout=self.target.timeout,
                allow_redirects=False,
                verify=self.target.verify,
                **kwargs,
            )

    def get(self, path: str) -> requests.Response:
        if path not in self.pages:
            self.pages[path] = self.request("GET", self.target.url(path))
        return self.pages[path]

    def linked_asset(self) -> str | None:
        """The first /static/ file the home page links (a stylesheet if any)."""
        links = static_links(self.get("/").text, self.target.base_url)
        return links[0] if links else None


def failure_reason(exc: BaseException) -> str:
    """The innermost cause of a failed request (requests wraps urllib3, which wraps ssl or
    the socket's error): "ConnectionRefusedError: [Errno 111] Connection refused"."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        first = exc.args[0] if exc.args else None
        inner = getattr(exc, "reason", None) or exc.__cause__
        inner = inner or (first if isinstance(first, BaseException) else None)
        if not isinstance(inner, BaseException):
            break
        exc = inner
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate does not verify: {exc.verify_message}"
    return f"{type(exc).__name__}: {exc}"


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that could not reach the shop fails, naming why; it never ends the run."""
    try:
        return check()
    except (requests.RequestException, OSError) as exc:
        return Check(name, FAIL, failure_reason(exc))


def check_health(visitor: Visitor) -> Check:
    health = visitor.get("/health")
    ready = visitor.get("/health/ready")
    return health_verdict(
        health.status_code, health.text, None if ready.status_code == 404 else ready.status_code
    )


def check_tls(target: Target, now: datetime) -> Check:
    if urlsplit(target.base_url).scheme != "https":
        return Check("tls", FAIL, f"{target.base_url} is plain HTTP: serve it over HTTPS")
    not_after, version = peer_certificate(target)
    return tls_verdict(not_after, version, now)


def check_redirect(visitor: Visitor) -> Check:
    answer = visitor.request("GET", visitor.target.http_url + "/")
    return redirect_verdict(answer.status_code, answer.headers.get("Location"), visitor.target.host)


def check_webhooks(visitor: Visitor, providers: tuple[str, ...]) -> Check:
    answers = {
        provider: visitor.request(
            "POST",
            visitor.target.url(f"/webhooks/{provider}"),
            data=b'{"id": "verify-production", "type": "unsigned"}',
            headers={"Content-Type": "application/json"},
        ).status_code
        for provider in providers
    }
    return webhook_verdict(answers)


def check_static(visitor: Visitor) -> Check:
    asset = visitor.linked_asset()
    if asset is None:
        return static_verdict(None, None, "")
    answer = visitor.get(asset)
    return static_verdict(asset, answer.status_code, answer.headers.get("Cache-Control", ""))


def check_headers(visitor: Visitor) -> Check:
    pages = {"/": visitor.get("/").headers}
    asset = visitor.linked_asset()
    if asset is not None:
        pages[asset] = visitor.get(asset).headers
    return headers_verdict(pages)


def check_metrics(visitor: Visitor) -> Check:
    return metrics_verdict(visitor.get("/metrics").status_code)


def run_checks(
    target: Target, providers: tuple[str, ...] = PROVIDERS, now: datetime | None = None
) -> list[Check]:
    """Every check, in the order the table shows them."""
    visitor = Visitor(target)
    now = now or clock.utcnow()
    return [
        _guarded("health", lambda: check_health(visitor)),
        _guarded("tls", lambda: check_tls(target, now)),
        _guarded("https-redirect", lambda: check_redirect(visitor)),
        _guarded("security-headers", lambda: check_headers(visitor)),
        _guarded("webhooks", lambda: check_webhooks(visitor, providers)),
        _guarded("static-caching", lambda: check_static(visitor)),
        _guarded("metrics", lambda: check_metrics(visitor)),
    ]
