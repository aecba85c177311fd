"""``GET /metrics``: the Prometheus text exposition (``app.metrics``), for the monitoring
system only.

Answered to a client whose address (as ``ProxyFix`` gives it, so the shopper's behind nginx) is
in ``METRICS_ALLOW`` (default: loopback), or that sends ``Authorization: Bearer
<METRICS_TOKEN>`` when that is set; everyone else gets the shop's 404 page, as if there were
nothing here. With ``TRUSTED_PROXIES=0`` a request that came through a proxy (it carries
``X-Forwarded-For``) is refused by address too: behind an untrusted proxy every address would
look like the proxy's own.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from functools import lru_cache

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from app import metrics
from app.db import get_session
from app.error_pages import database_is_down

bp = Blueprint("metrics", __name__)
log = logging.getLogger("holdfast.metrics")


@bp.get("/metrics")
def scrape():
    if not allowed():
        abort(404)
    body = metrics.exposition(_outbox_backlog())
    response = Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


def allowed() -> bool:
    config = current_app.config
    token = config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, f"Bearer {token}".encode()):
            return True
    if not config.get("TRUSTED_PROXIES") and "X-Forwarded-For" in request.headers:
        return False
    return address_in(request.remote_addr, tuple(config.get("METRICS_ALLOW") or ()))


@lru_cache(maxsize=16)
def _networks(allow: tuple[str, ...]):
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allow)


def address_in(address: str | None, allow: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(allow))


def _outbox_backlog() -> dict[str, int] | None:
    """The outbox's backlog, read now; left out (and logged) when the database cannot say."""
    if database_is_down():
        return None
    from app.services.admin.health import outbox_backlog

    try:
        return outbox_backlog(get_session())
    except Exception as exc:  # noqa: BLE001 - the counters are still worth serving
        log.warning("metrics: cannot read the outbox backlog: %s", type(exc).__name__)
        return None
