"""``flask orders list`` and ``flask returns list``, through Flask's CLI runner: a table for
people, ``--json`` for scripts, filters, and a bad filter refused as a usage error (exit 2)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.models import Order as OrderRow
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks
from tests.checkout_helpers import buy
from tests.factories import variant_with_stock


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))

    return invoke


@pytest.fixture
def shipped_with_a_return(app, browser, db) -> OrderRow:
    """Two paid orders: the first shipped with a return requested, the second still to ship."""
    tee = variant_with_stock(db, 10, price_cents=2000)
    buy(browser, tee, 3, email="first@example.com")
    buy(browser, tee, 1, email="second@example.com")
    first = db.scalar(select(OrderRow).where(OrderRow.email == "first@example.com"))
    session = app.extensions["holdfast.db"].session_factory()
    try:
        links = OrderLinks.from_config(app.config)
        aftersales.ship_order(
            session, first.number, carrier="DHL", tracking="T1", actor="t", links=links
        )
        aftersales.request_return(
            session, first.number, first.lines[0].id, 2, "too small", actor="t"
        )
    finally:
        session.close()
    return first


def test_orders_list_as_a_table_and_as_json(cli, shipped_with_a_return):
    table = cli("orders", "list")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[:3] == ["number", "placed", "(UTC)"]
    assert "second@example.com" in lines[1] and "first@example.com" in lines[2]  # newest first
    assert "60.00 USD" in table.output

    listed = json.loads(cli("orders", "list", "--json").output)
    assert [o["email"] for o in listed] == ["second@example.com", "first@example.com"]
    first = listed[1]
    assert first["number"] == shipped_with_a_return.number
    assert (first["total"], first["total_cents"], first["lines"]) == ("60.00", 6000, 1)
    assert first["status"] == "return_requested"


def test_orders_list_filters_by_status_and_to_ship(cli, shipped_with_a_return):
    paid = json.loads(cli("orders", "list", "--status", "paid", "--json").output)
    assert [o["email"] for o in paid] == ["second@example.com"]
    to_ship = json.loads(cli("orders", "list", "--to-ship", "--json").output)
    assert [o["email"] for o in to_ship] == ["second@example.com"]
    assert cli("orders", "list", "--status", "refunded").output.strip() == "(none)"


def test_a_bad_status_is_a_usage_error_naming_the_valid_ones(cli, db):
    answer = cli("orders", "list", "--status", "lost")
    assert answer.exit_code == 2
    assert "'lost' is not one of" in answer.output and "'paid'" in answer.output
    answer = cli("returns", "list", "--state", "lost")
    assert answer.exit_code == 2 and "'requested'" in answer.output


def test_returns_list_as_a_table_and_as_json(cli, shipped_with_a_return):
    table = cli("returns", "list")
    assert table.exit_code == 0, table.output
    assert shipped_with_a_return.number in table.output and "too small" in table.output
    listed = json.loads(cli("returns", "list", "--state", "requested", "--json").output)
    assert len(listed) == 1
    assert listed[0]["order"] == shipped_with_a_return.number
    assert (listed[0]["quantity"], listed[0]["state"]) == (2, "requested")
    assert json.loads(cli("returns", "list", "--state", "refused", "--json").output) == []
