"""``flask stock …`` and ``flask holdfast verify``, driven through Flask's CLI runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.models import AuditLog, HoldState, Reservation, StockMovement, SweepRun, Variant
from app.services.stock import holds
from tests.factories import variant_with_stock


@pytest.fixture
def session(app):
    s = app.extensions["holdfast.db"].session_factory()
    yield s
    s.close()


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))

    return invoke


def now() -> datetime:
    return datetime.now(UTC)


def test_stock_list_json_counts_live_holds_and_ignores_expired_ones(cli, session, db):
    tee = variant_with_stock(db, 10, sku="TEE-M", product__name="Heavy Tee")
    variant_with_stock(db, 0, sku="MUG", allow_backorder=True)
    holds.take_hold(session, {tee.id: 3})
    holds.take_hold(session, {tee.id: 4}, now=now() - timedelta(hours=1))  # expired
    result = cli("stock", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["sku"]: row for row in json.loads(result.output)}
    assert rows["TEE-M"] == {
        "id": tee.id,
        "sku": "TEE-M",
        "product": "Heavy Tee",
        "kind": "physical",
        "allow_backorder": False,
        "on_hand": 10,
        "held": 3,
        "available": 7,
    }
    assert rows["MUG"]["allow_backorder"] is True


def test_stock_list_prints_a_table_of_every_variant(cli, db):
    variant_with_stock(db, 4, sku="CAP-RED")
    variant_with_stock(db, 2, sku="CAP-BLUE")
    result = cli("stock", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["SKU", "ON", "HAND", "HELD"]
    assert [line.split()[0] for line in lines[1:]] == ["CAP-BLUE", "CAP-RED"]


def test_stock_adjust_takes_a_negative_delta_and_records_who_and_why(cli, db):
    v = variant_with_stock(db, 5, sku="TOTE")
    result = cli("stock", "adjust", "TOTE", "-2", "--reason", "damaged", "--actor", "owner")
    assert result.exit_code == 0, result.output
    assert "TOTE: -2, on hand now 3" in result.output
    assert db.scalar(select(Variant.on_hand).where(Variant.id == v.id)) == 3
    movement = db.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
    assert (movement.delta, movement.actor, movement.note) == (-2, "owner", "damaged")
    assert db.scalars(select(AuditLog)).one().action == "stock.adjust"


def test_stock_adjust_refuses_held_units_unless_forced(cli, session, db):
    v = variant_with_stock(db, 2, sku="LAMP")
    hold = holds.take_hold(session, {v.id: 2})
    refused = cli("stock", "adjust", "LAMP", "-1", "--reason", "broken")
    assert refused.exit_code != 0
    assert "held by shoppers" in refused.output
    forced = cli("stock", "adjust", "LAMP", "-1", "--reason", "broken", "--force")
    assert forced.exit_code == 0, forced.output
    assert f"released hold {hold.ref}" in forced.output


def test_stock_adjust_needs_a_reason_and_a_known_sku(cli, db):
    variant_with_stock(db, 2, sku="PEN")
    assert cli("stock", "adjust", "PEN", "1").exit_code != 0
    unknown = cli("stock", "adjust", "NOPE", "1", "--reason", "count")
    assert unknown.exit_code != 0
    assert "No variant with SKU 'NOPE'" in unknown.output


def test_stock_show_prints_levels_live_holds_and_latest_movements(cli, session, db):
    v = variant_with_stock(db, 6, sku="BOWL")
    hold = holds.take_hold(session, {v.id: 2})
    result = cli("stock", "show", "BOWL")
    assert result.exit_code == 0, result.output
    assert "on hand    6" in result.output
    assert "held       2  (1 live holds)" in result.output
    assert "available  4" in result.output
    assert hold.ref in result.output
    assert "+6  receive" in result.output


def test_stock_cleanup_expires_stale_holds_and_records_the_run(cli, session, db):
    v = variant_with_stock(db, 3)
    holds.take_hold(session, {v.id: 1}, now=now() - timedelta(hours=1))
    holds.take_hold(session, {v.id: 1})
    result = cli("stock", "cleanup")
    assert result.exit_code == 0, result.output
    assert "expired 1 hold(s) in 1 batch(es)" in result.output
    assert db.scalars(select(SweepRun)).one().expired_count == 1
    states = sorted(s.value for s in db.scalars(select(Reservation.state)))
    assert states == ["active", "expired"]


def test_holdfast_verify_passes_then_names_each_violation_and_exits_non_zero(cli, session, db):
    v = variant_with_stock(db, 2, sku="KETTLE")
    holds.take_hold(session, {v.id: 2})
    assert cli("holdfast", "verify").exit_code == 0
    db.execute(update(Variant).where(Variant.id == v.id).values(on_hand=1))
    db.execute(update(Reservation).values(state=HoldState.RELEASED))
    db.commit()
    result = cli("holdfast", "verify")
    assert result.exit_code == 1
    assert "[ledger_matches_on_hand] KETTLE: on_hand is 1 but the ledger sums to 2" in result.output
    assert "[hold_states_have_their_times]" in result.output


def test_stock_adjust_refuses_a_digital_variant_whose_stock_is_its_keys(cli, db):
    from app.models import ProductKind  # noqa: PLC0415
    from app.services.checks import invariants as verify  # noqa: PLC0415
    from tests.factories import ProductFactory, VariantFactory  # noqa: PLC0415

    VariantFactory(sku="GAME-KEY", product=ProductFactory(kind=ProductKind.DIGITAL))
    refused = cli("stock", "adjust", "GAME-KEY", "5", "--reason", "found some")
    assert refused.exit_code != 0
    assert "its stock is its pool of license keys" in refused.output
    assert db.scalar(select(Variant.on_hand).where(Variant.sku == "GAME-KEY")) == 0
    assert verify.check_all(db) == []
    assert cli("holdfast", "verify").exit_code == 0
