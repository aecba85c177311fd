"""A flash sale on the real stack: B buyers race through HTTP for S units of one variant.

    .venv/bin/python bench/flash_sale.py                       # 1,000 buyers, 100 units
    .venv/bin/python bench/flash_sale.py --buyers 200 --stock 20 --workers 4 --threads 4
    .venv/bin/python bench/flash_sale.py --database sqlite --no-redis
    .venv/bin/python bench/flash_sale.py --stock 300 --code FIRST100 --code-uses 100

With ``--code``, a limited discount code (10 % off, ``--code-uses`` uses; a code the demo
already has, such as FIRST100, is raced as it is) is made first and
every buyer applies it on the review page before paying; a buyer told it is used up pays full
price. The report adds how often it was applied and refused, its ``uses`` and the orders priced
with it: a "first 100 buyers" code must be used exactly 100 times.

It starts the stack (``bench/stack.py``: gunicorn with production settings, Postgres, Redis and
an RQ worker), sets the variant to S units, and sends every buyer at once through the flow a
browser takes: the product page, add to cart, the checkout form, place the order, pay with
testpay (its approval page, Approve), the return from the provider, and the "Confirming your
payment" page polled until the order shows. testpay's webhook is delivered by the RQ worker (a
thread without Redis), so the return and the webhook race each other as in production.

It prints one JSON object: orders, units sold, oversold, refused with a message, 5xx, paid
without an order, p50/p99 per step, buyers per second; then runs ``flask holdfast verify``.
Figures are kept in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.stack import DEFAULT_PG, Stack, set_stock

SKU = "BEANIE-GREY"
PRODUCT_SLUG = "ribbed-knit-beanie"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
POLL_SECONDS = 2.0  # what the settling page's hx-trigger asks of a browser
REFUSAL_WORDS = ("sold out", "left", "try again", "no longer")


def _token(html: str) -> str | None:
    match = CSRF.search(html)
    return (match.group(1) or match.group(2)) if match else None


@dataclass
class Tally:
    """What the buyers saw. ``timings[step]`` are seconds per request."""

    outcomes: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[str] = field(default_factory=list)
    refusals: Counter = field(default_factory=Counter)
    code: Counter = field(default_factory=Counter)  # applied / used_up


class Buyer:
    def __init__(
        self, base: str, variant_id: int, n: int, tally: Tally, timeout: float, code: str = ""
    ) -> None:
        self.code = code
        self.base = base
        self.variant_id = variant_id
        self.n = n
        self.tally = tally
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def request(
        self, http: aiohttp.ClientSession, step: str, method: str, url: str, **kwargs: Any
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        started = time.perf_counter()
        async with http.request(
            method,
            url if url.startswith("http") else self.base + url,
            allow_redirects=False,
            **kwargs,
        ) as response:
            body = await response.text()
        self.tally.timings[step].append(time.perf_counter() - started)
        self.tally.statuses[response.status] += 1
        if response.status >= 500:
            self.tally.server_errors.append(f"{step} {response.status}: {body[:200]!r}")
        return response.status, body, response

    async def follow(self, http, step: str, response: aiohttp.ClientResponse):
        location = response.headers.get("Location", "")
        return await self.request(http, step, "GET", location)

    async def run(self) -> str:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=self.timeout) as http:
            try:
                return await self._shop(http)
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.tally.server_errors.append(f"buyer {self.n}: {type(exc).__name__}: {exc}")
                return "gave_up"

    def _refused(self, step: str, status: int, body: str) -> str:
        if 400 <= status < 500 and any(word in body.lower() for word in REFUSAL_WORDS):
            self.tally.refusals[step] += 1
            return "refused"
        return "error" if status >= 500 else f"unexpected_{step}_{status}"

    async def _shop(self, http: aiohttp.ClientSession) -> str:
        status, body, _ = await self.request(
            http, "product_page", "GET", f"/products/{PRODUCT_SLUG}?variant={self.variant_id}"
        )
        if status != 200:
            return self._refused("product_page", status, body)
        # A first visit gets the public page, without a token: like a browser, the add says
        # where it comes from (app/page_cache.py); a token, when the page had one, goes too.
        form = {"variant_id": str(self.variant_id), "quantity": "1"}
        if token := _token(body):
            form["csrf_token"] = token
        status, body, _ = await self.request(
            http,
            "cart_add",
            "POST",
            "/cart/add",
            headers={"HX-Request": "true", "Sec-Fetch-Site": "same-origin", "Origin": self.base},
            data=form,
        )
        if status != 200:
            return self._refused("cart_add", status, body)
        status, body, _ = await self.request(http, "checkout_form", "GET", "/checkout")
        if status != 200:
            return self._refused("checkout_form", status, body)
        token = _token(body)
        status, body, response = await self.request(
            http,
            "place_order",
            "POST",
            "/checkout",
            data={
                "csrf_token": token,
                "email": f"buyer{self.n}@example.com",
                "full_name": f"Buyer {self.n}",
                "address_line1": f"{self.n} Harbour Road",
                "city": "Portsmouth",
                "postal_code": "PO1 2AB",
                "country": "GB",
            },
        )
        if status != 303:
            return self._refused("place_order", status, body)
        status, body, _ = await self.follow(http, "review_page", response)
        if status != 200:
            return self._refused("review_page", status, body)
        if self.code:
            status, body = await self._apply_code(http, body)
            if status not in (200, 409):
                return self._refused("discount", status, body)
        pay_url = re.search(r'action="([^"]+/pay)"', body)
        if pay_url is None:
            return self._refused("review_page", status, body)
        status, body, response = await self.request(
            http,
            "pay",
            "POST",
            pay_url.group(1),
            data={"csrf_token": _token(body), "payment_provider": "testpay"},
        )
        if status != 303:
            return self._refused("pay", status, body)
        status, body, _ = await self.follow(http, "provider_page", response)
        approve = re.search(r'action="([^"]+/approve)"', body)
        if status != 200 or approve is None:
            return self._refused("provider_page", status, body)
        status, body, response = await self.request(
            http, "approve", "POST", approve.group(1), data={"csrf_token": _token(body)}
        )
        if status != 303:
            return self._refused("approve", status, body)
        status, body, response = await self.follow(http, "return", response)
        return await self._settle(http, status, body, response)

    async def _apply_code(self, http, review: str) -> tuple[int, str]:
        """Apply the sale's code on the review page: the page again with the discount, or
        with "used up" (409) and the full price."""
        action = re.search(r'action="([^"]+/discount)"', review)
        if action is None:
            return 0, review
        status, body, response = await self.request(
            http,
            "discount",
            "POST",
            action.group(1),
            data={"csrf_token": _token(review), "code": self.code},
        )
        if status == 303:
            self.tally.code["applied"] += 1
            status, body, _ = await self.follow(http, "review_page", response)
        elif status == 409 and "used up" in body:
            self.tally.code["used_up"] += 1
        return status, body

    async def _settle(self, http, status: int, body: str, response) -> str:
        """Follow the return like a browser: to the order page, or poll the settling page."""
        deadline = time.monotonic() + 60
        while True:
            if status == 303 and "/orders/" in response.headers.get("Location", ""):
                status, body, _ = await self.follow(http, "order_page", response)
                return "ordered" if status == 200 and "HF-" in body else f"order_page_{status}"
            redirect = response.headers.get("HX-Redirect")
            if redirect:
                status, body, _ = await self.request(http, "order_page", "GET", redirect)
                return "ordered" if status == 200 else f"order_page_{status}"
            if status != 200 or "Confirming your payment" not in body:
                return self._refused("return", status, body)
            if time.monotonic() > deadline:
                return "never_confirmed"
            await asyncio.sleep(POLL_SECONDS)
            poll = re.search(r'hx-get="([^"]+/status)"', body)
            if poll is None:
                return self._refused("return", status, body)
            status, body, response = await self.request(
                http, "status_poll", "GET", poll.group(1), headers={"HX-Request": "true"}
            )


async def race(
    base_url: str | list[str], variant_id: int, buyers: int, timeout: float = 120, code: str = ""
) -> Tally:
    """Every buyer at once; with several base URLs (app servers), buyers take turns."""
    tally = Tally()
    bases = [base_url] if isinstance(base_url, str) else base_url
    crowd = [
        Buyer(bases[n % len(bases)], variant_id, n, tally, timeout, code) for n in range(buyers)
    ]
    results = await asyncio.gather(*(buyer.run() for buyer in crowd))
    tally.outcomes.update(results)
    return tally


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def _sale_facts(session, variant_id: int) -> dict[str, int]:
    """From the rows: orders, units sold from this variant, captured testpay payments that
    have no live order and no full refund."""
    from sqlalchemy import func, select

    from app.models import Order, OrderLine, OrderStatus, Payment, TestpayPayment

    live = (OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT)
    orders = session.scalar(select(func.count(Order.id)).where(Order.status.not_in(live)))
    sold = session.scalar(
        select(func.coalesce(func.sum(OrderLine.quantity), 0))
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.variant_id == variant_id, Order.status.not_in(live))
    )
    captured = session.execute(
        select(
            TestpayPayment.ref, TestpayPayment.captured_cents, TestpayPayment.refunded_cents
        ).where(TestpayPayment.captured_cents > 0)
    ).all()
    with_order = set(
        session.scalars(
            select(Payment.provider_ref)
            .join(Order, Order.id == Payment.order_id)
            .where(Payment.provider == "testpay", Order.status.not_in(live))
        )
    )
    orphans = sum(1 for ref, cap, refunded in captured if ref not in with_order and refunded < cap)
    return {
        "orders": int(orders),
        "units_sold": int(sold),
        "paid_without_order": orphans,
        "captured_payments": len(captured),
    }


def report(
    tally: Tally,
    facts: dict[str, int],
    stock: int,
    buyers: int,
    seconds: float,
    verify: tuple[int, str],
) -> dict[str, Any]:
    steps = {
        step: {
            "n": len(values),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(_percentile(values, 99) * 1000, 1),
        }
        for step, values in tally.timings.items()
    }
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    return {
        "buyers": buyers,
        "stock": stock,
        "orders": facts["orders"],
        "units_sold": facts["units_sold"],
        "oversold": max(0, facts["units_sold"] - stock),
        "refused_with_message": tally.outcomes.get("refused", 0),
        "refused_at": dict(tally.refusals),
        "outcomes": dict(tally.outcomes),
        "http_5xx": server_errors,
        "paid_without_order": facts["paid_without_order"],
        "seconds": round(seconds, 2),
        "buyers_per_second": round(buyers / seconds, 1) if seconds else None,
        "requests": sum(tally.statuses.values()),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "steps": steps,
        "verify": {"exit_code": verify[0], "output": verify[1].strip()[-2000:]},
        "first_errors": tally.server_errors[:5],
    }


def _cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time so far of the stack's processes (with their children), of every Postgres
    process on this machine, and of this process (the load generator). Linux only."""
    tick = os.sysconf("SC_CLK_TCK")
    usage: dict[str, float] = {}
    parents: dict[int, int] = {}
    own: dict[int, float] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, _, tail = f.read().rpartition(")")
        except OSError:
            continue
        fields = tail.split()
        pid = int(entry)
        parents[pid] = int(fields[1])
        own[pid] = (int(fields[11]) + int(fields[12])) / tick
        names[pid] = head.partition("(")[2]
    roots = {proc.pid: name for name, proc in stack.processes}
    for pid in own:
        ancestor, hops = pid, 0
        while ancestor not in roots and ancestor in parents and hops < 10:
            ancestor, hops = parents[ancestor], hops + 1
        if ancestor in roots:
            key = "app_servers" if roots[ancestor] == "gunicorn" else "rq_workers"
            usage[key] = usage.get(key, 0.0) + own[pid]
        elif names[pid].startswith("postgres"):
            usage["postgres"] = usage.get("postgres", 0.0) + own[pid]
    times = os.times()
    usage["load_generator"] = times.user + times.system
    return usage


