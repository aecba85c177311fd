"""Log lines: one JSON object per line in staging and production (``LOG_FORMAT=json``), short
readable text on a laptop (``LOG_FORMAT=text``).

A JSON line carries ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, ``request_id`` while a request is being answered, the fields a caller passed with
``extra=``, and ``exc`` (the traceback) for an exception. A message that is itself a JSON object
(``services.checkout.states`` and ``services.transactions`` log those) is merged in as fields.

Standard library only: gunicorn's master uses these formatters for its own lines
(``gunicorn.conf.py``) before any worker loads the app.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import TextIO

# The id of the request being answered in this thread (``app.observability`` sets it).
request_id: ContextVar[str | None] = ContextVar("holdfast_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
OWN_FIELDS = ("time", "level", "logger")
FORMATS = ("json", "text")
_MARK = "_holdfast_handler"
# Libraries that say too much at INFO: only their warnings are kept; and lines said on every
# look at the schema (each /health/ready), dropped.
QUIET = ("alembic.runtime.plugins",)
CHATTER = {"alembic.runtime.migration": ("Context impl ", "Will assume ")}


def _no_chatter(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(CHATTER.get(record.name, ()))


_second: tuple[int, str] = (-1, "")  # the last second formatted, and how (one per second)


def utc_time(created: float) -> str:
    global _second
    seconds = int(created)
    cached = _second
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{int((created - seconds) * 1000):03d}Z"


def extra_fields(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES}


def _message_fields(message: str) -> dict | None:
    """The fields of a message that is a JSON object, else None."""
    if not (message.startswith("{") and message.endswith("}")):
        return None
    try:
        fields = json.loads(message)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record (the module's docstring lists the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict = {
            "time": utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        fields = _message_fields(message)
        if fields is not None:
            line["message"] = fields.pop("message", None) or fields.get("event", "")
            line.update((k, v) for k, v in fields.items() if k not in OWN_FIELDS)
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        line.update(extra_fields(record))
        if record.exc_info:
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """``12:00:01 INFO holdfast.access [request id] message``, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        rid = request_id.get()
        record.rid = f" [{rid}]" if rid else ""
        try:
            return super().format(record)
        finally:
            del record.rid


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) in ``log_format`` at ``level``.
    Safe to call again (each app, each job): it replaces the handler it installed before and
    leaves any other (a test's capture, Sentry's) alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in CHATTER:
        chatty = logging.getLogger(name)
        if _no_chatter not in chatty.filters:
            chatty.addFilter(_no_chatter)
