"""``flask holdfast``: owner set-up and the invariant check."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.db import get_session
from app.services.accounts import signin as accounts
from app.services.checks import invariants as verify
from app.services.errors import DomainError

holdfast_group = AppGroup("holdfast", help="Shop administration.")


@holdfast_group.command("create-owner")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_owner(email: str, password_stdin: bool) -> None:
    """Create the owner account EMAIL (or make an existing account owner)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_owner(get_session(), email, password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"owner {user.email} ready (id {user.id})")


@holdfast_group.command("verify")
@click.option(
    "--offline",
    is_flag=True,
    help="Do not ask payment providers about payments our table calls uncaptured.",
)
def verify_cmd(offline: bool) -> None:
    """Check every invariant; exit 1 naming each violation."""
    from flask import current_app

    from app.providers import get_provider

    config = current_app.config
    violations = verify.check_all(
        get_session(), providers=None if offline else (lambda name: get_provider(name, config))
    )
    for v in violations:
        click.echo(f"VIOLATION {v}", err=True)
    if violations:
        click.echo(f"{len(violations)} violation(s)", err=True)
        raise SystemExit(1)
    click.echo("all invariants hold")
