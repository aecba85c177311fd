"""One variant's stock in the admin: its level (on hand, held, owed, available), its ledger
paged newest first, its live holds and, for a digital variant, its key pool. Changes go through
the stock services (``inventory.adjust_stock``, ``keys.import_keys``); this module reads, and
turns an uploaded key file into lines."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    KeyState,
    LicenseKey,
    Product,
    ProductKind,
    Reservation,
    StockMovement,
    Variant,
)
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.errors import DomainError
from app.services.stock import inventory

LEDGER_PER_PAGE = 20
MAX_KEY_FILE_BYTES = 2 * 1024 * 1024
HEADERS = {"key", "keys", "code", "license", "license key", "license_key"}


@dataclass(frozen=True)
class StockView:
    variant: Variant
    level: inventory.StockLevel
    ledger: Page[StockMovement]
    live_holds: list[Reservation]
    keys_available: int
    keys_assigned: int

    @property
    def digital(self) -> bool:
        return self.variant.product.kind is ProductKind.DIGITAL

    @property
    def low(self) -> bool:
        return self.level.available <= self.variant.low_stock_threshold


def variant_stock(session: Session, variant: Variant, page: int = 1) -> StockView:
    detail = inventory.stock_detail(session, variant.sku, movements=0)
    ledger = paged(
        session,
        select(StockMovement)
        .where(StockMovement.variant_id == variant.id)
        .order_by(StockMovement.id.desc()),
        page,
        LEDGER_PER_PAGE,
    )
    keys = dict(
        session.execute(
            select(LicenseKey.state, func.count())
            .where(LicenseKey.variant_id == variant.id)
            .group_by(LicenseKey.state)
        ).all()
    )
    return StockView(
        variant,
        detail.level,
        ledger,
        detail.live_holds,
        keys.get(KeyState.AVAILABLE, 0),
        keys.get(KeyState.ASSIGNED, 0),
    )


def key_lines(pasted: str, upload: bytes | None) -> list[str]:
    """The keys of a paste and/or an uploaded CSV or text file: one per line, or the first
    column of a CSV (a header such as ``key`` or ``code`` is skipped). Blank lines stay in, for
    the import to count."""
    texts = [pasted or ""]
    if upload:
        if len(upload) > MAX_KEY_FILE_BYTES:
            raise DomainError("That key file is over 2 MB; split it.")
        try:
            texts.append(upload.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise DomainError(
                "That key file is not UTF-8 text (CSV or one key per line)."
            ) from None
    lines: list[str] = []
    for text in texts:
        for row in csv.reader(io.StringIO(text)):
            lines.append(row[0] if row else "")
    if lines and lines[0].strip().lower() in HEADERS:
        lines = lines[1:]
    if not any(line.strip() for line in lines):
        raise DomainError("Paste keys (one per line) or choose a file of keys.")
    return lines


@dataclass(frozen=True)
class LevelRow:
    level: inventory.StockLevel
    threshold: int
    product_id: int

    @property
    def low(self) -> bool:
        return self.level.available <= self.threshold


def stock_list(session: Session, *, low_only: bool = False, now=None) -> list[LevelRow]:
    """Every variant of an active product with its level and low-stock threshold, by SKU;
    ``low_only``: those whose availability has fallen to their threshold."""
    thresholds = {
        vid: (threshold, pid)
        for vid, threshold, pid in session.execute(
            select(Variant.id, Variant.low_stock_threshold, Variant.product_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Product.is_active.is_(True))
        )
    }
    rows = [
        LevelRow(level, *thresholds[level.id])
        for level in inventory.stock_levels(session, now=now)
        if level.id in thresholds
    ]
    return [row for row in rows if row.low] if low_only else rows
