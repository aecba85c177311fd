"""The stock rules that need no database: availability arithmetic, refusals a shopper reads,
the hold state table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import clock
from app.models import HoldState, Reservation
from app.services.stock import holds, inventory
from app.services.stock.holds import HOLD_TRANSITIONS, Hold, HoldLine, HoldNotActive
from app.services.stock.inventory import Availability
from app.services.stock.ledger import InsufficientStock, Shortfall, StockError

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_available_is_on_hand_less_live_holds_and_owed_back_orders_never_negative():
    assert Availability(1, on_hand=10, held=3, allow_backorder=False, owed=2).available == 5
    assert Availability(1, on_hand=2, held=0, allow_backorder=True, owed=5).available == 0


def test_only_back_order_variants_can_take_more_than_is_available():
    plain = Availability(1, on_hand=3, held=1, allow_backorder=False)
    backorder = Availability(2, on_hand=3, held=1, allow_backorder=True)
    assert plain.can_take(2) and not plain.can_take(3)
    assert backorder.can_take(50)


def test_a_refusal_tells_the_shopper_each_item_and_how_many_are_left():
    refused = InsufficientStock(
        [
            Shortfall(1, "TOTE-L", "Waxed Tote — Large", requested=3, available=2),
            Shortfall(2, "MUG", "Enamel Mug", requested=1, available=0),
        ]
    )
    assert refused.message == (
        "Only 2 of Waxed Tote — Large left; you asked for 3. Enamel Mug is sold out."
    )
    assert refused.status_code == 409
    assert isinstance(refused, StockError)


def test_cart_lines_are_summed_per_variant_and_must_be_positive():
    assert holds.sum_lines([(1, 2), (2, 1), (1, 3)]) == {1: 5, 2: 1}
    assert holds.sum_lines({4: 1}) == {4: 1}
    with pytest.raises(StockError):
        holds.sum_lines([(1, 2), (1, -1)])
    with pytest.raises(StockError):
        holds.sum_lines([])


def test_only_an_active_hold_may_change_state_and_each_state_stamps_its_time():
    assert HOLD_TRANSITIONS[HoldState.ACTIVE] == {
        HoldState.COMMITTED,
        HoldState.RELEASED,
        HoldState.EXPIRED,
    }
    row = Reservation(state=HoldState.ACTIVE, expires_at=T0)
    holds.move_rows([row], HoldState.EXPIRED, T0 + timedelta(hours=1))
    assert row.expired_at == T0  # it stopped counting at its deadline
    for final in (HoldState.COMMITTED, HoldState.RELEASED, HoldState.EXPIRED):
        with pytest.raises(HoldNotActive):
            holds.move_rows([Reservation(state=final, expires_at=T0)], HoldState.RELEASED, T0)


def test_an_active_hold_past_its_deadline_reads_as_expired():
    row = Reservation(state=HoldState.ACTIVE, expires_at=T0)
    assert holds.effective_state(row, T0 - timedelta(seconds=1)) is HoldState.ACTIVE
    assert holds.effective_state(row, T0) is HoldState.EXPIRED


def test_a_hold_counts_down_to_its_deadline():
    hold = Hold(
        "r", HoldState.ACTIVE, T0, T0 + timedelta(minutes=15), 0, None, (HoldLine(1, "A", 1),)
    )
    assert hold.seconds_left(T0 + timedelta(minutes=14)) == 60
    assert hold.seconds_left(T0 + timedelta(minutes=16)) == 0


def test_services_refuse_a_clock_without_a_timezone():
    with pytest.raises(ValueError):
        clock.now(datetime(2030, 1, 1))
    with pytest.raises(ValueError):
        inventory.availability_of(None, 1, now=datetime(2030, 1, 1))


def test_the_sweep_interval_comes_from_the_settings():
    from app.jobs import sweep_interval_seconds

    assert sweep_interval_seconds({}) == 300
    assert sweep_interval_seconds({"HOLD_SWEEP_INTERVAL_MINUTES": "2"}) == 120
