"""The keyboard focus ring must stand out from what surrounds it: WCAG 2.2 SC 1.4.11 asks a
contrast of at least 3:1 for a focus indicator against adjacent colours. The ring sits
``outline-offset`` away from the control, so it is seen against the page background and the
white cards. The colour is read from app/static/css/shop.css, as the browser would."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "app" / "static" / "css" / "shop.css"
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


def _rules(css: str) -> list[tuple[str, dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    for selector, body in RULE.findall(css):
        decls = {}
        for decl in body.split(";"):
            if ":" in decl:
                name, value = decl.split(":", 1)
                decls[name.strip()] = value.strip()
        rules.append((" ".join(selector.split()), decls))
    return rules


def _resolve(value: str, variables: dict[str, str]) -> str:
    while (m := re.search(r"var\((--[\w-]+)\)", value)) is not None:
        value = value.replace(m.group(0), variables[m.group(1)])
    return value


def _hex(value: str) -> str:
    m = re.search(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", value)
    assert m, f"no hex colour in {value!r}"
    h = m.group(1)
    return "".join(c * 2 for c in h) if len(h) == 3 else h


def _luminance(hex6: str) -> float:
    channels = [int(hex6[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _stylesheet():
    rules = _rules(CSS.read_text())
    variables = {k: v for sel, decls in rules if sel == ":root" for k, v in decls.items()}
    return rules, variables


def test_the_contrast_formula_matches_known_values():
    assert round(contrast("000000", "ffffff"), 1) == 21.0
    assert round(contrast("f2b84b", "ffffff"), 2) == 1.79  # the old ring: what the issue saw
    assert contrast("777777", "ffffff") < 4.5 < contrast("767676", "ffffff")


def test_the_focus_ring_has_at_least_3_to_1_contrast_with_the_page_and_cards():
    rules, variables = _stylesheet()
    rings = [
        _resolve(decls["outline"], variables)
        for sel, decls in rules
        if ":focus-visible" in sel and "outline" in decls
    ]
    assert rings, "no :focus-visible rule with an outline in shop.css"
    page = _hex(_resolve(dict(rules)["body"]["background"], variables))
    card = _hex(_resolve(variables["--card"], variables))
    for ring in rings:
        colour = _hex(ring)
        assert contrast(colour, page) >= 3, (ring, page, contrast(colour, page))
        assert contrast(colour, card) >= 3, (ring, card, contrast(colour, card))
