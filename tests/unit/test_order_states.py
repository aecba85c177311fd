"""The order's transition table: every status has its moves, set_status follows the table and
refuses everything else, and every status can be reached from a new order."""

from __future__ import annotations

import itertools

import pytest

from app.models import ORDER_TRANSITIONS, Order, OrderStatus
from app.services.orders.order_book import IllegalOrderMove, set_status


def test_every_status_has_its_moves_and_a_cancelled_order_is_final():
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert ORDER_TRANSITIONS[OrderStatus.CANCELLED] == frozenset()
    assert ORDER_TRANSITIONS[OrderStatus.PENDING_PAYMENT] == {
        OrderStatus.PAID,
        OrderStatus.CANCELLED,
    }


@pytest.mark.parametrize("start,to", list(itertools.product(OrderStatus, OrderStatus)))
def test_set_status_moves_only_along_the_table(start, to):
    order = Order(number="HF-TEST", status=start)
    if to is start or to in ORDER_TRANSITIONS[start]:
        set_status(order, to)
        assert order.status is to
    else:
        with pytest.raises(IllegalOrderMove, match=f"{start} → {to}"):
            set_status(order, to)
        assert order.status is start


def test_every_status_is_reachable_from_a_new_order():
    seen, todo = {OrderStatus.PENDING_PAYMENT}, [OrderStatus.PENDING_PAYMENT]
    while todo:
        for nxt in ORDER_TRANSITIONS[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen == set(OrderStatus)
