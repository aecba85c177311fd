"""Alembic environment. The URL comes from ``config.attributes['database_url']`` (set by
``app.migrate``) or ``DATABASE_URL``. SQLite runs in batch mode on an engine without the app's
foreign-key and BEGIN IMMEDIATE hooks (the batch table copy would fire ON DELETE CASCADE)."""

import os
from logging.config import fileConfig

from alembic import context

from app.config import normalize_database_url
from app.db import is_sqlite, make_engine
from app.models import Base
from app.models.base import UTCDateTime

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = normalize_database_url(
    config.attributes.get("database_url") or os.environ.get("DATABASE_URL", "")
)
if not url:
    raise SystemExit("DATABASE_URL is not set")

target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    """Write our column types as plain SQLAlchemy types, so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=is_sqlite(url),
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url, for_migrations=True)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(url),
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
