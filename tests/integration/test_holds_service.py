"""Holds and stock changes through ``services.inventory``, on SQLite and on Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.models import AuditLog, HoldState, MovementReason, Reservation, StockMovement, Variant
from app.services.checks import invariants as verify
from app.services.stock import backorders, holds, inventory
from app.services.stock.holds import HoldExpired, HoldLimitReached, HoldNotActive, HoldNotFound
from app.services.stock.ledger import InsufficientStock, StockError, StockHeldError, UnknownVariant
from tests.factories import variant_with_stock

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def session(app):
    s = app.extensions["holdfast.db"].session_factory()
    yield s
    s.close()


def available(session, variant_id: int, at: datetime) -> int:
    session.rollback()  # a fresh read transaction
    return inventory.availability_of(session, variant_id, now=at).available


def on_hand(db, variant_id: int) -> int:
    return db.scalar(select(Variant.on_hand).where(Variant.id == variant_id))


def assert_invariants(db, at: datetime) -> None:
    assert verify.check_all(db, now=at) == []


# ---------------------------------------------------------------- taking holds


def test_a_hold_reserves_units_until_its_deadline(session, db):
    v = variant_with_stock(db, 10)
    hold = holds.take_hold(session, {v.id: 3}, ttl_minutes=15, now=T0)
    assert hold.state is HoldState.ACTIVE
    assert hold.expires_at == minutes(15)
    assert [(line.variant_id, line.quantity) for line in hold.lines] == [(v.id, 3)]
    assert available(session, v.id, minutes(14)) == 7
    assert_invariants(db, minutes(1))


def test_an_expired_hold_frees_its_units_the_instant_it_expires_before_any_sweep(session, db):
    v = variant_with_stock(db, 1)
    holds.take_hold(session, {v.id: 1}, ttl_minutes=15, now=T0)
    assert available(session, v.id, minutes(15) - timedelta(microseconds=1)) == 0
    assert available(session, v.id, minutes(15)) == 1
    again = holds.take_hold(session, {v.id: 1}, now=minutes(15))
    assert again.is_live
    assert db.scalar(select(func.count()).where(Reservation.state == HoldState.ACTIVE)) == 2
    assert_invariants(db, minutes(15))


def test_a_hold_takes_every_line_or_none(session, db):
    plenty = variant_with_stock(db, 10)
    scarce = variant_with_stock(db, 2)
    with pytest.raises(InsufficientStock):
        holds.take_hold(session, {plenty.id: 5, scarce.id: 3}, now=T0)
    assert db.scalar(select(func.count()).select_from(Reservation)) == 0
    assert available(session, plenty.id, T0) == 10


def test_two_lines_of_one_variant_are_checked_together(session, db):
    v = variant_with_stock(db, 5)
    with pytest.raises(InsufficientStock) as refused:
        holds.take_hold(session, [(v.id, 3), (v.id, 3)], now=T0)
    assert refused.value.shortfalls[0].requested == 6
    hold = holds.take_hold(session, [(v.id, 2), (v.id, 3)], now=T0)
    assert [line.quantity for line in hold.lines] == [5]
    assert db.scalar(select(func.count()).select_from(Reservation)) == 1


def test_a_refusal_names_each_short_item_and_how_many_are_left(session, db):
    tote = variant_with_stock(db, 2, product__name="Waxed Tote", name="Large")
    mug = variant_with_stock(db, 0, product__name="Enamel Mug")
    ok = variant_with_stock(db, 9)
    with pytest.raises(InsufficientStock) as refused:
        holds.take_hold(session, {tote.id: 3, mug.id: 1, ok.id: 1}, now=T0)
    shortfalls = {s.variant_id: s for s in refused.value.shortfalls}
    assert set(shortfalls) == {tote.id, mug.id}
    assert (shortfalls[tote.id].requested, shortfalls[tote.id].available) == (3, 2)
    assert shortfalls[tote.id].sku == tote.sku
    assert "Only 2 of Waxed Tote — Large left" in refused.value.message
    assert "Enamel Mug is sold out" in refused.value.message
    assert refused.value.status_code == 409


def test_holding_an_unknown_variant_or_nothing_is_refused(session, db):
    with pytest.raises(UnknownVariant):
        holds.take_hold(session, {999_999: 1}, now=T0)
    with pytest.raises(StockError):
        holds.take_hold(session, {}, now=T0)
    v = variant_with_stock(db, 3)
    with pytest.raises(StockError):
        holds.take_hold(session, {v.id: 0}, now=T0)


def test_a_refused_hold_leaves_the_session_free_for_the_next_one(session, db):
    v = variant_with_stock(db, 1)
    with pytest.raises(InsufficientStock):
        holds.take_hold(session, {v.id: 2}, now=T0)
    assert not session.in_transaction()  # its lock is gone, so nobody waits on it
    assert holds.take_hold(session, {v.id: 1}, now=T0).is_live


# ---------------------------------------------------------------- extend, release, commit


def test_extending_a_hold_never_goes_past_its_maximum_life(session, db):
    v = variant_with_stock(db, 3)
    hold = holds.take_hold(session, {v.id: 1}, ttl_minutes=15, now=T0)
    longer = holds.extend_hold(session, hold.ref, minutes=15, max_ttl_minutes=60, now=minutes(10))
    assert longer.expires_at == minutes(25)
    assert longer.extensions == 1
    capped = holds.extend_hold(session, hold.ref, minutes=45, max_ttl_minutes=60, now=minutes(24))
    assert capped.expires_at == minutes(60)
    with pytest.raises(HoldLimitReached):
        holds.extend_hold(session, hold.ref, minutes=15, max_ttl_minutes=60, now=minutes(50))
    assert holds.get_hold(session, hold.ref, now=minutes(50)).expires_at == minutes(60)


def test_an_expired_released_or_committed_hold_cannot_be_extended(session, db):
    v = variant_with_stock(db, 3)
    expired = holds.take_hold(session, {v.id: 1}, now=T0)
    released = holds.take_hold(session, {v.id: 1}, now=T0)
    sold = holds.take_hold(session, {v.id: 1}, now=T0)
    holds.release_hold(session, released.ref, now=minutes(1))
    holds.commit_hold(session, sold.ref, now=minutes(1))
    with pytest.raises(HoldExpired):
        holds.extend_hold(session, expired.ref, now=minutes(15))
    with pytest.raises(HoldNotActive):
        holds.extend_hold(session, released.ref, now=minutes(2))
    with pytest.raises(HoldNotActive):
        holds.extend_hold(session, sold.ref, now=minutes(2))
    with pytest.raises(HoldNotFound):
        holds.extend_hold(session, "no-such-hold", now=minutes(2))


def test_releasing_a_hold_gives_its_units_back_and_is_safe_to_repeat(session, db):
    v = variant_with_stock(db, 4)
    hold = holds.take_hold(session, {v.id: 4}, now=T0)
    released = holds.release_hold(session, hold.ref, now=minutes(1))
    assert released.state is HoldState.RELEASED
    assert holds.release_hold(session, hold.ref, now=minutes(2)).state is HoldState.RELEASED
    assert available(session, v.id, minutes(2)) == 4
    row = db.scalars(select(Reservation)).one()
    assert row.released_at == minutes(1)
    assert_invariants(db, minutes(2))


def test_releasing_an_expired_hold_marks_it_expired_at_its_deadline(session, db):
    v = variant_with_stock(db, 1)
    hold = holds.take_hold(session, {v.id: 1}, ttl_minutes=15, now=T0)
    assert holds.release_hold(session, hold.ref, now=minutes(20)).state is HoldState.EXPIRED
    row = db.scalars(select(Reservation)).one()
    assert (row.state, row.expired_at, row.released_at) == (HoldState.EXPIRED, minutes(15), None)


def test_committing_a_hold_sells_its_units_through_the_ledger(session, db):
    a = variant_with_stock(db, 5)
    b = variant_with_stock(db, 2)
    hold = holds.take_hold(session, {a.id: 2, b.id: 2}, checkout_id=7, now=T0)
    sold = holds.commit_hold(session, hold.ref, actor="checkout", note="order 1001", now=T0)
    assert sold.state is HoldState.COMMITTED
    assert sold.checkout_id == 7
    sales = db.scalars(
        select(StockMovement).where(StockMovement.reason == MovementReason.SALE)
    ).all()
    assert sorted((m.variant_id, m.delta) for m in sales) == [(a.id, -2), (b.id, -2)]
    assert {m.reference for m in sales} == {f"hold:{hold.ref}"}
    assert on_hand(db, a.id) == 3
    assert available(session, b.id, T0) == 0
    assert_invariants(db, minutes(1))


def test_committing_twice_sells_once(session, db):
    v = variant_with_stock(db, 5)
    hold = holds.take_hold(session, {v.id: 2}, now=T0)
    holds.commit_hold(session, hold.ref, now=minutes(1))
    again = holds.commit_hold(session, hold.ref, now=minutes(2))
    assert again.state is HoldState.COMMITTED
    assert on_hand(db, v.id) == 3
    assert_invariants(db, minutes(2))


def test_an_expired_or_released_hold_cannot_be_sold_nor_a_sold_one_released(session, db):
    v = variant_with_stock(db, 5)
    late = holds.take_hold(session, {v.id: 1}, ttl_minutes=15, now=T0)
    gone = holds.take_hold(session, {v.id: 1}, now=T0)
    sold = holds.take_hold(session, {v.id: 1}, now=T0)
    holds.release_hold(session, gone.ref, now=T0)
    holds.commit_hold(session, sold.ref, now=T0)
    with pytest.raises(HoldExpired):
        holds.commit_hold(session, late.ref, now=minutes(15))
    with pytest.raises(HoldNotActive):
        holds.commit_hold(session, gone.ref, now=minutes(1))
    with pytest.raises(HoldNotActive):
        holds.release_hold(session, sold.ref, now=minutes(1))
    assert on_hand(db, v.id) == 4


def test_services_compose_in_the_callers_transaction_when_told_not_to_commit(session, db):
    v = variant_with_stock(db, 5)
    hold = holds.take_hold(session, {v.id: 2}, now=T0, commit=False)
    holds.commit_hold(session, hold.ref, now=T0, commit=False)
    session.rollback()
    assert db.scalar(select(func.count()).select_from(Reservation)) == 0
    assert on_hand(db, v.id) == 5


# ---------------------------------------------------------------- back-orders


def test_a_back_order_variant_can_be_held_beyond_stock_and_records_the_shortfall(session, db):
    v = variant_with_stock(db, 2, allow_backorder=True)
    hold = holds.take_hold(session, {v.id: 5}, now=T0)
    assert [(line.quantity, line.backorder_quantity) for line in hold.lines] == [(5, 3)]
    avail = inventory.availability_of(session, v.id, now=T0)
    assert (avail.held, avail.available, avail.can_take(10)) == (2, 0, True)
    assert_invariants(db, T0)


def test_selling_a_back_order_takes_only_stock_on_hand_and_owes_the_rest(session, db):
    v = variant_with_stock(db, 2, allow_backorder=True)
    hold = holds.take_hold(session, {v.id: 5}, now=T0)
    holds.commit_hold(session, hold.ref, now=minutes(1))
    assert on_hand(db, v.id) == 0
    row = db.scalars(select(Reservation)).one()
    assert (row.state, row.backorder_quantity) == (HoldState.COMMITTED, 3)
    assert inventory.availability_of(session, v.id, now=minutes(1)).owed == 3
    assert_invariants(db, minutes(1))


def test_arriving_stock_goes_to_owed_back_orders_before_new_holds(session, db):
    v = variant_with_stock(db, 0, allow_backorder=True)
    holds.commit_hold(session, holds.take_hold(session, {v.id: 3}, now=T0).ref, now=T0)
    inventory.receive_stock(session, v.id, 5, now=minutes(1))
    assert available(session, v.id, minutes(1)) == 2  # three of the five are owed
    assert holds.take_hold(session, {v.id: 2}, now=minutes(1)).lines[0].backorder_quantity == 0
    allocated = backorders.allocate_backorders(session, v.id, now=minutes(2))
    assert [a.quantity for a in allocated] == [3]
    assert on_hand(db, v.id) == 2
    assert backorders.allocate_backorders(session, v.id, now=minutes(3)) == []
    assert_invariants(db, minutes(3))


def test_a_back_order_committed_after_stock_arrived_is_sold_from_that_stock(session, db):
    v = variant_with_stock(db, 0, allow_backorder=True)
    hold = holds.take_hold(session, {v.id: 2}, now=T0)
    inventory.receive_stock(session, v.id, 10, now=minutes(1))
    holds.commit_hold(session, hold.ref, now=minutes(2))
    assert db.scalars(select(Reservation)).one().backorder_quantity == 0
    assert on_hand(db, v.id) == 8
    assert_invariants(db, minutes(2))


# ---------------------------------------------------------------- owner adjustments


def test_an_adjustment_moves_stock_through_the_ledger_and_the_audit_log(session, db):
    v = variant_with_stock(db, 10)
    result = inventory.adjust_stock(
        session, v.sku, -3, reason="damaged in storage", actor="owner@example.com", now=T0
    )
    assert (result.on_hand, result.released_holds) == (7, ())
    movement = db.get(StockMovement, result.movement_id)
    assert (movement.delta, movement.reason, movement.note) == (
        -3,
        MovementReason.ADJUST,
        "damaged in storage",
    )
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "stock.adjust")).one()
    assert entry.actor == "owner@example.com"
    assert entry.details["on_hand_before"] == 10 and entry.details["on_hand_after"] == 7
    assert_invariants(db, T0)


def test_an_adjustment_never_takes_stock_below_zero(session, db):
    v = variant_with_stock(db, 2)
    with pytest.raises(StockError, match="has 2 on hand"):
        inventory.adjust_stock(session, v.id, -3, reason="count", now=T0)
    with pytest.raises(StockError):
        inventory.adjust_stock(session, v.id, -1, reason="  ", now=T0)
    with pytest.raises(UnknownVariant):
        inventory.adjust_stock(session, "NO-SUCH-SKU", 1, reason="count", now=T0)
    assert on_hand(db, v.id) == 2


def test_removing_held_units_is_refused_unless_forced_which_releases_the_newest_holds(session, db):
    v = variant_with_stock(db, 5)
    older = holds.take_hold(session, {v.id: 2}, now=T0)
    newer = holds.take_hold(session, {v.id: 2}, now=minutes(1))
    with pytest.raises(StockHeldError, match="held by shoppers"):
        inventory.adjust_stock(session, v.id, -2, reason="damaged", now=minutes(2))
    inventory.adjust_stock(session, v.id, -1, reason="damaged", now=minutes(2))  # the free unit
    result = inventory.adjust_stock(session, v.id, -1, reason="damaged", force=True, now=minutes(3))
    assert result.released_holds == (newer.ref,)
    assert holds.get_hold(session, older.ref, now=minutes(3)).is_live
    assert holds.get_hold(session, newer.ref, now=minutes(3)).state is HoldState.RELEASED
    assert_invariants(db, minutes(3))


def test_expired_holds_do_not_stop_an_adjustment(session, db):
    v = variant_with_stock(db, 3)
    holds.take_hold(session, {v.id: 3}, ttl_minutes=15, now=T0)
    inventory.adjust_stock(session, v.id, -3, reason="recount", now=minutes(15))
    assert on_hand(db, v.id) == 0


# ---------------------------------------------------------------- verify


def test_verify_names_each_broken_stock_invariant(session, db):
    v = variant_with_stock(db, 2)
    hold = holds.take_hold(session, {v.id: 2}, now=T0)
    db.execute(update(Variant).where(Variant.id == v.id).values(on_hand=1))
    db.execute(
        update(Reservation)
        .where(Reservation.hold_ref == hold.ref)
        .values(state=HoldState.COMMITTED)
    )
    db.commit()
    violations = verify.check_all(db, now=T0)
    text = "\n".join(violations)
    assert f"[ledger_matches_on_hand] {v.sku}: on_hand is 1 but the ledger sums to 2" in text
    assert "[hold_states_have_their_times]" in text
    assert "[sales_match_committed_holds]" in text
    db.execute(
        update(Reservation).where(Reservation.hold_ref == hold.ref).values(state=HoldState.ACTIVE)
    )
    db.commit()
    assert any(v.startswith("[holds_within_stock]") for v in verify.check_all(db, now=T0))
