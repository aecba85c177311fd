"""Holds per second on one hot variant, and the time to sweep expired holds (Postgres).

    .venv/bin/python bench/holds.py --url postgresql://postgres@127.0.0.1:5432/bench

The database named by ``--url`` is wiped and migrated first: never point it at real data.

For 1, 8 and 32 concurrent workers (processes, so Python's GIL is not the bottleneck) the bench
runs, for ``--seconds`` each:

- ``service``: ``holds.take_hold`` as the app calls it, one session per hold;
- ``ceiling``: the same transaction in plain psycopg, no ORM (BEGIN; lock the variant row
  ``FOR UPDATE``; sum its live holds; insert the hold; COMMIT) — the raw ceiling;
- ``conditional``: an alternative in plain psycopg with one round trip fewer (BEGIN; lock the
  row; ``INSERT … SELECT … WHERE on_hand - live holds >= qty``; COMMIT). The lock must come
  from an earlier statement: in READ COMMITTED a single ``WITH … FOR UPDATE`` statement would
  read the holds from a snapshot taken before it waited for the lock, and oversell.

Every hold asks for one unit of a variant with a billion on hand and a 2-second TTL, so the
set of live holds (which each hold must sum) stays the size a busy shop's hot variant would
have rather than growing through the run. Then it sweeps ``--sweep`` expired holds with
``sweeper.sweep_expired_holds`` and reports the time. After each part, ``verify`` must pass.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TTL_SECONDS = 2
WARMUP = 20

LOCK = "SELECT on_hand FROM variants WHERE id = %s FOR UPDATE"
HELD = (
    "SELECT COALESCE(SUM(quantity - backorder_quantity), 0) FROM reservations "
    "WHERE variant_id = %s AND state = 'active' AND expires_at > %s"
)
INSERT = (
    "INSERT INTO reservations (hold_ref, variant_id, quantity, backorder_quantity, state, "
    "created_at, expires_at, extensions) VALUES (%s, %s, 1, 0, 'active', %s, %s, 0)"
)
CONDITIONAL_INSERT = (
    "INSERT INTO reservations (hold_ref, variant_id, quantity, backorder_quantity, state, "
    "created_at, expires_at, extensions) "
    "SELECT %(ref)s, v.id, 1, 0, 'active', %(now)s, %(expires)s, 0 FROM variants v "
    "WHERE v.id = %(vid)s AND v.on_hand - (SELECT COALESCE(SUM(quantity - backorder_quantity), 0) "
    "FROM reservations WHERE variant_id = %(vid)s AND state = 'active' "
    "AND expires_at > %(now)s) >= 1"
)


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


# ---------------------------------------------------------------- one hold, three ways


def _service_hold(url: str, variant_id: int):
    from app.db import Database
    from app.services.stock import holds

    database = Database(url)

    def hold() -> None:
        session = database.session_factory()
        try:
            holds.take_hold(session, {variant_id: 1}, ttl_minutes=TTL_SECONDS / 60)
        finally:
            session.close()

    return hold


def _ceiling_hold(url: str, variant_id: int):
    import psycopg

    conn = psycopg.connect(plain_url(url), autocommit=True)

    def hold() -> None:
        with conn.transaction():
            (on_hand,) = conn.execute(LOCK, (variant_id,)).fetchone()
            now = datetime.now(UTC)
            (held,) = conn.execute(HELD, (variant_id, now)).fetchone()
            if on_hand - held < 1:
                raise RuntimeError("out of stock")
            expires = now + timedelta(seconds=TTL_SECONDS)
            conn.execute(INSERT, (secrets.token_hex(16), variant_id, now, expires))

    return hold


def _conditional_hold(url: str, variant_id: int):
    import psycopg

    conn = psycopg.connect(plain_url(url), autocommit=True)

    def hold() -> None:
        with conn.transaction():
            conn.execute(LOCK, (variant_id,))
            now = datetime.now(UTC)
            params = {
                "ref": secrets.token_hex(16),
                "vid": variant_id,
                "now": now,
                "expires": now + timedelta(seconds=TTL_SECONDS),
            }
            if conn.execute(CONDITIONAL_INSERT, params).rowcount != 1:
                raise RuntimeError("out of stock")

    return hold


HOLDERS = {"service": _service_hold, "ceiling": _ceiling_hold, "conditional": _conditional_hold}


def _worker(kind, url, variant_id, seconds, barrier, results) -> None:
    hold = HOLDERS[kind](url, variant_id)
    for _ in range(WARMUP):
        hold()
    barrier.wait()
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        hold()
        count += 1
    results.put(count)


def measure(kind: str, url: str, variant_id: int, workers: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, url, variant_id, seconds, barrier, results))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    total = sum(results.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"{kind} worker failed")
    return total / seconds


# ---------------------------------------------------------------- set-up and checks


def reset_database(url: str) -> int:
    """Wipe and migrate the database; create one hot variant with a billion units."""
    from sqlalchemy import create_engine, text

    from app import migrate
    from app.db import Database
    from app.models import Category, Product, Variant
    from app.services.stock import inventory

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(url)
    database = Database(url)
    session = database.session_factory()
    category = Category(slug="bench", name="Bench")
    product = Product(slug="hot", name="Hot item", category=category)
    variant = Variant(product=product, sku="HOT-1", price_cents=1000)
    session.add_all([category, product, variant])
    session.commit()
    inventory.receive_stock(session, variant.id, 1_000_000_000, reference="bench")
    variant_id = variant.id
    session.close()
    database.dispose()
    return variant_id


def clear_holds(url: str) -> None:
    import psycopg

    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        conn.execute("TRUNCATE reservations, sweep_runs RESTART IDENTITY")
        conn.execute("VACUUM ANALYZE reservations")


def check_invariants(url: str) -> None:
    from app.db import Database
    from app.services.checks import invariants as verify

    database = Database(url)
    session = database.session_factory()
    violations = verify.check_all(session)
    session.close()
    database.dispose()
    if violations:
        raise SystemExit("invariants broken:\n" + "\n".join(violations))


def bench_sweep(url: str, variant_id: int, count: int, batch_size: int) -> tuple[float, int]:
    import psycopg

    from app.db import Database
    from app.services.stock import sweeper

    clear_holds(url)
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO reservations (hold_ref, variant_id, quantity, backorder_quantity, "
            "state, created_at, expires_at, extensions) "
            "SELECT md5(g::text), %s, 1, 0, 'active', now() - interval '20 minutes', "
            "now() - interval '5 minutes' + g * interval '1 millisecond', 0 "
            "FROM generate_series(1, %s) AS g",
            (variant_id, count),
        )
        conn.execute("VACUUM ANALYZE reservations")
    database = Database(url)
    session = database.session_factory()
    started = time.perf_counter()
    result = sweeper.sweep_expired_holds(session, batch_size=batch_size, trigger="bench")
    elapsed = time.perf_counter() - started
    session.close()
    database.dispose()
    if result.expired != count:
        raise SystemExit(f"swept {result.expired} of {count}")
    return elapsed, result.batches


def machine() -> str:
    import psycopg

    cores = os.cpu_count()
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{platform.machine()}, {cores} cores{mem}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, psycopg {psycopg.__version__}"
    )


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(plain_url(url)) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL"), required=False)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3, help="Median of this many runs.")
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--kinds", default="ceiling,conditional,service")
    parser.add_argument("--sweep", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    if not args.url or not args.url.startswith("postgres"):
        parser.error("--url must name a Postgres database the bench may wipe")
    from app.config import normalize_database_url

    url = normalize_database_url(args.url)
    variant_id = reset_database(url)
    print(f"machine: {machine()}; Postgres {server_version(url)}")
    print(
        f"median of {args.repeat} runs of {args.seconds:g} s; one hot variant; "
        f"TTL {TTL_SECONDS} s\n"
    )
    kinds = args.kinds.split(",")
    print("| workers | " + " | ".join(f"{k} holds/s" for k in kinds) + " | service / ceiling |")
    print("|---:|" + "---:|" * len(kinds) + "---:|")
    for workers in [int(w) for w in args.workers.split(",")]:
        samples: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):  # interleaved, so background load hits every kind alike
            for kind in kinds:
                clear_holds(url)
                samples[kind].append(measure(kind, url, variant_id, workers, args.seconds))
                check_invariants(url)
        rates = {kind: statistics.median(values) for kind, values in samples.items()}
        ratio = (
            f"{rates['service'] / rates['ceiling']:.0%}"
            if "service" in rates and "ceiling" in rates
            else "-"
        )
        cells = " | ".join(f"{rates[k]:,.0f}" for k in kinds)
        print(f"| {workers} | {cells} | {ratio} |", flush=True)
    if args.sweep:
        elapsed, batches = bench_sweep(url, variant_id, args.sweep, args.batch_size)
        check_invariants(url)
        print(
            f"\nsweep: {args.sweep:,} expired holds in {elapsed:.2f} s "
            f"({batches} batches of {args.batch_size})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
