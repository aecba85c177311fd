"""``flask mail``: send the outbox now, list it, and push a failed email back for sending.

Every change goes through ``services.mailer``; these commands only parse, call and print.
Without Redis, run ``flask mail send`` from cron every minute so retries happen on time.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.models import OutboxState
from app.services.errors import DomainError
from app.services.mail import outbox as mailer

mail_group = AppGroup("mail", help="The email outbox.")


@mail_group.command("send")
def send_cmd() -> None:
    """Send every email that is due now (and fail those stuck mid-send past the timeout)."""
    report = mailer.send_all_due(get_session(), current_app.config)
    click.echo(
        f"sent {report.sent}, will retry {report.retrying}, failed {report.failed}, "
        f"interrupted {report.interrupted}"
    )
    if report.stopped:
        raise click.ClickException("the mail server could not be reached; the rest wait")


@mail_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in OutboxState]), default=None)
@click.option("--limit", default=50, show_default=True)
def list_cmd(state: str | None, limit: int) -> None:
    """The newest emails: id, state, attempts, queued at, kind, recipient, subject; then the
    next attempt of a waiting one and the last error of one not sent."""
    messages = mailer.list_messages(get_session(), state=state, limit=limit)
    if not messages:
        click.echo("(no emails)")
    for m in messages:
        click.echo(
            f"{m.id:>6}  {m.state.value:<8} {m.attempts:>2}  {m.created_at:%Y-%m-%d %H:%M}Z  "
            f"{m.template:<22} {m.to_address}  {m.subject}"
        )
        if m.state is OutboxState.PENDING and m.attempts:
            click.echo(f"        next attempt {m.next_attempt_at:%Y-%m-%d %H:%M}Z")
        if m.last_error and m.state is not OutboxState.SENT:
            click.echo(f"        error: {m.last_error}")


@mail_group.command("retry")
@click.argument("message_id", type=int)
def retry_cmd(message_id: int) -> None:
    """Send email MESSAGE_ID again (failed, or interrupted mid-send: check the mail server log
    first, it may have arrived). It goes out with the next send."""
    try:
        message = mailer.retry_message(get_session(), message_id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"email {message.id} to {message.to_address} is pending; `flask mail send` sends it now"
    )
