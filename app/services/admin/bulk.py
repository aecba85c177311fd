"""The catalogue in and out as CSV: one row per variant (``bulk_rows.COLUMNS``).

``export_catalogue`` writes every variant. ``plan_import`` is the dry run: it reads a file and
says exactly what applying it would change (new products and variants, prices, stock and other
fields, each before → after) or which rows and columns are wrong; it changes nothing.
``apply_import`` re-reads the same file and applies it in one transaction, all or nothing:
stock moves through the ledger (``inventory.adjust_stock``, reason "CSV import"), never by
writing ``on_hand``; one audit row records the import and its counts. Its ``key`` (drawn when
the dry run was shown, with the file's digest) is looked up in the audit log, so a double click
applies once. Products and variants the file leaves out are left as they are, and so is a
column a file may leave out (``bulk_rows.OPTIONAL_COLUMNS``: ``weight_grams``) or leave blank.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import AuditLog, Category, Product, ProductKind, Variant
from app.money import plain_decimal
from app.services import audit, locks
from app.services.errors import Conflict, DomainError
from app.services.stock import inventory

from .bulk_rows import COLUMNS, Row, RowError, read_rows, to_csv

ACTION = "catalogue.import"
REASON = "CSV import"
MAX_AUDITED_CHANGES = 200
RECENT_IMPORTS = 200
# The dry run carries the file to "Apply" in its form (base64, a third larger), and a request
# body is at most MAX_CONTENT_LENGTH (1 MiB).
MAX_FILE_BYTES = 700_000


@dataclass(frozen=True)
class Change:
    row: int
    sku: str
    field: str
    before: str
    after: str


@dataclass
class Plan:
    """What a file would change, or why it cannot be applied (``errors``)."""

    rows: int = 0
    new_products: list[Row] = field(default_factory=list)
    new_variants: list[Row] = field(default_factory=list)
    prices: list[Change] = field(default_factory=list)
    stock: list[Change] = field(default_factory=list)
    fields: list[Change] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return (
            len(self.new_products)
            + len(self.new_variants)
            + len(self.prices)
            + len(self.stock)
            + len(self.fields)
        )

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "products_created": len(self.new_products),
            "variants_created": len(self.new_variants),
            "prices_changed": len(self.prices),
            "stock_changed": len(self.stock),
            "fields_changed": len(self.fields),
        }


class ImportRefused(DomainError):
    """The file has errors: nothing was applied."""

    status_code = 422

    def __init__(self, plan: Plan) -> None:
        super().__init__(f"The file has {len(plan.errors)} error(s); nothing was changed.")
        self.plan = plan


@dataclass(frozen=True)
class Applied:
    counts: dict[str, int]
    already: bool = False  # this very file (and dry run) was applied before: nothing done now
    restocked: tuple[int, ...] = ()  # variants whose stock rose: back-orders may now be filled


def decode(data: bytes) -> str:
    """An uploaded file's text, or a message saying how to save it."""
    if not data.strip():
        raise DomainError("The file is empty: choose the CSV file to import.")
    if len(data) > MAX_FILE_BYTES:
        raise DomainError("The file is over 700 KB: split it into smaller files.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(
            "The file is not UTF-8 text: save it from your spreadsheet as “CSV UTF-8”."
        ) from None
    if "\x00" in text:
        raise DomainError("The file holds characters a CSV file never has: is it a spreadsheet?")
    return text


def import_key(token: str, text: str) -> str:
    """The idempotency key of applying ``text`` from the dry run that drew ``token``."""
    return hashlib.sha256(f"{token}\n{text}".encode()).hexdigest()


# ---------------------------------------------------------------- export


def export_catalogue(session: Session) -> str:
    variants = session.execute(
        select(Variant, Product, Category)
        .join(Product, Product.id == Variant.product_id)
        .join(Category, Category.id == Product.category_id)
        .order_by(Product.slug, Variant.position, Variant.id)
    ).all()
    return to_csv(
        COLUMNS,
        (
            (
                p.slug,
                p.name,
                c.slug,
                p.kind.value,
                v.sku,
                v.name,
                v.size or "",
                v.colour or "",
                plain_decimal(v.price_cents, v.currency),
                v.currency,
                "yes" if v.allow_backorder else "no",
                v.low_stock_threshold,
                v.on_hand,
                v.weight_grams,
            )
            for v, p, c in variants
        ),
    )


# ---------------------------------------------------------------- the dry run


