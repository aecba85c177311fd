"""Every path that takes a row lock, as the route, CLI command or job runs it, for racing them
against each other (``tests/integration/test_lock_order.py``).

A *world* is a small shop whose paths all meet on the same rows: two physical variants
(V1, V2), a back-orderable one (V3) and a digital one with license keys (D). Orders have lines
in descending variant order, so a path that locks line by line instead of in id order is caught.

Each path has a builder, run in the test's process, that makes ``n`` items for it (carts,
checkouts, paid orders, ...), and a runner, run in a worker process, that acts on one item the
way the shop does. A runner raising a :class:`~app.services.errors.DomainError` is a refusal
the shopper or owner would see (the other path got there first); anything else is a failure.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.models import (
    Cart,
    CartLine,
    Category,
    Checkout,
    Order,
    Product,
    ProductKind,
    Return,
    Variant,
)
from app.providers import get_provider
from app.services.checkout import adjust, cart, review
from app.services.checkout import pipeline as checkout
from app.services.discounts import codes
from app.services.orders import aftersales, completion, fulfilment, refunds
from app.services.orders import order_book as orders
from app.services.payments import authorize as payments
from app.services.stock import holds, inventory, keys, sweeper

ADDRESS = checkout.Address(
    "race@example.com", "Race Tester", "1 Lock Lane", "Deadlock", "12345", "US"
)
FAR_FUTURE = timedelta(minutes=20)
RACE_CODE = "RACE5"  # limited, so each use is held under the code's row lock


@dataclass(frozen=True)
class World:
    v1: int
    v2: int
    v3: int
    d: int


@dataclass
class Context:
    """What a runner needs: a session factory and the app's settings."""

    session_factory: Callable
    config: dict[str, Any]

    def providers(self, name: str):
        return get_provider(name, self.config)

    @property
    def links(self) -> orders.OrderLinks:
        return orders.OrderLinks.from_config(self.config)

    def settings(self) -> checkout.Settings:
        return checkout.Settings(15, 60, 1.0)


# ---------------------------------------------------------------- the world


def make_world(session) -> World:
    category = Category(slug=f"c-{secrets.token_hex(3)}", name="Race", description="")
    session.add(category)
    ids = []
    for n, (kind, backorder) in enumerate(
        [
            (ProductKind.PHYSICAL, False),
            (ProductKind.PHYSICAL, False),
            (ProductKind.PHYSICAL, True),
            (ProductKind.DIGITAL, True),
        ]
    ):
        product = Product(
            slug=f"p-{n}-{secrets.token_hex(3)}",
            name=f"Racer {n}",
            description="",
            kind=kind,
            category=category,
        )
        variant = Variant(
            product=product,
            sku=f"RACE-{n}-{secrets.token_hex(3)}",
            name="",
            price_cents=1000 + n * 100,
            currency="USD",
            on_hand=0,
            allow_backorder=backorder,
        )
        session.add_all([product, variant])
        session.flush()
        ids.append(variant.id)
    session.commit()
    for vid, units in zip(ids[:2], (100_000, 100_000), strict=True):
        inventory.receive_stock(session, vid, units, reference="race")
    codes.create_code(session, RACE_CODE, value=500, usage_limit=1_000_000)
    d_sku = session.get(Variant, ids[3]).sku
    keys.import_keys(session, d_sku, [f"KEY-{secrets.token_hex(6)}" for _ in range(20)])
    return World(*ids)


def _cart_with(session, lines: list[tuple[int, int]]) -> int:
    """A guest cart whose lines were added in the order given."""
    c = cart.ensure_cart(session, token=cart.new_token())
    session.commit()
    for vid, qty in lines:
        session.add(CartLine(cart_id=c.id, variant_id=vid, quantity=qty))
    session.commit()
    return c.id


def _start(session, cart_id: int) -> Checkout:
    """A checkout with the world's limited code applied, as a shopper does on the review page
    (so every path that ends, pays or sweeps a checkout also takes the code's locks)."""
    started = checkout.start_checkout(session, cart_id, ADDRESS, owner_key="c:race")
    return adjust.apply_code(session, started.id, RACE_CODE)


def _lines(world: World, digital: bool = False) -> list[tuple[int, int]]:
    lines = [(world.v3, 1), (world.v2, 1), (world.v1, 2)]  # descending ids on purpose
    return ([(world.d, 1)] if digital else []) + lines


def _approved(ctx: Context, session, world: World) -> tuple[int, str]:
    """A checkout whose testpay payment the shopper approved; nothing reported it yet."""
    c = _start(session, _cart_with(session, _lines(world)))
    provider = ctx.providers("testpay")
    urls = payments.Urls("http://shop.test/return", "http://shop.test/cancel")
    payments.authorize_payment(session, c.id, provider, urls, settings=ctx.settings())
    ref = completion.latest_payment(session, c.id).provider_ref
    session.rollback()
    provider.decide(ref, True)
    return c.id, ref


