"""The shopper's words for orders: every status has them, and tracking links go to the
carrier's page with the number quoted."""

import pytest

from app.models import OrderStatus
from app.services.orders import shopper_words as words


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_status_has_words_and_none_is_the_raw_value(status):
    label, headline = words.ORDER_LABELS[status], words.HEADLINES[status]
    assert label != status.value and label[0].isupper() and "_" not in label + headline


@pytest.mark.parametrize(
    ("carrier", "start"),
    [
        ("UPS", "https://www.ups.com/"),
        (" usps ", "https://tools.usps.com/"),
        ("FedEx Ground", "https://www.fedex.com/"),
        ("DHL Express", "https://www.dhl.com/"),
        ("Royal Mail", "https://www.royalmail.com/"),
    ],
)
def test_known_carriers_link_to_their_tracking_page(carrier, start):
    url = words.tracking_url(carrier, "AB 12/3")
    assert url.startswith(start) and "AB%2012%2F3" in url


def test_an_unknown_carrier_or_no_number_has_no_link():
    assert words.tracking_url("Bob's Vans", "BV-1") is None
    assert words.tracking_url("UPS", "  ") is None
    assert words.tracking_url(None, "1Z") is None