@dataclass
class _Catalogue:
    categories: dict[str, Category]
    products: dict[str, Product]
    variants: dict[str, Variant]
    held: dict[int, int]


def _load(session: Session, rows: list[Row]) -> _Catalogue:
    slugs = {r.category_slug for r in rows}
    categories = session.scalars(select(Category).where(Category.slug.in_(slugs)))
    products = session.scalars(
        select(Product).where(Product.slug.in_({r.product_slug for r in rows}))
    )
    variants = {
        v.sku: v
        for v in session.scalars(select(Variant).where(Variant.sku.in_({r.sku for r in rows})))
    }
    stock = inventory.availability(session, [v.id for v in variants.values()])
    return _Catalogue(
        {c.slug: c for c in categories},
        {p.slug: p for p in products},
        variants,
        {vid: a.held for vid, a in stock.items()},
    )


def plan_import(session: Session, text: str, currency: str) -> Plan:
    """What applying ``text`` would change now; reads only."""
    rows, errors = read_rows(text, currency)
    unread = {e.row for e in errors if e.row > 1} - {r.number for r in rows}
    plan = Plan(rows=len(rows) + len(unread), errors=errors)
    if not rows:
        return plan
    catalogue = _load(session, rows)
    seen: set[str] = set()
    for row in rows:
        _plan_product(plan, catalogue, row, seen)
        variant = catalogue.variants.get(row.sku)
        if variant is None:
            _plan_new_variant(plan, catalogue, row)
        else:
            _plan_variant(plan, catalogue, row, variant)
    plan.errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else 0))
    return plan


def _plan_product(plan: Plan, catalogue: _Catalogue, row: Row, seen: set[str]) -> None:
    if row.product_slug in seen:
        return
    seen.add(row.product_slug)
    if row.category_slug not in catalogue.categories:
        plan.errors.append(
            RowError(row.number, "category_slug", f"there is no category {row.category_slug}")
        )
    product = catalogue.products.get(row.product_slug)
    if product is None:
        plan.new_products.append(row)
        return
    if product.kind is not row.kind:
        message = f"{row.product_slug} is {product.kind.value}; an import cannot change that"
        plan.errors.append(RowError(row.number, "kind", message))
    if product.name != row.product_name:
        plan.fields.append(
            Change(row.number, row.product_slug, "product_name", product.name, row.product_name)
        )
    if product.category.slug != row.category_slug:
        before = product.category.slug
        plan.fields.append(
            Change(row.number, row.product_slug, "category_slug", before, row.category_slug)
        )


def _plan_new_variant(plan: Plan, catalogue: _Catalogue, row: Row) -> None:
    plan.new_variants.append(row)
    if row.kind is ProductKind.DIGITAL and row.on_hand:
        plan.errors.append(RowError(row.number, "on_hand", _DIGITAL))
    elif row.on_hand:
        plan.stock.append(Change(row.number, row.sku, "on_hand", "0", str(row.on_hand)))


_DIGITAL = (
    "a digital variant's stock is its pool of license keys; upload keys instead "
    "(leave on_hand blank or as it is)"
)


def _plan_variant(plan: Plan, catalogue: _Catalogue, row: Row, variant: Variant) -> None:
    if variant.product.slug != row.product_slug:
        message = f"{variant.sku} belongs to product {variant.product.slug}"
        plan.errors.append(RowError(row.number, "sku", message))
        return
    if variant.price_cents != row.price_cents:
        plan.prices.append(
            Change(
                row.number,
                variant.sku,
                "price",
                plain_decimal(variant.price_cents, variant.currency),
                plain_decimal(row.price_cents, row.currency),
            )
        )
    for name, before, after in _field_changes(row, variant):
        plan.fields.append(Change(row.number, variant.sku, name, before, after))
    if row.on_hand is None or row.on_hand == variant.on_hand:
        return
    held = catalogue.held.get(variant.id, 0)
    if variant.product.kind is ProductKind.DIGITAL:
        plan.errors.append(RowError(row.number, "on_hand", _DIGITAL))
    elif row.on_hand < held:
        message = f"{held} are held by shoppers' checkouts right now; enter at least {held}"
        plan.errors.append(RowError(row.number, "on_hand", message))
    else:
        before = str(variant.on_hand)
        plan.stock.append(Change(row.number, variant.sku, "on_hand", before, str(row.on_hand)))


