"""Fakes for what tests cannot reach: payment provider APIs served on 127.0.0.1."""

from .providers import FakePayPal, FakeProvider, FakeRazorpay, FakeStripe

__all__ = ["FakePayPal", "FakeProvider", "FakeRazorpay", "FakeStripe"]
