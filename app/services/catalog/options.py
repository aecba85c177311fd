"""A product page's choice: one selector per option the product really has (size, colour), the
variant those choices name, what each other choice would give, and the picture to show.

Promises:
- the options are the variant columns (``size``, ``colour``) that some variant fills; they are
  used only when every variant fills them and no two variants share the same values, else
  the variants are offered as one list ("Option", by id) so every variant stays reachable;
- with nothing chosen, the page shows the first variant that can be bought (else the first);
- a choice is read from plain strings (a URL's query): an unknown or empty value is ignored,
  values match without regard to case, and a combination no variant has gives the closest
  variant (the option the shopper just changed wins) with a note saying so; never an error;
- each value of a group says what choosing it (the other options kept) would give: a variant
  to buy, one sold out, or none at all; nothing is hidden.
Nothing here knows about a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.models import Product, ProductImage, Variant

if TYPE_CHECKING:
    from app.services.stock.inventory import Availability

OPTIONS = ("size", "colour")
LABELS = {"size": "Size", "colour": "Colour"}
BY_VARIANT = "variant"  # the query name of the one-list fallback
MAX_VALUE = 80  # longer query values are no option value (the columns hold 40)
# At most this many left reads "Only N left" (and LimitedAvailability in the JSON-LD).
LOW_STOCK = 5

OK, LOW, BACKORDER, SOLD_OUT, MISSING = "ok", "low", "backorder", "sold-out", "missing"


@dataclass(frozen=True)
class OptionValue:
    value: str  # what the query carries (a variant id in the one-list fallback)
    label: str
    checked: bool
    status: str  # OK, LOW, BACKORDER, SOLD_OUT or MISSING (no variant with these choices)
    input_id: str

    @property
    def unavailable(self) -> bool:
        return self.status in (SOLD_OUT, MISSING)


@dataclass(frozen=True)
class OptionGroup:
    name: str  # the query parameter: size, colour or variant
    label: str
    chosen: str
    values: tuple[OptionValue, ...]


@dataclass(frozen=True)
class Choice:
    variant: Variant | None
    groups: tuple[OptionGroup, ...]
    note: str  # why the variant shown is not the one asked for, or ""
    query: dict[str, str]  # the variant's own URL query (size/colour, or variant=id)
    image: ProductImage | None


def stock_status(avail: Availability | None) -> str:
    if avail is None:
        return SOLD_OUT
    if avail.available <= 0:
        return BACKORDER if avail.allow_backorder else SOLD_OUT
    return LOW if avail.available <= LOW_STOCK else OK


def option_names(variants: Sequence[Variant]) -> tuple[str, ...]:
    """The options that tell the variants apart, or () when they do not (one-list fallback)."""
    names = tuple(n for n in OPTIONS if any(getattr(v, n) for v in variants))
    if not names or any(not getattr(v, n) for v in variants for n in names):
        return ()
    keys = {_key(v, names) for v in variants}
    return names if len(keys) == len(variants) else ()


def variant_query(variant: Variant, names: Sequence[str]) -> dict[str, str]:
    """The query naming ``variant`` on its product's page."""
    if names:
        return {n: getattr(variant, n) for n in names}
    return {BY_VARIANT: str(variant.id)}


def image_for(product: Product, variant: Variant | None) -> ProductImage | None:
    """The photo of the variant's colour, else the first photo of the product as a whole,
    else the first photo."""
    images = product.images
    colour = _fold(variant.colour) if variant is not None and variant.colour else None
    if colour:
        tied = next((i for i in images if i.colour and _fold(i.colour) == colour), None)
        if tied is not None:
            return tied
    untied = next((i for i in images if not i.colour), None)
    return untied or (images[0] if images else None)


def choose(
    product: Product,
    stock: Mapping[int, Availability],
    requested: Mapping[str, str],
    *,
    changed: str | None = None,
) -> Choice:
    """The page's choice from the query: ``size``/``colour``, else ``variant``/``variant_id``."""
    variants = list(product.variants)
    names = option_names(variants)
    variant, note = _resolve(variants, names, requested, changed)
    if variant is None and variants:
        variant = next((v for v in variants if stock_status(stock.get(v.id)) != SOLD_OUT), None)
        variant = variant or variants[0]
    if variant is None:
        return Choice(None, (), "", {}, image_for(product, None))
    groups = _groups(variants, names, variant, stock) if len(variants) > 1 else ()
    return Choice(variant, groups, note, variant_query(variant, names), image_for(product, variant))