def _targets(row: Row, variant: Variant) -> dict[str, object]:
    """The variant's columns (besides price and stock) as the row sets them."""
    targets: dict[str, object] = {
        "name": row.variant_name,
        "size": row.size,
        "colour": row.colour,
        "currency": row.currency,
    }
    if row.allow_backorder is not None:
        targets["allow_backorder"] = row.allow_backorder
    if row.low_stock_threshold is not None:
        targets["low_stock_threshold"] = row.low_stock_threshold
    if row.weight_grams is not None:
        targets["weight_grams"] = row.weight_grams
    return targets


def _field_changes(row: Row, variant: Variant) -> list[tuple[str, str, str]]:
    def show(value: object) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return "" if value is None else str(value)

    column = {"name": "variant_name"}
    return [
        (column.get(name, name), show(getattr(variant, name)), show(value))
        for name, value in _targets(row, variant).items()
        if getattr(variant, name) != value
    ]


# ---------------------------------------------------------------- applying


def apply_import(session: Session, text: str, currency: str, *, key: str, actor: str) -> Applied:
    """Apply ``text`` in one transaction, or raise :class:`ImportRefused` and change nothing."""
    begin_write(session)
    try:
        rows, _errors = read_rows(text, currency)
        skus = [r.sku for r in rows]
        ids = session.scalars(select(Variant.id).where(Variant.sku.in_(skus))).all()
        locks.lock_variants(session, ids)  # in id order; a second click waits here
        done = _already_applied(session, key)
        if done is not None:
            session.rollback()
            return Applied(done, already=True)
        plan = plan_import(session, text, currency)
        if plan.errors:
            raise ImportRefused(plan)
        restocked = _apply(session, plan, rows, actor)
        audit.record(
            session,
            ACTION,
            actor=actor,
            subject_type="catalogue",
            key=key,
            **plan.counts(),
            changes=_audited(plan),
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            "The catalogue changed while the file was applied (was it applied twice at "
            "once?); nothing was changed. Run the dry run again."
        ) from None
    except BaseException:
        session.rollback()
        raise
    return Applied(plan.counts(), restocked=tuple(restocked))


def _already_applied(session: Session, key: str) -> dict[str, int] | None:
    recent = session.scalars(
        select(AuditLog.details)
        .where(AuditLog.action == ACTION)
        .order_by(AuditLog.id.desc())
        .limit(RECENT_IMPORTS)
    )
    for details in recent:
        if details.get("key") == key:
            return {k: v for k, v in details.items() if isinstance(v, int)}
    return None


def _apply(session: Session, plan: Plan, rows: list[Row], actor: str) -> list[int]:
    """Make the file's changes (the caller commits); the ids of variants whose stock rose."""
    catalogue = _load(session, rows)
    for row in plan.new_products:
        product = Product(
            slug=row.product_slug,
            name=row.product_name,
            kind=row.kind,
            category=catalogue.categories[row.category_slug],
            description="",
        )
        session.add(product)
        catalogue.products[row.product_slug] = product
    targets: list[tuple[Variant, int]] = []
    for row in rows:
        product = catalogue.products[row.product_slug]
        product.name = row.product_name
        product.category = catalogue.categories[row.category_slug]
        variant = catalogue.variants.get(row.sku) or _new_variant(session, product, row)
        variant.price_cents = row.price_cents
        for name, value in _targets(row, variant).items():
            setattr(variant, name, value)
        if row.on_hand is not None:
            targets.append((variant, row.on_hand))
    session.flush()
    restocked = []
    for variant, on_hand in sorted(targets, key=lambda t: t[0].id):
        if on_hand == variant.on_hand:
            continue
        if on_hand > variant.on_hand:
            restocked.append(variant.id)
        inventory.adjust_stock(
            session,
            variant.id,
            on_hand - variant.on_hand,
            reason=REASON,
            actor=actor,
            commit=False,
        )
    return restocked


def _new_variant(session: Session, product: Product, row: Row) -> Variant:
    backorder = row.allow_backorder
    if backorder is None:
        backorder = row.kind is ProductKind.DIGITAL  # digital sells on while keys arrive
    variant = Variant(
        product=product,
        sku=row.sku,
        price_cents=row.price_cents,
        on_hand=0,
        allow_backorder=backorder,
        position=row.number,
    )
    session.add(variant)
    return variant


def _audited(plan: Plan) -> list[dict[str, object]]:
    changes = [*plan.prices, *plan.stock, *plan.fields]
    new = [{"sku": r.sku, "field": "new variant"} for r in plan.new_variants]
    listed = new + [
        {"sku": c.sku, "field": c.field, "before": c.before, "after": c.after} for c in changes
    ]
    return listed[:MAX_AUDITED_CHANGES]
