"""Placeholder product pictures, drawn as SVG.

``product_svg(name, kind, colour, seed)`` promises:
- the same arguments always give the same bytes (UTF-8 SVG, an 800x800 viewBox);
- a soft two-tone background picked from the seed's hash, a simple drawing of the kind of
  product (a tee, a mug, a key, ...) in the product's colour, and no text at all: the page
  prints the name beside the picture, so two products of one kind differ by colour and by
  their seeded backgrounds (the name is the SVG's <title> and aria-label only);
- a self-contained, well-formed XML document: no external references, no script, no event
  handlers and no ``style`` attributes (presentation attributes only), so it is safe to serve
  under a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape, quoteattr

SIZE = 800
INK = "#1f2937"

# Tokens in motif attributes, replaced by the product's colours when drawn.
FILL, SHADE, TINT = "{fill}", "{shade}", "{tint}"

# (top colour, bottom colour) of the background gradient: light, so the drawing stands out.
PALETTES: tuple[tuple[str, str], ...] = (
    ("#fde2e4", "#fad2e1"),
    ("#e2ece9", "#bee1e6"),
    ("#fff1e6", "#fde4cf"),
    ("#eef2d9", "#ccd5ae"),
    ("#e4ebfd", "#cddafd"),
    ("#f5f3ee", "#ddd8c4"),
    ("#fef9c3", "#fde68a"),
    ("#e0f2fe", "#bae6fd"),
    ("#f3f0ff", "#ddd6fe"),
    ("#dcfce7", "#bbf7d0"),
)

# Motif colours for products that name no colour.
ACCENTS = ("#2563eb", "#0f766e", "#b45309", "#7c3aed", "#be123c", "#334155", "#15803d")

# fmt: off
COLOURS: dict[str, str] = {
    "black": "#27272a", "charcoal": "#3f3f46", "grey": "#9ca3af", "heather grey": "#b6b8bc",
    "slate": "#475569", "stone": "#d6d3c4", "white": "#fafafa", "speckled white": "#f4f1ea",
    "navy": "#1e3a5f", "ocean": "#1d6fa5", "sand": "#d8c3a5", "oat": "#e6dcc6", "tan": "#c19a6b",
    "rust": "#b7472a", "clay": "#b86f52", "terracotta": "#c8643b", "mustard": "#d4a017",
    "olive": "#6b7040", "forest": "#2f5d3a", "moss": "#5b6f3a", "sage": "#9caf88",
}

# What each motif draws, for alt text.
NOUNS: dict[str, str] = {
    "shirt": "T-shirt", "sweater": "sweatshirt", "hoodie": "hoodie", "cap": "cap",
    "beanie": "beanie", "socks": "sock", "tote": "tote bag", "mug": "mug", "candle": "candle",
    "bottle": "bottle", "blanket": "folded blanket", "board": "cutting board", "bowl": "bowl",
    "notebook": "notebook", "pen": "pen", "card": "card and envelope", "print": "framed print",
    "tape": "stack of tape rolls", "key": "key", "disc": "disc", "book": "open book",
    "font": "type specimen", "photo": "photo editor window", "box": "box",
}

# Category-level names accepted as a kind.
ALIASES = {"apparel": "shirt", "home": "mug", "stationery": "notebook", "digital": "key",
           "physical": "box"}

# The long-sleeved body shared by the sweater and the hoodie, from the left shoulder round to
# the right one.
_LONG_SLEEVES = (
    "M330 170 L260 195 L215 300 L200 480 L250 485 L275 330 L290 310 L290 500 L510 500 "
    "L510 310 L525 330 L550 485 L600 480 L585 300 L540 195 L470 170"
)
MOTIFS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "shirt": (
        ("path", {"d": "M330 170 L250 205 L205 290 L265 320 L290 285 L290 500 L510 500 "
                       "L510 285 L535 320 L595 290 L550 205 L470 170 Q400 230 330 170 Z",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M340 178 Q400 222 460 178", "fill": "none", "stroke": SHADE}),
    ),
    "sweater": (
        ("path", {"d": _LONG_SLEEVES + " Q400 215 330 170 Z", "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M290 470 L510 470 M205 450 L252 454 M548 454 L595 450",
                  "fill": "none", "stroke": SHADE}),
    ),
    "hoodie": (
        ("path", {"d": "M318 215 Q300 100 400 92 Q500 100 482 215 Z", "fill": FILL,
                  "stroke": SHADE}),
        ("path", {"d": _LONG_SLEEVES + " Q400 200 330 170 Z", "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M352 190 Q350 128 400 124 Q450 128 448 190 Q400 222 352 190 Z",
                  "fill": SHADE, "stroke": SHADE}),
        ("path", {"d": "M335 390 L465 390 L490 455 L310 455 Z", "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M382 210 L378 290 M418 210 L422 290", "fill": "none", "stroke": TINT}),
    ),
    "cap": (
        ("path", {"d": "M250 380 A150 150 0 0 1 550 380 Z", "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M240 380 L560 380 Q665 388 665 420 Q600 432 540 410 L240 404 Z",
                  "fill": SHADE, "stroke": SHADE}),
        ("path", {"d": "M400 232 L400 380 M400 232 Q330 280 320 380 M400 232 Q470 280 480 380",
                  "fill": "none", "stroke": SHADE}),
        ("circle", {"cx": "400", "cy": "230", "r": "14", "fill": SHADE, "stroke": "none"}),
    ),
    "beanie": (
        ("circle", {"cx": "400", "cy": "180", "r": "42", "fill": TINT, "stroke": SHADE}),
        ("path", {"d": "M262 400 Q262 205 400 205 Q538 205 538 400 Z", "fill": FILL,
                  "stroke": SHADE}),
        ("rect", {"x": "245", "y": "380", "width": "310", "height": "90", "rx": "24",
                  "fill": TINT, "stroke": SHADE}),
        ("path", {"d": "M300 392 L300 458 M350 392 L350 458 M400 392 L400 458 M450 392 "
                       "L450 458 M500 392 L500 458", "fill": "none", "stroke": SHADE}),
    ),
    "socks": (
        ("path", {"d": "M345 160 L445 160 L445 375 Q445 398 468 410 L560 450 Q605 472 588 512 "
                       "Q570 548 528 530 L385 470 Q345 452 345 410 Z",
                  "fill": FILL, "stroke": SHADE}),
        ("rect", {"x": "345", "y": "160", "width": "100", "height": "44", "fill": TINT,
                  "stroke": SHADE}),
        ("path", {"d": "M345 240 L445 240 M345 270 L445 270", "fill": "none",
                  "stroke": TINT, "stroke-width": "14"}),
    ),
    "tote": (
        ("path", {"d": "M325 260 Q325 150 400 150 Q475 150 475 260", "fill": "none",
                  "stroke": SHADE, "stroke-width": "20"}),
        ("rect", {"x": "260", "y": "250", "width": "280", "height": "250", "rx": "16",
                  "fill": FILL, "stroke": SHADE}),
        ("rect", {"x": "330", "y": "330", "width": "140", "height": "100", "rx": "10",
                  "fill": TINT, "stroke": SHADE}),
    ),
    "mug": (
        ("path", {"d": "M470 275 Q575 275 575 350 Q575 425 470 425", "fill": "none",
                  "stroke": SHADE, "stroke-width": "46"}),
        ("path", {"d": "M470 275 Q575 275 575 350 Q575 425 470 425", "fill": "none",
                  "stroke": FILL, "stroke-width": "30"}),
        ("rect", {"x": "270", "y": "220", "width": "220", "height": "270", "rx": "30",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M330 190 Q312 165 330 140 Q348 115 330 90 M390 190 Q372 165 390 140 "
                       "Q408 115 390 90 M450 190 Q432 165 450 140 Q468 115 450 90",
                  "fill": "none", "stroke": "#ffffff", "stroke-opacity": "0.85"}),
    ),
    "candle": (
        ("rect", {"x": "285", "y": "260", "width": "230", "height": "240", "rx": "32",
                  "fill": FILL, "stroke": SHADE}),
        ("rect", {"x": "320", "y": "330", "width": "160", "height": "96", "rx": "10",
                  "fill": "#ffffff", "fill-opacity": "0.85", "stroke": "none"}),
        ("path", {"d": "M400 260 L400 236", "fill": "none", "stroke": INK}),
        ("path", {"d": "M400 160 Q436 206 418 232 Q400 252 382 232 Q364 206 400 160 Z",
                  "fill": "#f59e0b", "stroke": "#d97706"}),
    ),
    "bottle": (
        ("rect", {"x": "345", "y": "135", "width": "110", "height": "50", "rx": "12",
                  "fill": SHADE, "stroke": SHADE}),
        ("rect", {"x": "358", "y": "180", "width": "84", "height": "40", "fill": TINT,
                  "stroke": SHADE}),
        ("rect", {"x": "325", "y": "210", "width": "150", "height": "300", "rx": "52",
                  "fill": FILL, "stroke": SHADE}),
        ("rect", {"x": "350", "y": "245", "width": "18", "height": "220", "rx": "9",
                  "fill": "#ffffff", "fill-opacity": "0.35", "stroke": "none"}),
    ),
    "blanket": (
        ("rect", {"x": "230", "y": "400", "width": "340", "height": "90", "rx": "30",
                  "fill": FILL, "stroke": SHADE}),
        ("rect", {"x": "250", "y": "315", "width": "320", "height": "90", "rx": "30",
                  "fill": TINT, "stroke": SHADE}),
        ("rect", {"x": "230", "y": "230", "width": "340", "height": "90", "rx": "30",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M300 230 L300 320 M500 230 L500 320 M300 400 L300 490 M500 400 "
                       "L500 490", "fill": "none", "stroke": SHADE}),
    ),
    "board": (
        ("rect", {"x": "540", "y": "305", "width": "120", "height": "80", "rx": "36",
                  "fill": FILL, "stroke": SHADE}),
        ("rect", {"x": "220", "y": "220", "width": "350", "height": "250", "rx": "44",
                  "fill": FILL, "stroke": SHADE}),
        ("circle", {"cx": "622", "cy": "345", "r": "14", "fill": "#ffffff", "stroke": SHADE}),
        ("path", {"d": "M270 280 Q400 250 520 290 M260 350 Q400 320 530 360 M275 415 "
                       "Q400 390 515 425", "fill": "none", "stroke": SHADE,
                  "stroke-opacity": "0.45"}),
    ),
    "bowl": (
        ("path", {"d": "M230 320 Q230 490 400 490 Q570 490 570 320 Z", "fill": FILL,
                  "stroke": SHADE}),
        ("ellipse", {"cx": "400", "cy": "320", "rx": "170", "ry": "32", "fill": TINT,
                     "stroke": SHADE}),
        ("rect", {"x": "340", "y": "484", "width": "120", "height": "22", "rx": "8",
                  "fill": SHADE, "stroke": SHADE}),
        ("path", {"d": "M260 370 Q400 410 540 370", "fill": "none", "stroke": TINT}),
    ),
    "notebook": (
        ("rect", {"x": "275", "y": "150", "width": "250", "height": "340", "rx": "16",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M305 150 L305 490", "fill": "none", "stroke": SHADE}),
        ("rect", {"x": "470", "y": "150", "width": "16", "height": "340", "fill": SHADE,
                  "stroke": "none"}),
        ("rect", {"x": "335", "y": "220", "width": "110", "height": "60", "rx": "6",
                  "fill": "#ffffff", "fill-opacity": "0.9", "stroke": "none"}),
    ),
    "pen": (
        ("g", {"transform": "rotate(35 400 330)"}),
        ("rect", {"x": "378", "y": "130", "width": "44", "height": "320", "rx": "20",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M380 445 L420 445 L400 515 Z", "fill": TINT, "stroke": SHADE}),
        ("rect", {"x": "412", "y": "160", "width": "16", "height": "120", "rx": "8",
                  "fill": SHADE, "stroke": SHADE}),
        ("/g", {}),
    ),
    "card": (
        ("rect", {"x": "265", "y": "170", "width": "270", "height": "170", "rx": "8",
                  "fill": "#ffffff", "stroke": SHADE}),
        ("path", {"d": "M330 230 L470 230 M330 265 L430 265", "fill": "none", "stroke": TINT}),
        ("rect", {"x": "225", "y": "260", "width": "350", "height": "230", "rx": "12",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M228 270 L400 390 L572 270", "fill": "none", "stroke": SHADE}),
    ),
    "print": (
        ("rect", {"x": "255", "y": "140", "width": "290", "height": "360", "rx": "6",
                  "fill": SHADE, "stroke": SHADE}),
        ("rect", {"x": "280", "y": "165", "width": "240", "height": "310", "fill": "#ffffff",
                  "stroke": "none"}),
        ("circle", {"cx": "455", "cy": "240", "r": "28", "fill": "#f59e0b", "stroke": "none"}),
        ("path", {"d": "M305 440 L370 330 L410 385 L450 315 L500 440 Z", "fill": FILL,
                  "stroke": SHADE}),
    ),
    "tape": (
        ("circle", {"cx": "300", "cy": "380", "r": "82", "fill": TINT, "stroke": SHADE}),
        ("circle", {"cx": "500", "cy": "380", "r": "82", "fill": SHADE, "stroke": SHADE}),
        ("circle", {"cx": "400", "cy": "260", "r": "82", "fill": FILL, "stroke": SHADE}),
        ("circle", {"cx": "300", "cy": "380", "r": "34", "fill": "#ffffff", "stroke": SHADE}),
        ("circle", {"cx": "500", "cy": "380", "r": "34", "fill": "#ffffff", "stroke": SHADE}),
        ("circle", {"cx": "400", "cy": "260", "r": "34", "fill": "#ffffff", "stroke": SHADE}),
    ),
    "key": (
        ("circle", {"cx": "300", "cy": "330", "r": "90", "fill": FILL, "stroke": SHADE}),
        ("circle", {"cx": "290", "cy": "330", "r": "32", "fill": "#ffffff", "stroke": SHADE}),
        ("path", {"d": "M385 310 L620 310 L620 350 L590 350 L590 395 L555 395 L555 350 "
                       "L530 350 L530 380 L500 380 L500 350 L385 350 Z",
                  "fill": FILL, "stroke": SHADE}),
    ),
    "disc": (
        ("circle", {"cx": "400", "cy": "330", "r": "175", "fill": FILL, "stroke": SHADE}),
        ("circle", {"cx": "400", "cy": "330", "r": "140", "fill": "none", "stroke": "#ffffff",
                    "stroke-opacity": "0.25"}),
        ("circle", {"cx": "400", "cy": "330", "r": "108", "fill": "none", "stroke": "#ffffff",
                    "stroke-opacity": "0.2"}),
        ("circle", {"cx": "400", "cy": "330", "r": "62", "fill": TINT, "stroke": SHADE}),
        ("circle", {"cx": "400", "cy": "330", "r": "14", "fill": "#ffffff", "stroke": SHADE}),
    ),
    "book": (
        ("path", {"d": "M215 195 L400 225 L585 195 L585 475 L400 505 L215 475 Z",
                  "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M400 225 Q320 180 235 200 L235 450 Q320 435 400 480 Z",
                  "fill": "#ffffff", "stroke": SHADE}),
        ("path", {"d": "M400 225 Q480 180 565 200 L565 450 Q480 435 400 480 Z",
                  "fill": "#ffffff", "stroke": SHADE}),
        ("path", {"d": "M265 250 L370 262 M265 290 L370 302 M265 330 L370 342 M430 262 "
                       "L535 250 M430 302 L535 290 M430 342 L535 330",
                  "fill": "none", "stroke": TINT}),
    ),
    "font": (
        ("rect", {"x": "210", "y": "160", "width": "380", "height": "330", "rx": "28",
                  "fill": "#ffffff", "fill-opacity": "0.7", "stroke": SHADE}),
        # "Aa" drawn as strokes (no <text>: no font, nothing for a screen to misread)
        ("path", {"d": "M250 400 L325 215 L400 400 M280 330 L370 330", "fill": "none",
                  "stroke": FILL, "stroke-width": "26"}),
        ("circle", {"cx": "478", "cy": "352", "r": "46", "fill": "none", "stroke": FILL,
                    "stroke-width": "22"}),
        ("path", {"d": "M530 296 L530 402", "fill": "none", "stroke": FILL,
                  "stroke-width": "24"}),
        ("path", {"d": "M240 425 L560 425", "fill": "none", "stroke": TINT}),
    ),
    "photo": (
        ("rect", {"x": "200", "y": "160", "width": "400", "height": "320", "rx": "22",
                  "fill": FILL, "stroke": SHADE}),
        ("circle", {"cx": "235", "cy": "192", "r": "9", "fill": "#ffffff", "stroke": "none"}),
        ("circle", {"cx": "262", "cy": "192", "r": "9", "fill": "#ffffff", "stroke": "none"}),
        ("rect", {"x": "225", "y": "220", "width": "260", "height": "235", "rx": "8",
                  "fill": "#ffffff", "stroke": "none"}),
        ("circle", {"cx": "430", "cy": "270", "r": "22", "fill": "#f59e0b", "stroke": "none"}),
        ("path", {"d": "M240 440 L310 330 L355 390 L400 320 L470 440 Z", "fill": TINT,
                  "stroke": SHADE}),
        ("path", {"d": "M515 250 L575 250 M515 310 L575 310 M515 370 L575 370", "fill": "none",
                  "stroke": "#ffffff"}),
        ("circle", {"cx": "540", "cy": "250", "r": "10", "fill": TINT, "stroke": "none"}),
        ("circle", {"cx": "560", "cy": "310", "r": "10", "fill": TINT, "stroke": "none"}),
        ("circle", {"cx": "528", "cy": "370", "r": "10", "fill": TINT, "stroke": "none"}),
    ),
    "box": (
        ("path", {"d": "M400 170 L570 250 L400 330 L230 250 Z", "fill": TINT, "stroke": SHADE}),
        ("path", {"d": "M230 250 L400 330 L400 500 L230 420 Z", "fill": FILL, "stroke": SHADE}),
        ("path", {"d": "M570 250 L400 330 L400 500 L570 420 Z", "fill": SHADE,
                  "stroke": SHADE}),
    ),
}
# fmt: on


def product_svg(name: str, kind: str, colour: str | None, seed: str) -> bytes:
    """An 800x800 SVG picture of a product: background from ``seed``, drawing from ``kind``
    (a motif name such as "shirt" or "mug", or "apparel"/"home"/"stationery"/"digital"),
    ``colour`` a colour name ("Navy") or "#rrggbb"; unknown kinds draw a box."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    uid = digest[:4].hex()
    fill = colour_hex(colour) if colour else ACCENTS[digest[5] % len(ACCENTS)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}" role="img" aria-label={quoteattr(name)}>',
        f"<title>{escape(name)}</title>",
        *_background(digest, uid),
        # no caption below it any more: the drawing moves down to the middle
        '<g transform="translate(0 60)">',
        '<ellipse cx="400" cy="520" rx="200" ry="22" fill="#000000" fill-opacity="0.08"/>',
        '<g stroke-width="8" stroke-linejoin="round" stroke-linecap="round">',
        *_motif(motif_for(kind), fill),
        "</g></g>",
        "</svg>",
    ]
    return "\n".join(parts).encode("utf-8")


