"""A stateful property test: any interleaving of hold, extend, release, commit, expiry (a clock
we move), sweep, receive, adjust and back-order allocation keeps every invariant that
``flask holdfast verify`` checks, and the service agrees with a small model of the shop at
every step (what is available, which holds are refused and why)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from app.models import HoldState
from app.services.checks import invariants as verify
from app.services.stock import backorders, holds, inventory, sweeper
from app.services.stock.holds import HoldExpired, HoldLimitReached, HoldNotActive
from app.services.stock.ledger import InsufficientStock, StockError, StockHeldError
from tests.factories import variant_with_stock

MAX_TTL = 30  # short, so holds reach it within a few steps
STOCK = (6, 3, 1)  # the third variant allows back-orders
BACKORDER = (False, False, True)


@dataclass
class ModelHold:
    ref: str
    seq: int
    lines: dict[int, list[int]]  # variant index -> [quantity, backorder_quantity]
    created: datetime
    expires: datetime
    state: HoldState = HoldState.ACTIVE
    committed_at: datetime | None = None

    def effective(self, now: datetime) -> HoldState:
        if self.state is HoldState.ACTIVE and self.expires <= now:
            return HoldState.EXPIRED
        return self.state


@dataclass
class Model:
    on_hand: list[int]
    holds: dict[str, ModelHold] = field(default_factory=dict)
    seq: int = 0

    def held(self, i: int, now: datetime) -> int:
        return sum(
            h.lines[i][0] - h.lines[i][1]
            for h in self.holds.values()
            if i in h.lines and h.effective(now) is HoldState.ACTIVE
        )

    def owed(self, i: int) -> int:
        return sum(
            h.lines[i][1]
            for h in self.holds.values()
            if i in h.lines and h.state is HoldState.COMMITTED
        )

    def free(self, i: int, now: datetime) -> int:
        return max(0, self.on_hand[i] - self.held(i, now) - self.owed(i))


def _bo(hold):
    return [(line.variant_id, line.backorder_quantity) for line in hold.lines]


class StockMachine(RuleBasedStateMachine):
    """Class attributes ``session_factory``, ``db`` and ``clock`` are set by the test."""

    session_factory = None
    db = None
    clock = datetime(2030, 1, 1, tzinfo=UTC)

    hold_refs = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        cls.clock += timedelta(days=1)  # every example starts after the last one's holds end
        self.now = cls.clock
        self.session = cls.session_factory()
        self.variants = [
            variant_with_stock(cls.db, qty, allow_backorder=bo)
            for qty, bo in zip(STOCK, BACKORDER, strict=True)
        ]
        self.ids = [v.id for v in self.variants]
        self.model = Model(on_hand=list(STOCK))

    def teardown(self) -> None:
        type(self).clock = max(type(self).clock, self.now)
        self.session.close()

    # ------------------------------------------------------------ rules

    @rule(
        target=hold_refs,
        lines=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=3),
        ttl=st.integers(1, 20),
    )
    def take(self, lines, ttl):
        wanted: dict[int, int] = {}
        for i, q in lines:
            wanted[i] = wanted.get(i, 0) + q
        free = {i: self.model.free(i, self.now) for i in wanted}
        short = {i: free[i] for i, q in wanted.items() if q > free[i] and not BACKORDER[i]}
        try:
            hold = holds.take_hold(
                self.session, [(self.ids[i], q) for i, q in lines], ttl_minutes=ttl, now=self.now
            )
        except InsufficientStock as refused:
            assert short, f"refused with stock free: {refused.message}"
            got = {self.ids.index(s.variant_id): s.available for s in refused.shortfalls}
            assert got == short
            event("take: refused")
            return multiple()
        assert not short, "held beyond stock"
        event("take: held" + (" with back-order" if any(b for _, b in _bo(hold)) else ""))
        self.model.seq += 1
        self.model.holds[hold.ref] = ModelHold(
            hold.ref,
            self.model.seq,
            {i: [q, max(0, q - free[i])] for i, q in wanted.items()},
            self.now,
            self.now + timedelta(minutes=ttl),
        )
        got = {self.ids.index(line.variant_id): line.backorder_quantity for line in hold.lines}
        assert got == {i: v[1] for i, v in self.model.holds[hold.ref].lines.items()}
        return hold.ref

    @rule(ref=hold_refs, minutes=st.integers(1, 20))
    def extend(self, ref, minutes):
        h = self.model.holds.get(ref)
        if h is None:
            return
        state = h.effective(self.now)
        cap = h.created + timedelta(minutes=MAX_TTL)
        try:
            hold = holds.extend_hold(
                self.session, ref, minutes=minutes, max_ttl_minutes=MAX_TTL, now=self.now
            )
        except HoldExpired:
            assert state is HoldState.EXPIRED
            return
        except HoldNotActive:
            assert state in (HoldState.RELEASED, HoldState.COMMITTED)
            return
        except HoldLimitReached:
            assert state is HoldState.ACTIVE and h.expires >= cap
            event("extend: at the limit")
            return
        assert state is HoldState.ACTIVE
        h.expires = max(h.expires, min(self.now + timedelta(minutes=minutes), cap))
        assert hold.expires_at == h.expires <= cap

    @rule(ref=hold_refs)
    def release(self, ref):
        h = self.model.holds.get(ref)
        if h is None:
            return
        state = h.effective(self.now)
        try:
            hold = holds.release_hold(self.session, ref, now=self.now)
        except HoldNotActive:
            assert state is HoldState.COMMITTED
            return
        if state is HoldState.ACTIVE:
            h.state = HoldState.RELEASED
        elif state is HoldState.EXPIRED:
            h.state = HoldState.EXPIRED
        assert hold.state is h.state

    @rule(ref=hold_refs)
    def commit(self, ref):
        h = self.model.holds.get(ref)
        if h is None:
            return
        state = h.effective(self.now)
        try:
            holds.commit_hold(self.session, ref, now=self.now)
        except HoldExpired:
            assert state is HoldState.EXPIRED
            event("commit: refused, expired")
            return
        except HoldNotActive:
            assert state is HoldState.RELEASED
            return
        if state is HoldState.COMMITTED:
            return
        assert state is HoldState.ACTIVE
        event("commit: sold")
        for i, line in sorted(h.lines.items()):
            if line[1]:
                line[1] -= min(line[1], self.model.free(i, self.now))
            self.model.on_hand[i] -= line[0] - line[1]
        h.state = HoldState.COMMITTED
        h.committed_at = self.now

    @rule(minutes=st.sampled_from([1, 2, 5, 10, 20]))
    def advance_clock(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule()
    def sweep(self):
        result = sweeper.sweep_expired_holds(self.session, now=self.now, batch_size=2)
        expected = 0
        for h in self.model.holds.values():
            if h.state is HoldState.ACTIVE and h.expires <= self.now:
                h.state = HoldState.EXPIRED
                expected += 1
        assert result.expired >= expected  # earlier examples' holds may be swept too

    @rule(i=st.integers(0, 2), quantity=st.integers(1, 5))
    def receive(self, i, quantity):
        inventory.receive_stock(self.session, self.ids[i], quantity, now=self.now)
        self.model.on_hand[i] += quantity

    @rule(i=st.integers(0, 2), delta=st.integers(-5, 5).filter(bool), force=st.booleans())
    def adjust(self, i, delta, force):
        new = self.model.on_hand[i] + delta
        held = self.model.held(i, self.now)
        try:
            result = inventory.adjust_stock(
                self.session, self.ids[i], delta, reason="count", force=force, now=self.now
            )
        except StockHeldError:
            assert 0 <= new < held and not force
            event("adjust: refused, held")
            return
        except StockError:
            assert new < 0
            return
        assert new >= 0 and (new >= held or force)
        self.model.on_hand[i] = new
        expected = []
        live = sorted(
            (
                h
                for h in self.model.holds.values()
                if i in h.lines
                and h.effective(self.now) is HoldState.ACTIVE
                and h.lines[i][0] > h.lines[i][1]
            ),
            key=lambda h: (h.created, h.seq),
            reverse=True,
        )
        for h in live:
            if held <= new:
                break
            h.state = HoldState.RELEASED
            held -= h.lines[i][0] - h.lines[i][1]
            expected.append(h.ref)
        assert list(result.released_holds) == expected
        if expected:
            event("adjust: forced, released holds")

    @rule()
    def allocate_backorders(self):
        i = 2
        free = self.model.on_hand[i] - self.model.held(i, self.now)
        owed = sorted(
            (
                h
                for h in self.model.holds.values()
                if i in h.lines and h.state is HoldState.COMMITTED
            ),
            key=lambda h: (h.committed_at, h.seq),  # as the service: oldest sale first
        )
        for h in owed:
            take = min(h.lines[i][1], free)
            if h.lines[i][1] and take <= 0:
                break
            h.lines[i][1] -= take
            free -= take
            self.model.on_hand[i] -= take
        done = backorders.allocate_backorders(self.session, self.ids[i], now=self.now)
        if done:
            event("allocate: back-orders filled")

    # ------------------------------------------------------------ invariants

    @invariant()
    def every_invariant_holds(self):
        assert verify.check_all(type(self).db, now=self.now) == []

    @invariant()
    def availability_matches_the_model(self):
        self.session.rollback()
        avail = inventory.availability(self.session, self.ids, now=self.now)
        for i, vid in enumerate(self.ids):
            a = avail[vid]
            model = (
                self.model.on_hand[i],
                self.model.held(i, self.now),
                self.model.owed(i),
                self.model.free(i, self.now),
            )
            assert (a.on_hand, a.held, a.owed, a.available) == model


def test_any_interleaving_of_stock_operations_keeps_every_invariant(app, db, database_url):
    StockMachine.session_factory = app.extensions["holdfast.db"].session_factory
    StockMachine.db = db
    sqlite = database_url.startswith("sqlite")  # Postgres steps cost more: fewer, same rules
    run_state_machine_as_test(
        StockMachine,
        settings=settings(
            max_examples=25 if sqlite else 10,
            stateful_step_count=35 if sqlite else 30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
