"""The shop's settings that the owner changes from the admin (``/admin/settings``), stored one
row per key in ``shop_settings``; a key never written reads its default. Every change leaves an
audit row with the value before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import ShopSetting
from app.services import audit
from app.services.errors import DomainError

# key → (default, what it means, for the settings page)
DEFAULTS: dict[str, tuple[Any, str]] = {
    "notify_new_order": (True, "Email the owner about each new order"),
    "notify_low_stock": (True, "Email the owner when a variant falls to its low-stock threshold"),
    "notify_failures": (True, "Email the owner when a webhook or an email keeps failing"),
    "daily_summary": (
        True,
        "Email the owner a daily summary (orders, revenue, refunds, low stock)",
    ),
    "notify_alerts": (
        True,
        "Email the owner when the shop has a problem (errors, the sweeper, webhooks, the "
        "database, memory) and when it is back to normal",
    ),
    "abandoned_reminders": (False, "Remind shoppers whose checkout expired or failed"),
    "prices_include_tax": (
        False,
        "Prices I enter include tax (as in the EU or UK: tax is taken out of them at "
        "checkout); off, tax is added on top at checkout (as in the US)",
    ),
}


def get_settings(session: Session) -> dict[str, Any]:
    stored = {row.key: row.value for row in session.scalars(select(ShopSetting))}
    return {key: stored.get(key, default) for key, (default, _label) in DEFAULTS.items()}


def get_setting(session: Session, key: str) -> Any:
    row = session.get(ShopSetting, key)
    return row.value if row is not None else DEFAULTS[key][0]


def set_setting(session: Session, key: str, value: Any, *, actor: str) -> bool:
    """Store ``value`` under ``key``; returns whether it changed. Unknown keys are refused."""
    if key not in DEFAULTS:
        raise DomainError(f"There is no setting {key!r}.")
    default = DEFAULTS[key][0]
    if not isinstance(value, type(default)):
        raise DomainError(f"{key} must be {type(default).__name__}.")
    begin_write(session)
    row = session.get(ShopSetting, key)
    before = row.value if row is not None else default
    if before == value:
        session.rollback()
        return False
    if row is None:
        row = ShopSetting(key=key)
        session.add(row)
    row.value, row.updated_at, row.updated_by = value, clock.utcnow(), actor
    audit.record(
        session,
        "setting.changed",
        actor=actor,
        subject_type="setting",
        key=key,
        before=before,
        after=value,
    )
    session.commit()
    return True


def update_settings(session: Session, values: dict[str, Any], *, actor: str) -> list[str]:
    """Store several settings (the settings page's form); returns the keys that changed, each
    with its own audit row. Unknown keys and wrong types are refused before anything changes."""
    for key, value in values.items():
        if key not in DEFAULTS or not isinstance(value, type(DEFAULTS[key][0])):
            raise DomainError(f"There is no setting {key!r} of that kind.")
    return [key for key, value in values.items() if set_setting(session, key, value, actor=actor)]
