"""What observability costs per request: the same pages answered in this process (Flask's test
client, no network) without app/observability.py's hooks, with them but no access line, and
with both as production runs them (JSON lines written, counters in multiprocess files).

    .venv/bin/python -m bench.request_overhead [--requests 2000] [--rounds 7]

The three are measured in turn, round after round, in CPU time of this process (a busy machine
moves wall-clock times more than the difference); each figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time

PAGES = ("/health/live", "/cart")
VARIANTS = ("without", "hooks", "hooks + access line")


def _app(database_url: str):
    from app import create_app, observability

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "x" * 40,
            "RATE_LIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "REDIS_URL": None,
        }
    )
    hooks = (
        (app.before_request_funcs[None], observability._begin),
        (app.after_request_funcs[None], observability._finish),
        (app.teardown_request_funcs[None], observability._end),
    )
    return app, hooks


def _set(variant: str, hooks, sink) -> None:
    from app import logs

    for funcs, hook in hooks:
        if variant == "without" and hook in funcs:
            funcs.remove(hook)
        elif variant != "without" and hook not in funcs:
            funcs.append(hook)
    if variant == "hooks + access line":
        logs.configure("json", "INFO", stream=sink)
    else:
        logging.getLogger().setLevel(logging.WARNING)


def _cpu_us(client, page: str, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        client.get(page)
    return (time.process_time() - started) / n * 1e6


def measure(page: str, n: int, rounds: int, sink, work: str) -> dict[str, float]:
    from app import migrate

    url = f"sqlite:///{work}/{page.strip('/').replace('/', '-')}.db"
    migrate.upgrade(url)
    app, hooks = _app(url)
    client = app.test_client()
    _cpu_us(client, page, 300)  # warm up
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            _set(variant, hooks, sink)
            times[variant].append(_cpu_us(client, page, n))
    return {v: statistics.median(t) for v, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="holdfast-overhead-")
    # Before prometheus_client is imported: counters in files, as under gunicorn.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = work
    with open(os.devnull, "w") as sink:
        for page in PAGES:
            result = measure(page, args.requests, args.rounds, sink, work)
            base = result["without"]
            print(
                f"{page:13} "
                + "  ".join(f"{v} {us:6.1f} µs ({us - base:+5.1f})" for v, us in result.items())
            )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