def _paid_order(ctx: Context, session, world: World, digital: bool = False) -> str:
    c = _start(session, _cart_with(session, _lines(world, digital)))
    provider = ctx.providers("testpay")
    urls = payments.Urls("http://shop.test/return", "http://shop.test/cancel")
    payments.authorize_payment(session, c.id, provider, urls, settings=ctx.settings())
    ref = completion.latest_payment(session, c.id).provider_ref
    session.rollback()
    provider.decide(ref, True)
    result = completion.complete_payment(session, provider, ref, source="return", links=ctx.links)
    assert result.outcome == "completed", result
    return result.order_number


# ---------------------------------------------------------------- builders (test process)


def build_cart_change(ctx, session, world, n):
    """Carts whose checkout holds stock: changing the cart cancels it and releases the hold."""
    out = []
    for _ in range(n):
        cart_id = _cart_with(session, _lines(world))
        _start(session, cart_id)
        out.append(cart_id)
    return out


def build_checkout_start(ctx, session, world, n):
    """Carts with a checkout in progress: placing the order again replaces it (the re-submit)."""
    return build_cart_change(ctx, session, world, n)


def build_reserved(ctx, session, world, n):
    return [_start(session, _cart_with(session, _lines(world))).id for _ in range(n)]


def build_approved(ctx, session, world, n):
    return [_approved(ctx, session, world)[1] for _ in range(n)]


def build_paid(ctx, session, world, n):
    return [_paid_order(ctx, session, world) for _ in range(n)]


def build_shipped_with_return(ctx, session, world, n):
    out = []
    for _ in range(n):
        number = _paid_order(ctx, session, world)
        order = session.scalar(select(Order).where(Order.number == number))
        # The back-ordered V3 unit must arrive before the order can ship whole; ship what is in.
        aftersales.ship_order(
            session, number, carrier="Post", tracking="T1", actor="race", links=ctx.links
        )
        line = next(x for x in order.lines if x.variant_id == world.v1)
        ret = aftersales.request_return(session, number, line.id, 1, "too small", actor="race")
        out.append(ret.id)
    return out


def build_count(ctx, session, world, n):
    return list(range(n))


