"""Checkout: carts, the checkout pipeline (start, review, expiry), the checkout monitor."""
