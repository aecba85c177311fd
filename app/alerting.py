"""Counting what the alerts watch, as requests are answered (``create_app`` installs it):
every answer with a 5xx status (a 503 of a database outage too), and every request to
``/webhooks/…`` refused or not answered (400 bad signature or malformed, 429, 5xx). The counts
go to ``services.ops.tallies`` (Redis, else files), where the watcher of every process reads
them (``services.ops.alerts``).

A 2xx or 3xx answer costs one integer comparison and nothing else; a 4xx, a look at its
blueprint."""

from __future__ import annotations

from flask import Flask, Response, request

from app.services.ops.tallies import Tallies

NOT_WEBHOOK_FAILURES = (404, 405)  # an unknown provider or method: a probe, not our failure


def install(app: Flask) -> None:
    tallies = Tallies.from_config(app.config)
    app.extensions["holdfast.tallies"] = tallies

    @app.after_request
    def count_failures(response: Response) -> Response:
        if response.status_code >= 400:
            _count(tallies, response.status_code)
        return response


def _count(tallies: Tallies, status: int) -> None:
    names = ["5xx"] if status >= 500 else []
    if request.blueprint == "webhooks" and status not in NOT_WEBHOOK_FAILURES:
        names.append("webhook")
    if names:
        tallies.add(names)