def title(variant: Variant, names: Sequence[str]) -> str:
    """ "M / Navy": the variant's option values, else its own name."""
    return " / ".join(getattr(variant, n) for n in names) if names else variant.label


# ---------------------------------------------------------------- resolving a choice


def _fold(value: str) -> str:
    return value.strip().casefold()


def _key(variant: Variant, names: Sequence[str]) -> tuple[str, ...]:
    return tuple(_fold(getattr(variant, n)) for n in names)


def _wanted(variants: list[Variant], names: Sequence[str], requested: Mapping[str, str]) -> dict:
    """The requested option values that some variant has, folded; the others are dropped."""
    wanted = {}
    for name in names:
        raw = requested.get(name) or ""
        if not raw or len(raw) > MAX_VALUE:
            continue
        value = _fold(raw)
        if any(_fold(getattr(v, name)) == value for v in variants):
            wanted[name] = value
    return wanted


def _by_id(variants: list[Variant], requested: Mapping[str, str]) -> Variant | None:
    raw = requested.get(BY_VARIANT) or requested.get("variant_id") or ""
    return next((v for v in variants if str(v.id) == raw), None)


def _resolve(
    variants: list[Variant],
    names: Sequence[str],
    requested: Mapping[str, str],
    changed: str | None,
) -> tuple[Variant | None, str]:
    """The variant asked for and a note when it is a stand-in; None: nothing was asked."""
    wanted = _wanted(variants, names, requested)
    if not wanted:
        return _by_id(variants, requested), ""
    matches = [v for v in variants if all(_fold(getattr(v, n)) == w for n, w in wanted.items())]
    if matches:
        return matches[0], ""
    closest = max(variants, key=lambda v: _closeness(v, wanted, changed, variants))
    asked = " / ".join(
        next(getattr(v, n) for v in variants if _fold(getattr(v, n)) == wanted[n])
        for n in names
        if n in wanted
    )
    return closest, f"{asked} is not made; showing {title(closest, names)}."


def _closeness(variant: Variant, wanted: dict, changed: str | None, variants: list) -> tuple:
    """Sort key of a stand-in variant: has the value just changed, matches most, comes first."""
    same = [n for n, w in wanted.items() if _fold(getattr(variant, n)) == w]
    return (changed in same, len(same), -variants.index(variant))


# ---------------------------------------------------------------- the selectors


def _groups(
    variants: list[Variant], names: Sequence[str], chosen: Variant, stock: Mapping
) -> tuple[OptionGroup, ...]:
    if not names:
        values = tuple(
            OptionValue(
                str(v.id),
                v.label,
                v.id == chosen.id,
                stock_status(stock.get(v.id)),
                f"opt-variant-{i}",
            )
            for i, v in enumerate(variants)
        )
        return (OptionGroup(BY_VARIANT, "Option", chosen.label, values),)
    by_key = {_key(v, names): v for v in variants}
    return tuple(_group(variants, names, name, chosen, by_key, stock) for name in names)


def _group(variants, names, name, chosen, by_key, stock) -> OptionGroup:
    """One option's values, each with what it gives with the other options as chosen."""
    seen: dict[str, str] = {}
    for v in variants:
        seen.setdefault(_fold(getattr(v, name)), getattr(v, name))
    at = names.index(name)
    base = list(_key(chosen, names))
    values = []
    for i, (folded, shown) in enumerate(seen.items()):
        key = tuple(base[:at] + [folded] + base[at + 1 :])
        other = by_key.get(key)
        status = stock_status(stock.get(other.id)) if other is not None else MISSING
        checked = folded == base[at]
        values.append(OptionValue(shown, shown, checked, status, f"opt-{name}-{i}"))
    return OptionGroup(name, LABELS[name], getattr(chosen, name), tuple(values))
