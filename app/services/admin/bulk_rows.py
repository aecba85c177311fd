"""The catalogue's CSV format: its columns, money as decimals, and each row read and checked on
its own (no database). An error names the file's row (the header is row 1) and the column, in
words an owner can act on: "row 7, price: enter an amount such as 12.50"."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.models import ProductKind
from app.money import parse_money

COLUMNS = (
    "product_slug",
    "product_name",
    "category_slug",
    "kind",
    "sku",
    "variant_name",
    "size",
    "colour",
    "price",
    "currency",
    "allow_backorder",
    "low_stock_threshold",
    "on_hand",
    "weight_grams",
)
# Columns a file may leave out (files exported before they existed still import).
OPTIONAL_COLUMNS = frozenset({"weight_grams"})
MAX_ROWS = 5000
MAX_STOCK = 1_000_000
MAX_THRESHOLD = 100_000
MAX_GRAMS = 1_000_000
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


def to_csv(header: Iterable[str] | None, rows: Iterable[Iterable[Any]]) -> str:
    """CSV text (RFC 4180 quoting, CRLF lines), with a header row unless ``header`` is None."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


@dataclass
class Row:
    """One variant as the file gives it; ``None`` for a blank optional column ("keep as is",
    or the default for something new)."""

    number: int
    product_slug: str
    product_name: str
    category_slug: str
    kind: ProductKind
    sku: str
    variant_name: str
    size: str | None
    colour: str | None
    price_cents: int
    currency: str
    allow_backorder: bool | None
    low_stock_threshold: int | None
    on_hand: int | None
    weight_grams: int | None = None  # grams per unit


class _Bad(ValueError):
    """One cell's value is refused; the message says what to enter instead."""


def _text(limit: int, required: bool = True, pattern: re.Pattern | None = None, hint: str = ""):
    def check(value: str) -> str | None:
        if not value:
            if required:
                raise _Bad("this column must not be empty")
            return None
        if len(value) > limit:
            raise _Bad(f"at most {limit} characters")
        if pattern is not None and not pattern.match(value):
            raise _Bad(hint)
        return value

    return check


def _whole(limit: int) -> Callable[[str], int | None]:
    def check(value: str) -> int | None:
        if not value:
            return None
        if not value.isdigit() or int(value) > limit:
            raise _Bad(f"enter a whole number from 0 to {limit}")
        return int(value)

    return check


def _kind(value: str) -> ProductKind:
    try:
        return ProductKind(value.lower())
    except ValueError:
        raise _Bad("enter physical or digital") from None


def _flag(value: str) -> bool | None:
    if not value:
        return None
    if value.lower() in YES | NO:
        return value.lower() in YES
    raise _Bad("enter yes or no")


def _phrase(error: ValueError) -> str:
    text = str(error).rstrip(".")
    return text[:1].lower() + text[1:]


CHECKS: dict[str, Callable[[str], Any]] = {
    "product_slug": _text(
        160, pattern=SLUG, hint="use lower-case letters, digits and dashes (blue-mug)"
    ),
    "product_name": _text(160),
    "category_slug": _text(120, pattern=SLUG, hint="use the category's slug, such as mugs"),
    "kind": _kind,
    "sku": _text(64, pattern=SKU, hint="use letters, digits, dots, dashes and slashes"),
    "variant_name": _text(120, required=False),
    "size": _text(40, required=False),
    "colour": _text(40, required=False),
    "allow_backorder": _flag,
    "low_stock_threshold": _whole(MAX_THRESHOLD),
    "on_hand": _whole(MAX_STOCK),
    "weight_grams": _whole(MAX_GRAMS),
}


def _money(values: dict[str, str], shop_currency: str) -> tuple[dict, list[tuple[str, str]]]:
    currency = (values.get("currency") or shop_currency).upper()
    errors: list[tuple[str, str]] = []
    cents = 0
    if currency != shop_currency.upper():
        errors.append(("currency", f"the shop sells in {shop_currency.upper()}"))
    if not values.get("price"):
        errors.append(("price", "enter an amount such as 12.50"))
    else:
        try:
            cents = parse_money(values["price"], currency)
        except ValueError as exc:
            errors.append(("price", _phrase(exc)))
    return {"price_cents": cents, "currency": currency}, errors


def read_row(number: int, values: dict[str, str], shop_currency: str) -> Row | list[RowError]:
    """One data row (``values`` by column, already stripped) as a :class:`Row`, or its errors."""
    fields, problems = _money(values, shop_currency)
    for column, check in CHECKS.items():
        try:
            fields[column] = check(values.get(column, ""))
        except _Bad as exc:
            problems.append((column, str(exc)))
    if problems:
        return [RowError(number, column, message) for column, message in problems]
    fields["variant_name"] = fields["variant_name"] or ""
    return Row(number=number, **fields)


def _header(reader) -> tuple[list[str], list[RowError]]:
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    unknown = [c for c in header if c not in COLUMNS]
    errors = [RowError(1, c, "this column is missing") for c in missing]
    errors += [
        RowError(1, c or "(blank)", "this is not a column of the catalogue") for c in unknown
    ]
    if len(set(header)) != len(header):
        errors.append(RowError(1, "header", "a column is named twice"))
    return header, errors


def read_rows(text: str, shop_currency: str) -> tuple[list[Row], list[RowError]]:
    """Every row of a catalogue CSV, each checked alone and against the rows before it (a SKU
    twice; one product slug with two names, categories or kinds)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header, errors = _header(reader)
        if errors:
            return [], errors
        rows: list[Row] = []
        for values in reader:
            number = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                return rows, [*errors, RowError(number, "file", f"at most {MAX_ROWS} rows")]
            if len(values) != len(header):
                errors.append(RowError(number, "row", f"expected {len(header)} values"))
                continue
            read = read_row(
                number, dict(zip(header, (v.strip() for v in values), strict=True)), shop_currency
            )
            if isinstance(read, list):
                errors += read
            else:
                rows.append(read)
    except csv.Error as exc:
        return [], [RowError(reader.line_num, "file", f"not a readable CSV file ({exc})")]
    return rows, errors + _consistency(rows)


def _consistency(rows: list[Row]) -> list[RowError]:
    errors: list[RowError] = []
    skus: dict[str, int] = {}
    products: dict[str, Row] = {}
    for row in rows:
        if row.sku.lower() in skus:
            first = skus[row.sku.lower()]
            errors.append(RowError(row.number, "sku", f"{row.sku} is also on row {first}"))
        skus.setdefault(row.sku.lower(), row.number)
        first_row = products.setdefault(row.product_slug, row)
        for column in ("product_name", "category_slug", "kind"):
            if getattr(row, column) != getattr(first_row, column):
                errors.append(
                    RowError(
                        row.number,
                        column,
                        f"differs from row {first_row.number} for product {row.product_slug}",
                    )
                )
    return errors