def _make_code(session, code: str, uses: int) -> None:
    """The sale's code, 10 % off with ``uses`` uses; one the shop already has (the demo's
    FIRST100) is raced as it is."""
    from sqlalchemy import select

    from app.models import DiscountCode
    from app.services.discounts import codes

    if session.scalar(select(DiscountCode.id).where(DiscountCode.code == code)) is None:
        codes.create_code(session, code, value=1000, usage_limit=uses, actor="bench")


def _code_facts(session, code: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from app.models import DiscountCode, Order

    row = session.scalar(select(DiscountCode).where(DiscountCode.code == code))
    priced = session.scalar(
        select(func.count(Order.id)).where(Order.discount_code == code, Order.paid_at.is_not(None))
    )
    return {"code": code, "limit": row.usage_limit, "uses": row.uses, "paid_orders": int(priced)}


def run_flash_sale(
    stack: Stack,
    *,
    buyers: int,
    stock: int,
    timeout: float = 120,
    code: str = "",
    code_uses: int = 100,
) -> dict:
    """Set the variant to ``stock`` units, race ``buyers`` at it, and report (stack started)."""
    variant_id = stack.run_in_app(set_stock, SKU, stock)
    if code:
        stack.run_in_app(_make_code, code, code_uses)
    cpu_before = _cpu_seconds(stack)
    started = time.perf_counter()
    tally = asyncio.run(race(stack.base_url, variant_id, buyers, timeout, code))
    seconds = time.perf_counter() - started
    stack.wait_for_queue()
    cpu_after = _cpu_seconds(stack)
    facts = stack.run_in_app(_sale_facts, variant_id)
    verify = stack.flask("holdfast", "verify")
    result = report(
        tally, facts, stock, buyers, seconds, (verify.returncode, verify.stdout + verify.stderr)
    )
    result["cpu_seconds"] = {
        k: round(v - cpu_before.get(k, 0.0), 2) for k, v in sorted(cpu_after.items())
    }
    if code:
        result["discount"] = {**stack.run_in_app(_code_facts, code), **tally.code}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG),
        help="a Postgres server to create the sale's database on",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    )
    parser.add_argument("--no-redis", action="store_true", help="no Redis, no RQ worker")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument("--code", default="", help="a limited discount code every buyer applies")
    parser.add_argument("--code-uses", type=int, default=100, help="the code's usage limit")
    args = parser.parse_args(argv)

    stack = Stack(
        database=args.database,
        workers=args.workers,
        threads=args.threads,
        redis_url=None if args.no_redis else args.redis_url,
        pg_base_url=args.pg_url,
        keep=args.keep,
    )
    with stack:
        result = run_flash_sale(
            stack,
            buyers=args.buyers,
            stock=args.stock,
            code=args.code.upper(),
            code_uses=args.code_uses,
        )
        result["stack"] = {
            "database": args.database,
            "workers": args.workers,
            "threads": args.threads,
            "redis": not args.no_redis,
            "cpus": os.cpu_count(),
        }
        if args.keep:
            result["stack"]["dir"] = str(stack.dir)
    print(json.dumps(result, indent=2))
    ok = (
        result["http_5xx"] == 0
        and result["oversold"] == 0
        and result["paid_without_order"] == 0
        and result["verify"]["exit_code"] == 0
    )
    if "discount" in result:
        used = result["discount"]
        ok = ok and used["uses"] == used["paid_orders"] <= used["limit"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
