"""Tallies and notes that every process of the shop shares, for the alerts
(``services.ops.alerts``): how many 5xx answers and refused webhooks there were minute by
minute, a claim that lets one process (of many) do something at most once an hour, and small
JSON notes (the last outage, whom to tell when the database is down).

With ``REDIS_URL``: Redis keys under ``holdfast:alerts:``, each minute's count expiring after an
hour, so every gunicorn worker, RQ worker and command adds to and reads the same numbers.
Without Redis (or while Redis does not answer): files in ``ALERT_STATE_DIR``, shared by the
processes of one machine, the web server's and the cron command's alike (a count kept in a
process's memory would be invisible to the command that checks it). A count is one byte
appended per event to the minute's file (``O_APPEND``: concurrent writers never lose one).

Counting never raises and never waits long: after Redis fails it is not tried again for a few
seconds (the files take the counts meanwhile), and a file that cannot be written is logged."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from app import clock

log = logging.getLogger("holdfast.alerts")

PREFIX = "holdfast:alerts:"
KEEP_SECONDS = 3600  # a minute's count is kept an hour: the longest window read is 15 minutes
SKIP_REDIS_SECONDS = 5.0


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


class Tallies:
    """Counts per minute, claims and notes, in Redis when configured (and answering), else in
    files under ``directory``."""

    def __init__(self, redis_url: str | None, directory: str | os.PathLike[str]) -> None:
        self.redis_url = redis_url
        self.directory = Path(directory)
        self._redis_down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Tallies:
        return cls(config.get("REDIS_URL"), config["ALERT_STATE_DIR"])

    # ---------------------------------------------------------------- Redis, when it answers

    def _redis(self):
        if not self.redis_url or time.monotonic() < self._redis_down_until:
            return None
        from app.queue import connection

        return connection(self.redis_url)

    def _redis_failed(self, exc: Exception, doing: str) -> None:
        self._redis_down_until = time.monotonic() + SKIP_REDIS_SECONDS
        log.warning("alerts: Redis did not answer while %s (%s); using files", doing, exc)

    # ---------------------------------------------------------------- counts

    def add(self, names: Iterable[str], now: datetime | None = None) -> None:
        """One more of each of ``names`` this minute. Never raises."""
        names = list(names)
        minute = minute_of(clock.now(now))
        redis = self._redis()
        if redis is not None:
            try:
                pipe = redis.pipeline(transaction=False)
                for name in names:
                    key = f"{PREFIX}{name}:{minute}"
                    pipe.incr(key)
                    pipe.expire(key, KEEP_SECONDS)
                pipe.execute()
                return
            except RedisError as exc:
                self._redis_failed(exc, "counting")
        for name in names:
            self._append(name, minute)

    def count(self, name: str, minutes: int, now: datetime | None = None) -> int | None:
        """How many of ``name`` in the last ``minutes`` minutes (this one included), from Redis
        and the files together; None when Redis is configured but cannot be read."""
        last = minute_of(clock.now(now))
        window = range(last - minutes + 1, last + 1)
        total = self._count_files(name, window, last)
        if self.redis_url:
            try:
                values = self._redis_or_raise().mget([f"{PREFIX}{name}:{m}" for m in window])
            except RedisError as exc:
                self._redis_failed(exc, "reading counts")
                return None
            total += sum(int(v) for v in values if v is not None)
        return total

    def _redis_or_raise(self):
        redis = self._redis()
        if redis is None:
            raise RedisError("skipped after a recent failure")
        return redis

    def _append(self, name: str, minute: int) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                self.directory / f"{name}.{minute}", os.O_WRONLY | os.O_CREAT | os.O_APPEND
            )
            try:
                os.write(fd, b".")
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("alerts: cannot count %s in %s: %s", name, self.directory, exc)

    def _count_files(self, name: str, window: range, last: int) -> int:
        total = 0
        try:
            entries = list(self.directory.glob(f"{name}.*"))
        except OSError:
            return 0
        for path in entries:
            minute = path.suffix[1:]
            if not minute.isdigit():
                continue
            try:
                if int(minute) in window:
                    total += path.stat().st_size
                elif int(minute) < last - KEEP_SECONDS // 60:
                    path.unlink()
            except OSError:
                continue  # removed meanwhile by another reader
        return total

    # ---------------------------------------------------------------- claims

    def claim(self, name: str, seconds: int, now: datetime | None = None) -> bool:
        """True for the one caller that takes ``name`` until ``seconds`` have passed."""
        redis = self._redis()
        if redis is not None:
            try:
                return bool(redis.set(f"{PREFIX}{name}", "1", nx=True, ex=seconds))
            except RedisError as exc:
                self._redis_failed(exc, "claiming")
        until = clock.now(now).timestamp() + seconds
        path = self.directory / f"{name}.claim"
        with self._lock:
            held = self._read_file(path)
            if held is not None and held.get("until", 0) > clock.now(now).timestamp():
                return False
            return self._write_file(path, {"until": until})

    def release(self, name: str) -> None:
        self.forget(name, suffix="claim")

    # ---------------------------------------------------------------- notes

    def note(self, name: str, value: dict[str, Any]) -> None:
        redis = self._redis()
        if redis is not None:
            try:
                redis.set(f"{PREFIX}{name}", json.dumps(value))
                return
            except RedisError as exc:
                self._redis_failed(exc, "writing a note")
        self._write_file(self.directory / f"{name}.json", value)

    def read(self, name: str) -> dict[str, Any] | None:
        redis = self._redis()
        if redis is not None:
            try:
                raw = redis.get(f"{PREFIX}{name}")
                if raw is not None:
                    return json.loads(raw)
            except RedisError as exc:
                self._redis_failed(exc, "reading a note")
        return self._read_file(self.directory / f"{name}.json")

    def take(self, name: str) -> dict[str, Any] | None:
        """Read and remove a note at once: of several callers, one gets it."""
        taken = None
        redis = self._redis()
        if redis is not None:
            try:
                raw = redis.getdel(f"{PREFIX}{name}")
                taken = json.loads(raw) if raw is not None else None
            except RedisError as exc:
                self._redis_failed(exc, "taking a note")
        path = self.directory / f"{name}.json"
        mine = path.with_name(f"{name}.{os.getpid()}.{threading.get_ident()}.taken")
        try:
            os.replace(path, mine)  # atomic: a second taker finds nothing
        except OSError:
            return taken
        found = self._read_file(mine)
        mine.unlink(missing_ok=True)
        return taken or found

    def forget(self, name: str, suffix: str = "json") -> None:
        redis = self._redis()
        if redis is not None:
            try:
                redis.delete(f"{PREFIX}{name}")
            except RedisError as exc:
                self._redis_failed(exc, "forgetting")
        (self.directory / f"{name}.{suffix}").unlink(missing_ok=True)

    @staticmethod
    def _read_file(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _write_file(self, path: Path, value: dict[str, Any]) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(value))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("alerts: cannot write %s: %s", path, exc)
            return False
        return True