def alt_text(name: str, kind: str, colour: str | None = None) -> str:
    """A short description of the picture ``product_svg`` draws, for an ``alt`` attribute."""
    noun = NOUNS[motif_for(kind)]
    article = "an" if noun[0] in "aeiou" else "a"
    shade = f" in {colour.lower()}" if colour and not colour.startswith("#") else ""
    return f"{name}: illustration of {article} {noun}{shade}"[:200]


def motif_for(kind: str) -> str:
    key = kind.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in MOTIFS else "box"


def colour_hex(colour: str) -> str:
    """``#rrggbb`` for a colour name (known names, else derived from its hash) or hex value."""
    value = colour.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{6}", value):
        return value
    if value in COLOURS:
        return COLOURS[value]
    digest = hashlib.sha256(value.encode("utf-8")).digest()
    return ACCENTS[digest[0] % len(ACCENTS)]


def _mix(hex_colour: str, target: int, amount: float) -> str:
    """Blend ``hex_colour`` towards black (target 0) or white (255) by ``amount``."""
    channels = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (target - c) * amount) for c in channels]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def _background(digest: bytes, uid: str) -> list[str]:
    top, bottom = PALETTES[digest[4] % len(PALETTES)]
    x2, y2 = ("1", "1") if digest[6] % 2 else ("0", "1")
    parts = [
        f'<defs><linearGradient id="bg-{uid}" x1="0" y1="0" x2="{x2}" y2="{y2}">'
        f'<stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/>'
        "</linearGradient></defs>",
        f'<rect width="{SIZE}" height="{SIZE}" fill="url(#bg-{uid})"/>',
    ]
    for i in range(3):
        cx, cy = digest[7 + i] * SIZE // 255, digest[10 + i] * SIZE // 255
        r = 90 + digest[13 + i] % 170
        opacity = 0.18 + (digest[16 + i] % 20) / 100
        parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="#ffffff" fill-opacity="{opacity:.2f}"/>'
        )
    return parts


def _motif(motif: str, fill: str) -> list[str]:
    tokens = {FILL: fill, SHADE: _mix(fill, 0, 0.35), TINT: _mix(fill, 255, 0.45)}
    parts = []
    for tag, attrs in MOTIFS[motif]:
        if tag.startswith("/"):
            parts.append(f"<{tag}>")
            continue
        rendered = " ".join(
            f"{key}={quoteattr(tokens.get(value, value))}" for key, value in attrs.items()
        )
        opening = f"<{tag} {rendered}" if rendered else f"<{tag}"
        parts.append(opening + (">" if tag == "g" else "/>"))
    return parts
