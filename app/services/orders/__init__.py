"""Orders: the order book, completing a paid checkout into an order, fulfilment, refunds and
after-sales (shipping, cancelling, returns)."""
