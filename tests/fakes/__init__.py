"""Fakes for what tests cannot reach: payment provider APIs served on 127.0.0.1.

One module per provider (``paypal``, ``stripe``, ``razorpay``); the shared plumbing and the
list of test knobs are in ``base``.
"""

from .base import FakeProvider
from .paypal import FakePayPal
from .razorpay import FakeRazorpay
from .stripe import FakeStripe

__all__ = ["FakePayPal", "FakeProvider", "FakeRazorpay", "FakeStripe"]
