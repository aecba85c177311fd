"""The checkout's and the outbox's transition tables: the one mover of each follows its table,
refuses every other move and leaves the row as it was; every state is reachable from the first;
a move a shopper or the mailer can make is recorded."""

from __future__ import annotations

import itertools

import pytest

from app.models import Checkout, CheckoutState, OutboxMessage, OutboxState
from app.models.outbox import TRANSITIONS as OUTBOX_TRANSITIONS
from app.services.checkout.states import TRANSITIONS, IllegalTransition, Phase, transition
from app.services.mail.outbox import OutboxError, move


class Recorder:
    """Stands in for the session: ``transition`` only adds its event row."""

    def __init__(self) -> None:
        self.added: list = []

    def add(self, row) -> None:
        self.added.append(row)


def reachable(table, start):
    seen, todo = {start}, [start]
    while todo:
        for nxt in table[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize("start,to", list(itertools.product(CheckoutState, CheckoutState)))
def test_a_checkout_moves_only_along_its_table_and_each_move_is_an_event(start, to):
    checkout = Checkout(public_id="co-test", state=start, phase="price_lock", active_cart_id=7)
    session = Recorder()
    if to in TRANSITIONS[start]:
        transition(session, checkout, to, Phase.PAYMENT_AUTHORIZATION, "moved")
        assert checkout.state is to
        [event] = session.added
        assert (event.kind, event.details["from"], event.details["to"]) == (
            "transition",
            start.value,
            to.value,
        )
    else:
        with pytest.raises(IllegalTransition):
            transition(session, checkout, to, Phase.PAYMENT_AUTHORIZATION)
        assert (checkout.state, session.added) == (start, [])


def test_an_ended_checkout_frees_its_cart_and_a_completed_one_is_final():
    checkout = Checkout(public_id="co-test", state=CheckoutState.RESERVED, active_cart_id=7)
    transition(Recorder(), checkout, CheckoutState.EXPIRED, Phase.INVENTORY_RESERVATION)
    assert checkout.active_cart_id is None and checkout.ended_at is not None
    assert TRANSITIONS[CheckoutState.COMPLETED] == frozenset()
    assert reachable(TRANSITIONS, CheckoutState.RESERVED) == set(CheckoutState)


@pytest.mark.parametrize("start,to", list(itertools.product(OutboxState, OutboxState)))
def test_an_email_moves_only_along_the_outbox_table(start, to):
    message = OutboxMessage(id=1, state=start)
    if to in OUTBOX_TRANSITIONS[start]:
        move(message, to)
        assert message.state is to
    else:
        with pytest.raises(OutboxError, match=f"cannot become {to.value}"):
            move(message, to)
        assert message.state is start


def test_a_sent_email_is_final_and_every_state_is_reachable():
    assert OUTBOX_TRANSITIONS[OutboxState.SENT] == frozenset()
    assert reachable(OUTBOX_TRANSITIONS, OutboxState.PENDING) == set(OutboxState)
