"""License keys: importing a pool per digital variant, and claiming keys for order lines.

A key is never given to two lines: keys are claimed under the variant's lock (every path that
hands out keys locks the variant first) and, on Postgres, with ``FOR NO KEY UPDATE SKIP
LOCKED``, then moved to ``assigned`` with the line's id in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import KeyState, LicenseKey, ProductKind, Variant
from app.services import audit, locks
from app.services.errors import DomainError
from app.services.stock import inventory
from app.services.transactions import unit_of_work

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class ImportReport:
    sku: str
    imported: int
    duplicates_in_file: int
    already_known: int
    blank: int
    variant_id: int


@unit_of_work
def import_keys(
    session: Session,
    sku: str,
    lines: Iterable[str],
    *,
    actor: str = "system",
    now: datetime | None = None,
) -> ImportReport:
    """Add keys (one per line) to a digital variant's pool, refusing duplicates (within the
    file and against every key already known). The variant's stock grows by the number
    imported, through the ledger."""
    now = clock.now(now)
    variant_id = session.scalar(select(Variant.id).where(Variant.sku == sku))
    if variant_id is None:
        session.rollback()
        raise DomainError(f"No variant with SKU {sku}.")
    # The variant first (its stock grows below), before the keys that reference it.
    variant = locks.lock_variants(session, [variant_id])[variant_id]
    if variant.product.kind is not ProductKind.DIGITAL:
        session.rollback()
        raise DomainError(f"{sku} is not a digital product; it takes no license keys.")
    seen: set[str] = set()
    blank = dup_in_file = 0
    for raw in lines:
        code = raw.strip()
        if not code:
            blank += 1
        elif len(code) > MAX_KEY_LENGTH:
            session.rollback()
            raise DomainError(f"A key is longer than {MAX_KEY_LENGTH} characters: {code[:20]}…")
        elif code in seen:
            dup_in_file += 1
        else:
            seen.add(code)
    known = set(session.scalars(select(LicenseKey.code).where(LicenseKey.code.in_(seen))))
    fresh = sorted(seen - known)
    session.add_all(
        LicenseKey(variant_id=variant.id, code=code, imported_by=actor, imported_at=now)
        for code in fresh
    )
    if fresh:
        inventory.receive_stock(
            session, variant.id, len(fresh), reference="keys-import", actor=actor, commit=False
        )
    # Audited even when every key was refused: the attempt and its counts are on record.
    audit.record(
        session,
        "keys.imported",
        actor=actor,
        subject_type="variant",
        subject_id=variant.id,
        sku=sku,
        imported=len(fresh),
        already_known=len(known),
        duplicates_in_file=dup_in_file,
    )
    session.commit()
    return ImportReport(sku, len(fresh), dup_in_file, len(known), blank, variant.id)


def claim_keys(
    session: Session, variant_id: int, count: int, order_line_id: int, now: datetime
) -> list[LicenseKey]:
    """Assign up to ``count`` available keys of a variant to an order line, oldest first. The
    caller holds the variant's lock and owns the transaction."""
    if count <= 0:
        return []
    keys = locks.skip_locked(
        session,
        locks.Kind.KEY,
        (
            select(LicenseKey)
            .where(LicenseKey.variant_id == variant_id, LicenseKey.state == KeyState.AVAILABLE)
            .order_by(LicenseKey.id)
            .limit(count)
        ),
    )
    for key in keys:
        key.state = KeyState.ASSIGNED
        key.order_line_id = order_line_id
        key.assigned_at = now
    session.flush()
    return keys


def keys_for_lines(session: Session, line_ids: Iterable[int]) -> dict[int, list[str]]:
    """The codes delivered to each order line (for the buyer's order page and emails)."""
    out: dict[int, list[str]] = {}
    rows = session.execute(
        select(LicenseKey.order_line_id, LicenseKey.code)
        .where(LicenseKey.order_line_id.in_(list(line_ids)))
        .order_by(LicenseKey.id)
    ).all()
    for line_id, code in rows:
        out.setdefault(line_id, []).append(code)
    return out
