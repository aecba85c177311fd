"""Discount codes: each rule and the sentence the shopper is shown, and a limited code's uses
held like stock (hold, commit at payment, release, expiry with and without the sweeper). On
SQLite and Postgres; time moves through ``now`` instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.models import AuditLog, DiscountCode, DiscountHold, DiscountHoldState, DiscountKind
from app.services import locks
from app.services.checks import invariants as verify
from app.services.discounts import rules, uses
from app.services.errors import Conflict
from app.services.stock import sweeper
from tests.discount_helpers import make_checkout, make_code
from tests.factories import ProductFactory, VariantFactory

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=15)
# The rules only read: one backend is enough for their sentences (holds run on both).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _problems(db, now=None) -> list[str]:
    """``flask holdfast verify``'s findings, but the one matching uses to orders: these tests
    commit uses through the service alone, with no order (tests/integration/
    test_checkout_pricing.py and test_charged_as_shown.py pay real orders with codes)."""
    return [
        v for v in verify.check_all(db, now=now) if not v.startswith("[discount_uses_match_orders]")
    ]


def _session(app):
    return app.extensions["holdfast.db"].session_factory()


def _refusal(db, code, subtotal=5000, shopper="ann@example.com", now=NOW, **kwargs) -> str:
    with pytest.raises(rules.DiscountError) as refused:
        rules.validate(db, code, subtotal, shopper, now, **kwargs)
    return refused.value.message


def _code_row(db, code: str) -> DiscountCode:
    db.expire_all()
    return db.scalar(select(DiscountCode).where(DiscountCode.code == code))


# ---------------------------------------------------------------- rules


@sqlite_only
def test_a_code_is_found_whatever_its_case_and_an_unknown_one_is_named(db):
    make_code(db, "welcome10")
    assert rules.validate(db, " Welcome10 ", 5000, "ann@example.com", NOW).code == "WELCOME10"
    assert _refusal(db, "WELCOME20") == "There is no discount code “WELCOME20”. Check its spelling."
    assert _refusal(db, "   ") == "Enter a discount code."


@sqlite_only
def test_a_second_code_differing_only_in_case_is_refused(db):
    make_code(db, "SUMMER")
    with pytest.raises(rules.DiscountError, match="already a discount code SUMMER"):
        make_code(db, "summer")


@sqlite_only
def test_codes_refuse_impossible_settings(db):
    with pytest.raises(rules.DiscountError, match="at most 100 %"):
        make_code(db, "HUGE", value=10001)
    with pytest.raises(rules.DiscountError, match="needs a currency"):
        make_code(db, "FIVE", kind=DiscountKind.FIXED, value=500)
    with pytest.raises(rules.DiscountError, match="start before it ends"):
        make_code(db, "BACKWARDS", starts_at=LATER, ends_at=NOW)
    assert db.scalar(select(DiscountCode.id)) is None


@sqlite_only
def test_a_code_says_when_it_starts_and_when_it_ended(db):
    make_code(db, "SOON", starts_at=NOW + timedelta(days=1))
    make_code(db, "GONE", ends_at=NOW - timedelta(days=1))
    assert _refusal(db, "soon") == "The code SOON can be used from 8 Dec 2026, 12:00 UTC."
    assert _refusal(db, "gone") == "The code GONE ended on 6 Dec 2026, 12:00 UTC."
    assert rules.validate(db, "soon", 5000, "a@example.com", NOW + timedelta(days=2))


@sqlite_only
def test_a_minimum_spend_names_both_amounts(db):
    make_code(db, "BIG", min_spend_cents=10000)
    assert _refusal(db, "BIG", subtotal=9999) == (
        "The code BIG needs a subtotal of at least $100.00; yours is $99.99."
    )
    assert rules.validate(db, "BIG", 10000, "ann@example.com", NOW).code == "BIG"


@sqlite_only
def test_a_fixed_code_keeps_to_its_currency_and_a_product_code_to_its_products(db):
    shirt, mug = ProductFactory(), ProductFactory()
    make_code(db, "FIVEOFF", kind=DiscountKind.FIXED, value=500, currency="eur")
    make_code(db, "SHIRTS", product_ids=[shirt.id])
    assert _refusal(db, "FIVEOFF", currency="USD") == "The code FIVEOFF is for orders paid in EUR."
    assert _refusal(db, "SHIRTS", product_ids=[mug.id]) == (
        "The code SHIRTS does not apply to anything in your cart."
    )
    assert rules.validate(db, "SHIRTS", 5000, "a@example.com", NOW, product_ids=[mug.id, shirt.id])


@sqlite_only
def test_a_switched_off_code_reads_as_unknown(db):
    make_code(db, "OFF")
    db.execute(update(DiscountCode).values(active=False))
    assert _refusal(db, "OFF") == "There is no discount code “OFF”. Check its spelling."


def test_once_per_shopper_counts_uses_and_live_holds_of_that_shopper_only(app, db):
    make_code(db, "ONCE", once_per_shopper=True)
    ann = rules.shopper_key(email=" Ann@Example.COM ")
    session = _session(app)
    held = uses.hold_use(session, "once", None, ann, LATER, NOW)
    assert _refusal(db, "ONCE", shopper="ann@example.com") == (
        "The code ONCE is already applied to another checkout of yours; "
        "finish or cancel that one first."
    )
    uses.commit_use(session, held.hold_id, NOW)
    assert _refusal(db, "ONCE", shopper=ann) == "You have already used the code ONCE."
    assert rules.validate(db, "ONCE", 5000, "bob@example.com", NOW)
    with pytest.raises(rules.AlreadyUsedByShopper):
        uses.hold_use(session, "ONCE", None, ann, LATER, NOW)
    session.close()


def test_a_used_up_code_says_so_until_a_hold_expires(app, db):
    make_code(db, "ONE", usage_limit=1)
    session = _session(app)
    uses.hold_use(session, "ONE", None, "ann@example.com", LATER, NOW)
    assert _refusal(db, "ONE", shopper="bob@example.com") == "The code ONE has been used up."
    assert rules.validate(db, "ONE", 5000, "bob@example.com", LATER)  # Ann's hold ran out
    session.close()


# ---------------------------------------------------------------- holds


def test_a_held_use_is_committed_at_payment_once_however_often_asked(app, db):
    make_code(db, "PAY", usage_limit=5)
    checkout = make_checkout(db)
    session = _session(app)
    held = uses.hold_use(session, "pay", checkout, "ann@example.com", LATER, NOW)
    assert (held.state, held.checkout_id, held.code) == ("held", checkout, "PAY")
    again = uses.hold_use(session, "PAY", checkout, "ann@example.com", LATER, NOW)
    assert again.hold_id == held.hold_id  # applying it twice to one checkout is one hold
    extended = LATER + timedelta(minutes=5)  # ... and a later deadline moves it
    assert (
        uses.hold_use(session, "PAY", checkout, "ann@example.com", extended, NOW).expires_at
        == extended
    )
    for _ in range(2):
        assert uses.commit_use(session, held.hold_id, NOW).state == "committed"
    session.close()
    assert _code_row(db, "PAY").uses == 1
    actions = db.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == [
        "discount.created",
        "discount.held",
        "discount.extended",
        "discount.committed",
    ]
    assert _problems(db) == []


def test_an_expired_hold_frees_its_use_without_any_sweep(app, db):
    make_code(db, "LAST", usage_limit=1)
    session = _session(app)
    ann = uses.hold_use(session, "LAST", None, "ann@example.com", LATER, NOW)
    with pytest.raises(rules.CodeUsedUp, match="has been used up"):
        uses.hold_use(session, "LAST", None, "bob@example.com", LATER, NOW + timedelta(minutes=1))
    after = LATER + timedelta(seconds=1)
    bob = uses.hold_use(session, "LAST", None, "bob@example.com", after + (LATER - NOW), after)
    uses.commit_use(session, bob.hold_id, after)
    with pytest.raises(uses.CodeNoLongerAvailable) as late:
        uses.commit_use(session, ann.hold_id, after)
    session.close()
    assert late.value.message == (
        "The code LAST is no longer available: all its uses were taken before your payment arrived."
    )
    assert _code_row(db, "LAST").uses == 1
    assert db.get(DiscountHold, ann.hold_id).state is DiscountHoldState.HELD  # unchanged
    assert _problems(db, now=after) == []


def test_a_payment_after_the_deadline_still_counts_when_a_use_is_free(app, db):
    make_code(db, "SPARE", usage_limit=2)
    session = _session(app)
    held = uses.hold_use(session, "SPARE", None, "ann@example.com", LATER, NOW)
    late = uses.commit_use(session, held.hold_id, LATER + timedelta(minutes=5))
    session.close()
    assert late.state == "committed"
    assert _code_row(db, "SPARE").uses == 1
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "discount.committed")).one()
    assert entry.details["late"] is True


def test_release_gives_the_use_back_at_once_and_only_once(app, db):
    make_code(db, "BACK", usage_limit=1)
    session = _session(app)
    ann = uses.hold_use(session, "BACK", None, "ann@example.com", LATER, NOW)
    assert uses.release(session, ann.hold_id, "cancelled", NOW).state == "released"
    assert uses.release(session, ann.hold_id, "failed", NOW).state == "released"
    bob = uses.hold_use(session, "BACK", None, "bob@example.com", LATER, NOW)
    uses.commit_use(session, bob.hold_id, NOW)
    with pytest.raises(Conflict, match="used at payment"):
        uses.release(session, bob.hold_id, "cancelled", NOW)
    with pytest.raises(uses.CodeNoLongerAvailable):  # Ann's late payment: no use left
        uses.commit_use(session, ann.hold_id, NOW)
    session.close()
    row = db.get(DiscountHold, ann.hold_id)
    assert (row.state, row.released_reason) == (DiscountHoldState.RELEASED, "cancelled")
    assert (
        db.scalar(select(AuditLog.details).where(AuditLog.action == "discount.released"))["reason"]
        == "cancelled"
    )
    assert _problems(db) == []


def test_a_minimum_spend_is_checked_again_when_the_use_is_held(app, db):
    make_code(db, "MIN", min_spend_cents=3000, usage_limit=3)
    session = _session(app)
    with pytest.raises(rules.DiscountError, match="at least \\$30.00; yours is \\$29.00"):
        uses.hold_use(session, "MIN", None, "a@example.com", LATER, NOW, subtotal_cents=2900)
    session.close()
    assert db.scalar(select(DiscountHold.id)) is None


def test_the_sweeper_releases_expired_holds_and_leaves_live_ones(app, db):
    make_code(db, "SWEEP", usage_limit=3)
    session = _session(app)
    old = uses.hold_use(session, "SWEEP", None, "a@example.com", NOW + timedelta(minutes=1), NOW)
    live = uses.hold_use(session, "SWEEP", None, "b@example.com", LATER, NOW)
    result = sweeper.sweep_expired_holds(session, now=NOW + timedelta(minutes=2), batch_size=1)
    again = sweeper.sweep_expired_holds(session, now=NOW + timedelta(minutes=2))
    session.close()
    assert (result.discount_holds_released, again.discount_holds_released) == (1, 0)
    swept = db.get(DiscountHold, old.hold_id)
    assert (swept.state, swept.released_reason) == (DiscountHoldState.RELEASED, "expired")
    assert swept.released_at == swept.expires_at
    assert db.get(DiscountHold, live.hold_id).state is DiscountHoldState.HELD
    assert (
        db.scalar(select(AuditLog.details).where(AuditLog.action == "discount.released"))["hold_id"]
        == old.hold_id
    )


def test_flask_holdfast_verify_names_a_code_whose_uses_do_not_match_its_holds(app, db):
    make_code(db, "TAMPER", usage_limit=5)
    session = _session(app)
    held = uses.hold_use(session, "TAMPER", None, "a@example.com", LATER, NOW)
    uses.commit_use(session, held.hold_id, NOW)
    session.close()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["holdfast", "verify", "--offline"]).exit_code == 0
    db.execute(update(DiscountCode).values(uses=3))
    result = runner.invoke(args=["holdfast", "verify", "--offline"])
    assert result.exit_code == 1
    assert (
        "VIOLATION [discount_uses_match_committed_holds] code TAMPER: uses is 3 but 1 holds "
        "are committed"
    ) in result.output


def test_verify_names_live_holds_beyond_a_limit_and_forgets_them_once_expired(app, db):
    make_code(db, "SHRUNK", usage_limit=5)
    session = _session(app)
    for shopper in ("a@example.com", "b@example.com", "c@example.com"):
        held = uses.hold_use(session, "SHRUNK", None, shopper, LATER, NOW)
    uses.commit_use(session, held.hold_id, NOW)
    session.close()
    db.execute(update(DiscountCode).values(usage_limit=2))  # the owner lowered it by hand
    assert _problems(db, now=NOW) == [
        "[discount_holds_within_limit] code SHRUNK: 1 uses and 2 live holds exceed its limit of 2"
    ]
    assert _problems(db, now=LATER) == []


def test_the_database_refuses_uses_beyond_the_limit(db):
    make_code(db, "CAP", usage_limit=1)
    with pytest.raises(Exception, match="(?i)check"):
        db.execute(update(DiscountCode).values(uses=2))


@sqlite_only
def test_a_code_is_locked_after_a_checkouts_stock_and_before_license_keys(app, db):
    code = make_code(db, "ORDER")
    variant = VariantFactory()
    session = _session(app)
    locks.lock_variants(session, [variant.id])
    locks.lock_discount_code(session, code.id)  # stock hold first, then the code: in order
    session.rollback()
    locks.lock_discount_code(session, code.id)
    with pytest.raises(locks.LockOrderViolation, match="locked variant"):
        locks.lock_variants(session, [variant.id])
    session.rollback()
    session.close()
