"""``flask holdfast backup`` and ``flask holdfast restore`` (the logic: services/ops/backup.py).

deploy.sh's daily timer runs ``flask --app wsgi holdfast backup``; docs/RUNBOOK.md says how to
restore one. Both leave a row in the audit log when the database can take it."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask import current_app

from app.db import get_db
from app.services.ops import backup as backups

from .holdfast import holdfast_group

STOP_FIRST = (
    "Restoring replaces every row of the shop. Stop the web server and the worker first "
    "(systemctl stop holdfast-web.socket holdfast-web holdfast-worker holdfast-cron): "
    "an SQLite file must not be open elsewhere while it is overwritten."
)


@holdfast_group.command("backup")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the backup (default: BACKUP_DIR).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="How many of our backups to keep in that folder, newest first (default: BACKUP_KEEP).",
)
def backup_cmd(directory: Path | None, keep: int | None) -> None:
    """Back the shop's database up into a new file, then keep only the newest backups."""
    config = current_app.config
    directory = directory or Path(config["BACKUP_DIR"])
    keep = keep or int(config["BACKUP_KEEP"])
    try:
        made = backups.create_backup(config["DATABASE_URL"], directory)
        removed = backups.rotate(directory, keep)
    except backups.BackupError as exc:
        raise click.ClickException(exc.message) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write the backup into {directory}: {exc}") from exc
    click.echo(f"backup written: {made.path} ({human_size(made.size)}, {made.size} bytes)")
    for path in removed:
        click.echo(f"removed old backup {path.name}")
    _audit("backup.created", path=str(made.path), size=made.size, backend=made.kind)


@holdfast_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the shop's data.")
def restore_cmd(file: Path, yes: bool) -> None:
    """Replace the shop's data with the backup FILE (stop the web server and worker first)."""
    url = current_app.config["DATABASE_URL"]
    try:
        kind = backups.check_restorable(url, file)
        others = backups.other_sessions(url)
    except backups.BackupError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(STOP_FIRST)
    if others:
        click.echo(
            f"warning: {others} other connection(s) to the database are open; the restore "
            "waits for their locks until they end",
            err=True,
        )
    question = f"Replace the data of {backups.describe(url)} with {file}?"
    if not yes and not click.confirm(question, default=False):
        click.echo("Nothing restored.", err=True)
        raise SystemExit(1)
    get_db().dispose()  # no pooled connection of ours survives into the restored database
    try:
        backups.restore(url, file)
        left = backups.tables_left_behind(url, file)
    except backups.BackupError as exc:
        raise click.ClickException(f"{exc.message}\nThe restore did not finish.") from exc
    click.echo(f"restored {file} into {backups.describe(url)}")
    if left:
        click.echo(f"not in the backup, left as they were: {', '.join(left)}", err=True)
    state = backups.schema_state(url)
    click.echo(schema_advice(state))
    _audit("backup.restored", path=str(file.resolve()), backend=kind, revision=state.current)


def schema_advice(state: backups.SchemaState) -> str:
    if state.up_to_date:
        return f"schema: at the migrations' head ({state.head}); no `flask db upgrade` needed"
    if not state.known:
        return (
            f"schema: revision {state.current} is unknown to this code (head {state.head}): "
            "the backup comes from a newer release; run that release, not `flask db upgrade`"
        )
    if state.head is None:
        return "schema: the migrations could not be read; run `flask --app wsgi db upgrade`"
    return (
        f"schema: at {state.current or 'no revision'}, the code expects {state.head}: "
        "run `flask --app wsgi db upgrade` before starting the shop"
    )


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _audit(action: str, **details) -> None:
    if not backups.record(get_db().session_factory, action, _actor(), **details):
        click.echo(f"note: the audit log could not take the {action} row", err=True)
