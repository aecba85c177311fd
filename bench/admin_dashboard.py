"""How long the admin dashboard and the order list take with a year of orders.

    .venv/bin/python bench/admin_dashboard.py --url postgresql://postgres@127.0.0.1:5432/bench_admin
    .venv/bin/python bench/admin_dashboard.py --url sqlite:////tmp/bench_admin.db

The database named by ``--url`` is wiped and migrated first: never point it at real data.

It writes a year of a busy small shop straight into the tables (``--orders`` orders spread over
365 days, each with its checkout, payment and two lines over 200 variants; a tenth of the
checkouts expired, some refunds, webhooks and emails), then signs an owner in and times
``GET /admin``, ``GET /admin/orders`` and ``GET /admin/orders?q=...`` through the app (Flask's
test client: the view, its queries and the template; no network), ``--runs`` times each after
one warm-up, and prints the median and the slowest. The issue's aim: the dashboard in under
300 ms.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADDRESS = {
    "email": "",
    "full_name": "Bench Buyer",
    "address_line1": "1 Bench Street",
    "city": "Testville",
    "postal_code": "12345",
    "country": "US",
}


def fresh_database(url: str) -> str:
    from sqlalchemy import create_engine, text

    from app import migrate
    from app.config import normalize_database_url

    url = normalize_database_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)
    return url


def catalogue(conn, tables) -> list[tuple[int, str, int]]:
    conn.execute(tables["categories"].insert(), [{"id": 1, "slug": "all", "name": "All"}])
    conn.execute(
        tables["products"].insert(),
        [
            {
                "id": p,
                "slug": f"p-{p}",
                "name": f"Product {p}",
                "category_id": 1,
                "kind": "physical",
            }
            for p in range(1, 51)
        ],
    )
    variants = [(v, f"SKU-{v:04d}", 1000 + 50 * v) for v in range(1, 201)]
    conn.execute(
        tables["variants"].insert(),
        [
            {
                "id": v,
                "product_id": 1 + (v - 1) // 4,
                "sku": sku,
                "price_cents": price,
                "on_hand": random.randint(0, 40),
            }
            for v, sku, price in variants
        ],
    )
    return variants


def year_of_orders(conn, tables, variants, orders: int, now: datetime) -> None:
    rnd = random.Random(7)
    checkouts, order_rows, lines, payments = [], [], [], []
    for n in range(1, orders + 1):
        at = now - timedelta(seconds=rnd.randint(0, 365 * 86400))
        picked = rnd.sample(variants, 2)
        total = sum(price for _v, _s, price in picked)
        email = f"buyer{n % 3000}@example.com"
        checkouts.append(
            {
                "id": n,
                "public_id": secrets.token_hex(8),
                "owner_key": "bench",
                "state": "completed",
                "phase": "stock_commit",
                "currency": "USD",
                "total_cents": total,
                "expires_at": at,
                "created_at": at,
                "updated_at": at,
                "ended_at": at,
                "hold_started_at": at,
                **ADDRESS,
                "email": email,
            }
        )
        status = rnd.choices(["paid", "shipped", "fulfilled", "refunded"], [2, 10, 3, 1])[0]
        order_rows.append(
            {
                "id": n,
                "number": f"HF-B{n:06d}",
                "checkout_id": n,
                "status": status,
                "currency": "USD",
                "total_cents": total,
                "created_at": at,
                "paid_at": at,
                **ADDRESS,
                "email": email,
            }
        )
        for v, sku, price in picked:
            lines.append(
                {
                    "order_id": n,
                    "variant_id": v,
                    "sku": sku,
                    "name": sku,
                    "quantity": 1,
                    "unit_price_cents": price,
                    "quantity_fulfilled": 1,
                }
            )
        payments.append(
            {
                "checkout_id": n,
                "order_id": n,
                "provider": "testpay",
                "provider_ref": f"tp-{n}",
                "status": "refunded" if status == "refunded" else "captured",
                "amount_cents": total,
                "currency": "USD",
                "captured_cents": total,
                "refunded_cents": total if status == "refunded" else 0,
                "created_at": at,
                "updated_at": at,
            }
        )
    for name, rows in (
        ("checkouts", checkouts),
        ("orders", order_rows),
        ("order_lines", lines),
        ("payments", payments),
    ):
        for start in range(0, len(rows), 5000):
            conn.execute(tables[name].insert(), rows[start : start + 5000])
    expired = [
        {**c, "id": orders + i + 1, "public_id": secrets.token_hex(8), "state": "expired"}
        for i, c in enumerate(checkouts[: orders // 10])
    ]
    conn.execute(tables["checkouts"].insert(), expired)


def seed(url: str, orders: int) -> None:
    from sqlalchemy import create_engine

    from app.models import Base

    engine = create_engine(url)
    tables = Base.metadata.tables
    random.seed(7)
    with engine.begin() as conn:
        variants = catalogue(conn, tables)
        year_of_orders(conn, tables, variants, orders, datetime.now(UTC))
    engine.dispose()


def timed(client, path: str, runs: int) -> tuple[float, float]:
    assert client.get(path).status_code == 200, path
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from app.models import Role
    from app.services.accounts import signin
    from tests.conftest import make_test_app

    url = fresh_database(args.url)
    started = time.perf_counter()
    seed(url, args.orders)
    print(f"seeded {args.orders:,} orders over 365 days in {time.perf_counter() - started:.1f} s")
    app = make_test_app(url, WTF_CSRF_ENABLED=False)
    session = app.extensions["holdfast.db"].session_factory()
    signin.register_user(session, "owner@example.com", "correct horse battery", role=Role.OWNER)
    session.close()
    client = app.test_client()
    client.post("/login", data={"email": "owner@example.com", "password": "correct horse battery"})
    backend = url.split(":", 1)[0]
    for path in (
        "/admin",
        "/admin/orders",
        "/admin/orders?q=buyer42%40",
        "/admin/orders?to_ship=1",
    ):
        median, worst = timed(client, path, args.runs)
        print(f"{backend:22} {path:32} median {median:7.1f} ms   slowest {worst:7.1f} ms")
    app.extensions["holdfast.db"].dispose()


if __name__ == "__main__":
    main()
