"""RQ worker entry point: ``python worker.py`` (``make worker``).

Works the queues of ``app/jobs.py`` on ``REDIS_URL`` with RQ's scheduler (which runs
``enqueue_in``/``enqueue_at`` and retries). The periodic schedule is a separate, single process:
``rq cron cron_config --url $REDIS_URL``. Without ``REDIS_URL`` there is nothing to work: jobs
are not needed (expired holds stop counting at their deadline; ``flask stock cleanup`` sweeps).

It recovers by itself:

- **Redis goes away**: RQ retries while it waits for work; if the worker stops anyway, this
  loop starts a new one, with backoff, until Redis answers again (and the supervisor — systemd
  in production — restarts the process if it dies: docs/RELIABILITY.md).
- **A worker was killed** (``kill -9``, a crash, a reboot): its scheduler lock stays in Redis
  for a minute, and RQ only tries again at its maintenance, so retries and delayed jobs would
  wait. A new worker on the same machine frees a lock whose holder process is gone and takes it
  at once; maintenance runs every ``--maintenance-seconds`` (30) for locks held elsewhere.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import time

log = logging.getLogger("holdfast.worker")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def free_dead_scheduler_locks(connection, queue_names) -> list[str]:
    """Delete scheduler locks held by a scheduler process of this machine that no longer runs
    (only if the lock still names it). Returns the queues freed."""
    from rq.scheduler import RQScheduler

    freed = []
    for name in queue_names:
        key = RQScheduler.get_locking_key(name)
        holder = connection.get(key)
        if not holder:
            continue
        meta = connection.hgetall(f"rq:scheduler:{holder.decode()}")
        host = (meta.get(b"hostname") or b"").decode()
        pid = int(meta.get(b"pid") or 0)
        if meta and (host != socket.gethostname() or not pid or process_alive(pid)):
            continue
        with connection.pipeline() as pipe:  # delete only if it is still that holder's
            try:
                pipe.watch(key)
                if pipe.get(key) == holder:
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
                    freed.append(name)
            finally:
                pipe.reset()
    return freed


def one_metrics_file_for_jobs() -> None:
    """With ``PROMETHEUS_MULTIPROC_DIR`` (shared with gunicorn: gunicorn.conf.py), the jobs'
    counts reach ``/metrics``. RQ runs each job in a fork of this process, one at a time; each
    fork would leave a metrics file of its own (thousands a day, all read at every scrape).
    Instead this worker's jobs take turns on one file, ``*_rq<pid>-jobs.db``: each job's fork
    has another identity than this process, so it reads the file afresh before adding to it."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import values

    parent = os.getpid()

    def identity() -> str:
        return f"rq{parent}" if os.getpid() == parent else f"rq{parent}-jobs"

    values.ValueClass = values.MultiProcessValue(identity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="Quit when the queues are empty.")
    parser.add_argument(
        "--maintenance-seconds",
        type=int,
        default=30,
        help="How often to clean registries and try for the scheduler lock.",
    )
    args = parser.parse_args(argv)
    one_metrics_file_for_jobs()  # before anything imports app.metrics

    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, Worker

    from app import create_app
    from app.queue import QUEUES

    app = create_app()
    url = app.config["REDIS_URL"]
    app.extensions["holdfast.db"].dispose()  # each job builds its own app on the shared engine
    if not url:
        print("REDIS_URL is not set: there is no queue to work.", file=sys.stderr)
        return 2
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True) or sys.exit(0))
    wait = 1.0
    while not stopping:
        try:
            connection = Redis.from_url(url, health_check_interval=30)
            queues = [Queue(name, connection=connection) for name in QUEUES]
            freed = free_dead_scheduler_locks(connection, QUEUES)
            if freed:
                log.info("took over the scheduler lock of a dead worker for %s", freed)
            worker = Worker(
                queues, connection=connection, maintenance_interval=args.maintenance_seconds
            )
            worker.work(with_scheduler=True, burst=args.burst)
            # A warm shut-down (SIGTERM: systemd stopping it) ends the loop too, whether it
            # came mid-job (_stop_requested) or while waiting for one.
            if args.burst or worker._stop_requested or worker._shutdown_requested_date:
                return 0
            wait = 1.0
        except RedisError as exc:
            log.warning(
                "Redis is unreachable (%s); starting again in %.0f s", type(exc).__name__, wait
            )
            time.sleep(wait)
            wait = min(wait * 2, 30.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
