"""All models, imported here so Alembic and ``Base.metadata`` see every table."""

from .alerts import Alert, AlertKind
from .audit import AuditLog
from .base import Base, utcnow
from .cart import Cart, CartLine
from .catalog import Category, Product, ProductImage, ProductKind, Variant
from .checkout import ACTIVE_STATES, Checkout, CheckoutEvent, CheckoutLine, CheckoutState
from .discounts import (
    DiscountCode,
    DiscountHold,
    DiscountHoldState,
    DiscountKind,
    DiscountScope,
    discount_code_products,
)
from .inventory import HoldState, MovementReason, Reservation, StockMovement, SweepRun
from .keys import KeyState, LicenseKey
from .orders import (
    ORDER_TRANSITIONS,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Return,
    ReturnState,
)
from .outbox import OutboxMessage, OutboxState
from .payments import (
    CAPTURED_STATES,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    TestpayPayment,
    WebhookEvent,
    WebhookState,
)
from .settings import ShopSetting
from .shipping import RateKind, ShippingPlace, ShippingRate, ShippingZone, TaxRate
from .users import (
    EmailConfirmation,
    LoginThrottle,
    PasswordResetToken,
    Role,
    SavedAddress,
    User,
)

__all__ = [
    "RateKind",
    "ShippingPlace",
    "ShippingRate",
    "ShippingZone",
    "TaxRate",
    "Alert",
    "SavedAddress",
    "AlertKind",
    "ORDER_TRANSITIONS",
    "PasswordResetToken",
    "EmailConfirmation",
    "LoginThrottle",
    "Return",
    "ReturnState",
    "KeyState",
    "LicenseKey",
    "ACTIVE_STATES",
    "Checkout",
    "CheckoutEvent",
    "CheckoutLine",
    "CheckoutState",
    "DiscountCode",
    "DiscountHold",
    "DiscountHoldState",
    "DiscountKind",
    "DiscountScope",
    "discount_code_products",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OrderStatus",
    "OutboxMessage",
    "OutboxState",
    "CAPTURED_STATES",
    "Payment",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "TestpayPayment",
    "WebhookEvent",
    "WebhookState",
    "AuditLog",
    "Base",
    "Cart",
    "CartLine",
    "Category",
    "HoldState",
    "MovementReason",
    "Product",
    "ProductImage",
    "ProductKind",
    "Reservation",
    "Role",
    "StockMovement",
    "ShopSetting",
    "SweepRun",
    "User",
    "Variant",
    "utcnow",
]
