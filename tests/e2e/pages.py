"""Steps the browser tests share."""

from __future__ import annotations

import re


def fill_address(page, base: str) -> None:
    """The checkout form filled as a shopper does, submitted: the review page with its hold."""
    page.goto(base + "/checkout")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("12 St James's Square")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postal code").fill("SW1Y 4JH")
    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Reserve my items and review").click()
    page.wait_for_url(re.compile(r"/checkout/co_"))
