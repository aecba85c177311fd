"""Who may do what in the admin. Staff run the shop day to day; only the owner moves money
back out (refunds), manages staff and settings, and sets what the shop charges (shipping, taxes,
discount codes). Customers and visitors may do nothing here (the admin answers them 404, as if
it did not exist)."""

from __future__ import annotations

from app.models import Role

STAFF = frozenset({Role.STAFF, Role.OWNER})
OWNER = frozenset({Role.OWNER})

# action → the roles that may take it
ACTIONS: dict[str, frozenset[Role]] = {
    "view": STAFF,
    "bulk": STAFF,
    "decide_return": STAFF,
    "release_hold": STAFF,
    "run_sweeper": STAFF,
    "replay_webhook": STAFF,
    "resend_email": STAFF,
    "ship": STAFF,
    "catalogue": STAFF,  # products, variants, categories, photos
    "stock": STAFF,  # adjust stock, import license keys
    "cancel": STAFF,
    "withdraw_links": STAFF,  # an order's guest links (a forwarded or leaked email)
    "retry_fulfilment": STAFF,
    "refund": OWNER,
    "unlock": STAFF,
    "manage_staff": OWNER,
    "settings": OWNER,
    # what the shop charges: shipping zones and rates, tax rates, discount codes
    "shipping": OWNER,
    "taxes": OWNER,
    "discounts": OWNER,
}


def allowed(role: Role | None, action: str) -> bool:
    return role is not None and role in ACTIONS.get(action, frozenset())
