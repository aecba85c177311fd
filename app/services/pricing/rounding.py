"""The two ways an exact amount becomes whole cents: one amount rounded half-up, and one total
split over several parts so the parts sum to it exactly (the largest-remainder method)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


def half_up(value: Fraction) -> int:
    """``value`` to the nearest whole unit, a half going away from zero (0.5 → 1, 2.5 → 3)."""
    if value < 0:
        return -half_up(-value)
    return math.floor(value + Fraction(1, 2))


def split_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split over ``weights`` in proportion, in whole units that sum to ``total``.

    Each part first gets the floor of its exact share; the units left over go one each to the
    parts with the largest remainders, the earlier part first on a tie. No part exceeds its
    weight when ``total`` does not exceed the weights' sum.
    """
    whole = sum(weights)
    if total < 0 or any(weight < 0 for weight in weights):
        raise ValueError("Amounts to split must not be negative.")
    if whole == 0:
        if total:
            raise ValueError("Cannot split an amount over nothing.")
        return [0] * len(weights)
    parts = [total * weight // whole for weight in weights]
    remainders = [total * weight % whole for weight in weights]
    left = total - sum(parts)
    ranked = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in ranked[:left]:
        parts[index] += 1
    return parts
