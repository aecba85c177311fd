"""Migrations: upgrade from empty, agree with the models, and go down and up again."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import migrate
from app.db import make_engine
from app.models import Base


def test_the_models_and_the_migrations_agree(database_url):
    engine = make_engine(database_url, for_migrations=True)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models differ from migrations: {diff}"


def test_migrations_go_down_to_empty_and_back_up(database_url):
    migrate.downgrade(database_url, "base")
    engine = make_engine(database_url, for_migrations=True)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_0011_keeps_earlier_checkouts_and_gives_them_empty_new_fields(database_url):
    """An address from before 0011 reads "" for line 2, region and phone; down and up again."""
    from sqlalchemy import text

    migrate.downgrade(database_url, "0010")
    engine = make_engine(database_url, for_migrations=True)
    columns = {c["name"] for c in inspect(engine).get_columns("checkouts")}
    assert "phone" not in columns and "addresses" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO checkouts (public_id, owner_key, state, phase, email, full_name,"
                " address_line1, city, postal_code, country, currency, total_cents,"
                " hold_started_at, expires_at, extensions, created_at, updated_at) VALUES"
                " ('co_old', 'k', 'reserved', 'price_lock', 'a@example.com', 'Ada', '1 Road',"
                " 'Town', '1', 'GB', 'USD', 100, :t, :t, 0, :t, :t)"
            ),
            {"t": "2026-12-01 10:00:00"},
        )
    migrate.upgrade(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT country, address_line2, region, phone FROM checkouts")
        ).one()
    engine.dispose()
    assert tuple(row) == ("GB", "", "", "")
