"""RQ worker entry point: ``python worker.py`` (``make worker``).

Works the queues of ``app/jobs.py`` on ``REDIS_URL`` with RQ's scheduler (which runs
``enqueue_in``/``enqueue_at`` and retries). The periodic schedule is a separate, single process:
``rq cron cron_config --url $REDIS_URL``. Without ``REDIS_URL`` there is nothing to work: jobs
are not needed (expired holds stop counting at their deadline; ``flask stock cleanup`` sweeps).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="Quit when the queues are empty.")
    args = parser.parse_args(argv)

    from redis import Redis
    from rq import Queue, Worker

    from app import create_app
    from app.jobs import QUEUES

    app = create_app()
    url = app.config["REDIS_URL"]
    app.extensions["holdfast.db"].dispose()  # each job builds its own app and engine
    if not url:
        print("REDIS_URL is not set: there is no queue to work.", file=sys.stderr)
        return 2
    connection = Redis.from_url(url)
    queues = [Queue(name, connection=connection) for name in QUEUES]
    worker = Worker(queues, connection=connection)
    worker.work(with_scheduler=True, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
