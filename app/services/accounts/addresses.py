"""A shopper's saved addresses: kept from checkout ("Save this address to my account"), listed
on the account page (make default, delete), and filling the checkout form of a logged-in
shopper (the one they pick, else their default, else the last one they used).

Every address belongs to one user; asked for by anyone else it does not exist (404). At most
one per user is the default; the first one saved becomes it. Saving an address the shopper
already has does not add a second copy: it becomes the last one used.

Locks: the user's row (``locks.lock_user``), so two tabs saving or re-defaulting at once take
turns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock
from app.input_guard import MAX_ID
from app.models import Order, SavedAddress
from app.services import locks
from app.services.checkout.pipeline import ADDRESS_FIELDS, Address
from app.services.errors import NotFound
from app.services.transactions import unit_of_work

# What a saved address keeps: the checkout's address without the email (the account's own).
SAVED_FIELDS = tuple(name for name in ADDRESS_FIELDS if name != "email")
MAX_SAVED = 20  # per account; saving one more replaces the least recently used


class AddressNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("That address is not in your account.")


def addresses_of(session: Session, user_id: int) -> list[SavedAddress]:
    """The account's addresses: the default first, then the most recently used."""
    return list(
        session.scalars(
            select(SavedAddress)
            .where(SavedAddress.user_id == user_id)
            .order_by(
                SavedAddress.is_default.desc(),
                SavedAddress.updated_at.desc(),
                SavedAddress.id.desc(),
            )
        )
    )


def owned(session: Session, user_id: int, address_id: int) -> SavedAddress:
    """One of the user's addresses; anyone else's (or none) is :class:`AddressNotFound`."""
    row = session.get(SavedAddress, address_id) if 0 < address_id <= MAX_ID else None
    if row is None or row.user_id != user_id:
        raise AddressNotFound()
    return row


def _same(row: SavedAddress, address: Address) -> bool:
    return all(
        getattr(row, name).casefold() == getattr(address, name).casefold() for name in SAVED_FIELDS
    )


@unit_of_work
def save_address(
    session: Session, user_id: int, address: Address, *, now: datetime | None = None
) -> SavedAddress:
    """Keep ``address`` in the account (or mark the copy it has as just used)."""
    now = clock.now(now)
    locks.lock_user(session, user_id)
    rows = addresses_of(session, user_id)
    row = next((r for r in rows if _same(r, address)), None)
    if row is None:
        for stale in rows[MAX_SAVED - 1 :]:
            if not stale.is_default:
                session.delete(stale)
        values = {name: getattr(address, name) for name in SAVED_FIELDS}
        row = SavedAddress(user_id=user_id, created_at=now, **values)
        row.is_default = not any(r.is_default for r in rows)
        session.add(row)
    row.updated_at = now
    session.commit()
    return row


@unit_of_work
def make_default(session: Session, user_id: int, address_id: int) -> SavedAddress:
    locks.lock_user(session, user_id)
    row = owned(session, user_id, address_id)
    session.execute(
        update(SavedAddress)
        .where(SavedAddress.user_id == user_id, SavedAddress.id != row.id)
        .values(is_default=False)
    )
    row.is_default = True
    session.commit()
    return row


@unit_of_work
def delete_address(session: Session, user_id: int, address_id: int) -> None:
    """Forget one address; when it was the default, the most recently used one left is."""
    locks.lock_user(session, user_id)
    row = owned(session, user_id, address_id)
    was_default = row.is_default
    session.delete(row)
    session.flush()
    if was_default:
        rest = addresses_of(session, user_id)
        if rest:
            rest[0].is_default = True
    session.commit()


def prefill(session: Session, user_id: int, address_id: int | None = None) -> dict[str, str] | None:
    """The checkout form's address for a logged-in shopper: the saved one they picked, else
    their default, else the last used, else the address of their latest order (None: none)."""
    if address_id is not None:
        row = owned(session, user_id, address_id)
    else:
        saved = addresses_of(session, user_id)
        row = saved[0] if saved else _latest_order(session, user_id)
    if row is None:
        return None
    return {name: getattr(row, name) for name in SAVED_FIELDS}


def _latest_order(session: Session, user_id: int) -> Order | None:
    return session.scalar(
        select(Order)
        .where(Order.user_id == user_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
    )
