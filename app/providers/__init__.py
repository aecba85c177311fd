"""Payment providers, chosen by name from a registry (``PAYMENT_PROVIDERS`` lists the enabled
ones). Adapters are imported only when used, so a shop without Stripe never imports stripe."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .base import (
    ChargeBreakdown,
    CreatedPayment,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
    ProviderError,
    RefundResult,
    WebhookEvent,
    WebhookKind,
)

PROVIDERS = {
    "testpay": ("app.providers.testpay", "TestpayProvider", "Test payment (no real money)"),
    "paypal": ("app.providers.paypal", "PayPalProvider", "PayPal"),
    "stripe": ("app.providers.stripe", "StripeProvider", "Card (Stripe)"),
    "razorpay": ("app.providers.razorpay", "RazorpayProvider", "Razorpay"),
}


class UnknownProvider(LookupError):
    pass


# The settings a provider cannot work without; missing, it is not offered (a 503, never a 500).
REQUIRED_SETTINGS = {
    "paypal": ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET"),
    "stripe": ("STRIPE_SECRET_KEY",),
    "razorpay": ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET"),
}


def provider_label(name: str) -> str:
    return PROVIDERS[name][2] if name in PROVIDERS else name


def get_provider(name: str, settings: Mapping[str, Any]) -> PaymentProvider:
    """The adapter for ``name``, configured from ``settings`` (the app's config)."""
    if name not in PROVIDERS:
        raise UnknownProvider(f"unknown payment provider {name!r}")
    missing = [key for key in REQUIRED_SETTINGS.get(name, ()) if not settings.get(key)]
    if missing:
        raise ProviderError(f"{name} is not configured: {', '.join(missing)} not set")
    module_name, class_name, _label = PROVIDERS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)


__all__ = [
    "PROVIDERS",
    "ChargeBreakdown",
    "CreatedPayment",
    "InvalidSignature",
    "MalformedWebhook",
    "PaymentProvider",
    "PaymentRequest",
    "PaymentState",
    "PaymentStatus",
    "ProviderError",
    "RefundResult",
    "UnknownProvider",
    "WebhookEvent",
    "WebhookKind",
    "get_provider",
    "provider_label",
]