def build_expired_holds(ctx, session, world, n):
    past = datetime.now(UTC) - timedelta(hours=1)
    for _ in range(n):
        holds.take_hold(session, [(world.v2, 1), (world.v1, 1)], ttl_minutes=1, now=past)
    return list(range(max(1, n // 4)))


def build_waiting(ctx, session, world, n):
    """Orders waiting for back-ordered V3 units and D keys (the fills' customers)."""
    for _ in range(n):
        _paid_order(ctx, session, world)
    return list(range(n))


# ---------------------------------------------------------------- runners (worker process)


def run_cart_change(ctx, session, world, cart_id):
    cart.add_item(session, cart_id, world.v1, 1)


def run_checkout_start(ctx, session, world, cart_id):
    _start(session, cart_id)


def run_extend(ctx, session, world, checkout_id):
    review.extend_checkout(session, checkout_id, settings=ctx.settings())


def run_code_swap(ctx, session, world, checkout_id):
    """The shopper removes the code and applies it again."""
    adjust.remove_code(session, checkout_id)
    adjust.apply_code(session, checkout_id, RACE_CODE)


def run_pay(ctx, session, world, checkout_id):
    urls = payments.Urls("http://shop.test/return", "http://shop.test/cancel")
    payments.authorize_payment(
        session, checkout_id, ctx.providers("testpay"), urls, settings=ctx.settings()
    )


def run_completion(ctx, session, world, ref):
    completion.complete_payment(
        session, ctx.providers("testpay"), ref, source="return", links=ctx.links
    )


def run_late_payment(ctx, session, world, ref):
    completion.complete_payment(
        session,
        ctx.providers("testpay"),
        ref,
        source="webhook",
        links=ctx.links,
        now=datetime.now(UTC) + FAR_FUTURE,
    )


def run_cancel(ctx, session, world, number):
    aftersales.cancel_order(session, ctx.providers, number, actor="race", links=ctx.links)


def run_refund(ctx, session, world, number):
    order = session.scalar(select(Order).where(Order.number == number))
    restock = {line.id: 1 for line in order.lines if line.quantity_fulfilled}
    session.rollback()
    refunds.refund_order(
        session,
        ctx.providers,
        number,
        amount_cents=500,
        reason="race",
        restock=restock,
        actor="race",
        links=ctx.links,
    )


def run_returns(ctx, session, world, return_id):
    aftersales.receive_return(session, ctx.providers, return_id, actor="race", links=ctx.links)


def run_stock_adjust(ctx, session, world, n):
    """The owner takes away more than is free (``--force`` releases the newest holds), then puts
    it back; stock arriving for V3 fills waiting orders."""
    vid = world.v1 if n % 2 else world.v2
    stock = inventory.availability_of(session, vid)
    session.rollback()
    take = stock.available + min(2, stock.held)  # into the held units when there are any
    inventory.adjust_stock(session, vid, -take, reason="race", force=True, actor="race")
    inventory.adjust_stock(session, vid, take, reason="race", actor="race")
    inventory.adjust_stock(session, world.v3, 1, reason="race", actor="race")
    fulfilment.fill_waiting(session, world.v3, links=ctx.links)


def run_key_import(ctx, session, world, n):
    sku = session.get(Variant, world.d).sku
    session.rollback()
    keys.import_keys(session, sku, [f"NEW-{secrets.token_hex(8)}" for _ in range(2)], actor="race")
    fulfilment.fill_waiting(session, world.d, links=ctx.links)


def run_backorder_fill(ctx, session, world, n):
    inventory.receive_stock(session, world.v3, 1, reference="race", actor="race")
    fulfilment.fill_waiting(session, world.v3, links=ctx.links)


def run_sweep(ctx, session, world, n):
    sweeper.sweep_expired_holds(session, batch_size=3, trigger="race")


@dataclass(frozen=True)
class LockPath:
    name: str
    build: Callable
    run: Callable
    items: int


PATHS: dict[str, LockPath] = {
    p.name: p
    for p in [
        LockPath("cart_change", build_cart_change, run_cart_change, 4),
        LockPath("checkout_start", build_checkout_start, run_checkout_start, 4),
        LockPath("extend", build_reserved, run_extend, 4),
        LockPath("pay", build_reserved, run_pay, 4),
        LockPath("code_swap", build_reserved, run_code_swap, 4),
        LockPath("completion", build_approved, run_completion, 4),
        LockPath("late_payment", build_approved, run_late_payment, 4),
        LockPath("cancel", build_paid, run_cancel, 4),
        LockPath("refund", build_paid, run_refund, 4),
        LockPath("returns", build_shipped_with_return, run_returns, 3),
        LockPath("stock_adjust", build_count, run_stock_adjust, 4),
        LockPath("key_import", build_waiting, run_key_import, 3),
        LockPath("backorder_fill", build_waiting, run_backorder_fill, 4),
        LockPath("sweep", build_expired_holds, run_sweep, 8),
    ]
}


# ---------------------------------------------------------------- double clicks


def run_refund_once(ctx, session, world, number):
    """The owner's refund button, clicked twice: one idempotency key per click of the page."""
    refunds.refund_order(
        session,
        ctx.providers,
        number,
        amount_cents=700,
        reason="race",
        actor="race",
        idempotency_key=f"page-{number}",
        links=ctx.links,
    )


def check_cancelled_once(session, items) -> None:
    from app.models import OrderStatus, Payment, Refund

    for number in items:
        order = session.scalar(select(Order).where(Order.number == number))
        assert order.status is OrderStatus.CANCELLED, (number, order.status)
        payment = session.scalar(select(Payment).where(Payment.order_id == order.id))
        assert payment.refunded_cents == payment.captured_cents, number
        assert len(session.scalars(select(Refund).where(Refund.order_id == order.id)).all()) == 1


def check_paid_once(session, items) -> None:
    from app.models import Payment

    for checkout_id in items:
        assert (
            len(session.scalars(select(Payment).where(Payment.checkout_id == checkout_id)).all())
            == 1
        ), checkout_id


def check_refunded_once(session, items) -> None:
    from app.models import Payment

    for number in items:
        order = session.scalar(select(Order).where(Order.number == number))
        payment = session.scalar(select(Payment).where(Payment.order_id == order.id))
        assert payment.refunded_cents == 700, (number, payment.refunded_cents)


@dataclass(frozen=True)
class DoubleClick:
    name: str
    build: Callable
    run: Callable
    check: Callable
    items: int


DOUBLE_CLICKS: dict[str, DoubleClick] = {
    d.name: d
    for d in [
        DoubleClick("cancel_twice", build_paid, run_cancel, check_cancelled_once, 5),
        DoubleClick("pay_twice", build_reserved, run_pay, check_paid_once, 5),
        DoubleClick("refund_twice", build_paid, run_refund_once, check_refunded_once, 5),
    ]
}


def returns_of(session) -> list[int]:
    return list(session.scalars(select(Return.id)))


def carts_of(session) -> list[int]:
    return list(session.scalars(select(Cart.id)))
