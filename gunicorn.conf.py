"""Gunicorn's settings for Holdfast: ``gunicorn -c gunicorn.conf.py wsgi:app`` in production.

Gunicorn also reads this file by itself when started from the repository without ``-c`` (as
bench/stack.py's stack is); flags on the command line win over it.

Environment (all optional):

``HOLDFAST_BIND``
    Where to listen, default ``127.0.0.1:8000`` (several: comma-separated; ``unix:/path``).
    Under systemd socket activation (``LISTEN_FDS``, holdfast-web.socket) gunicorn takes the
    sockets systemd passes and this is not used.
``WEB_CONCURRENCY``
    Worker processes, default 2 × cores + 1, at most 8 (each holds up to
    ``DB_POOL_SIZE + DB_MAX_OVERFLOW`` database connections: docs/CONFIGURATION.md).
``HOLDFAST_THREADS``
    Threads per worker (gthread), default 4: one request each, at ``DB_POOL_SIZE``'s default.
``HOLDFAST_TIMEOUT``
    Seconds a worker may go silent before it is killed and replaced, default 30 (no page takes
    that long: database statements stop at 15 s, provider calls sooner).
``HOLDFAST_GRACEFUL_TIMEOUT``
    Seconds a stop or restart (SIGTERM, SIGHUP, a deploy) waits for the requests in flight to
    finish before their workers are killed, default 30.
``HOLDFAST_KEEPALIVE``
    Seconds an idle keep-alive connection from nginx stays open, default 5.
``HOLDFAST_ACCESS_LOG``
    Off by default: the app writes one access line per request itself, with its request id
    and endpoint (app/observability.py). ``-`` adds gunicorn's own access line (stdout, JSON
    with the ``X-Request-ID`` it answered), e.g. to see requests the app never received.
``LOG_FORMAT``, ``LOG_LEVEL``
    As for the app (json in staging and production): gunicorn's own lines (workers booting,
    timeouts) come out in the same format as the app's.
``PROMETHEUS_MULTIPROC_DIR``
    Where every worker writes its metrics so that ``/metrics`` adds them up (app/metrics.py).
    Unset: a fresh directory is made for each start of gunicorn and removed when it stops —
    right for the web processes alone. Set it (to a directory only this shop's user writes,
    e.g. ``/run/holdfast/metrics``) for both gunicorn and the RQ worker to have the jobs'
    counts (sweeps, webhooks processed, checkouts expired) in ``/metrics`` too. At each start
    gunicorn removes the files of processes that no longer run (a counter reset, which
    Prometheus expects at a restart) and keeps those of a running RQ worker.

Fixed here: ``forwarded_allow_ips`` trusts no peer, so gunicorn itself never rewrites the
scheme from forwarded headers; the app's ``ProxyFix`` does, for ``TRUSTED_PROXIES`` proxies
(app/config.py). The app is loaded in each worker after the fork (no ``preload_app``): every
worker has its own database engine and its own metrics file. Gunicorn's heartbeat files go to
``/dev/shm`` when it exists, so a slow disk cannot make a healthy worker look stuck.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gunicorn.glogging import Logger  # noqa: E402

from app.config import log_settings  # noqa: E402
from app.logs import formatter  # noqa: E402
from worker import process_alive  # noqa: E402


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [b.strip() for b in os.environ.get("HOLDFAST_BIND", "127.0.0.1:8000").split(",") if b]
workers = _int("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, 8))
worker_class = "gthread"
threads = _int("HOLDFAST_THREADS", 4)
timeout = _int("HOLDFAST_TIMEOUT", 30)
graceful_timeout = _int("HOLDFAST_GRACEFUL_TIMEOUT", 30)
keepalive = _int("HOLDFAST_KEEPALIVE", 5)
forwarded_allow_ips = ""
preload_app = False
proc_name = "holdfast"
SHM = "/dev/shm"  # noqa: S108 - gunicorn makes its heartbeat files there with mkstemp
if Path(SHM).is_dir():
    worker_tmp_dir = SHM

# ---------------------------------------------------------------- logs

LOG_FORMAT, LOG_LEVEL = log_settings(os.environ)
loglevel = LOG_LEVEL.lower()
errorlog = "-"
accesslog = os.environ.get("HOLDFAST_ACCESS_LOG") or None
access_log_format = (
    '{"message": "%(m)s %(U)s %(s)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": "%(B)s", "ms": %(M)s, "request_id": "%({x-request-id}o)s", '
    '"user_agent": "%(a)s"}'
)


class HoldfastLogger(Logger):
    """Gunicorn's logger, its lines in the app's format (app/logs.py)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter(LOG_FORMAT))


logger_class = HoldfastLogger

# ---------------------------------------------------------------- Prometheus, several processes

_MADE = "HOLDFAST_MADE_METRICS_DIR"  # the directory on_starting made, removed on_exit

_OWNER = re.compile(r"_(?:rq)?(\d+)(?:-jobs)?\.db$")  # counter_123.db, counter_rq45-jobs.db


def on_starting(server) -> None:
    """In the master, before any worker starts (and imports prometheus_client, which picks
    its mode when imported): a fresh metrics directory, or the given one without the files of
    processes that no longer run."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = tempfile.mkdtemp(prefix="holdfast-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_MADE] = made
        return
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        owner = _OWNER.search(path.name)
        if owner and not process_alive(int(owner.group(1))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    made = os.environ.get(_MADE)
    if made and made == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(made, ignore_errors=True)
