"""Flask CLI commands: ``flask --app wsgi <group> <command>``."""

from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    # These two add commands to `holdfast_group` when imported: backup and restore;
    # build-static and verify-production.
    from . import backup, production  # noqa: F401
    from .admin import admin_group
    from .checkout import checkout_group
    from .db import db_group
    from .demo import demo_group
    from .holdfast import holdfast_group
    from .keys import keys_group
    from .mail import mail_group
    from .orders import orders_group
    from .payments import payments_group
    from .returns import returns_group
    from .stock import stock_group

    for group in (
        db_group,
        demo_group,
        holdfast_group,
        stock_group,
        checkout_group,
        payments_group,
        keys_group,
        orders_group,
        mail_group,
        returns_group,
        admin_group,
    ):
        app.cli.add_command(group)
