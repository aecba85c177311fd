"""Pricing: the one place a cart's totals are computed. Pure (no database, Flask or I/O):
frozen dataclasses in, frozen dataclasses out, every amount integer minor units of one
currency. Nothing here is re-exported; import from the module that defines it:

- ``quote``: ``CartLine``, ``PriceRequest``, ``TaxMode``, ``quote()`` → ``Quote``/``QuoteLine``
- ``shipping``: ``FlatRate``, ``WeightBandRate`` (``WeightBand``), ``FreeAbove``
- ``tax``: ``TaxRate``, ``Destination``, ``rate_for``, ``tax_in``
- ``discounts``: ``Discount`` (percentage in basis points or fixed), ``discount_shares``
- ``refunds``: ``refund_split`` → ``RefundSplit`` (how much of a refund is tax)
- ``rounding``: ``half_up``, ``split_pro_rata``

Rounding rule. No amount is ever a fraction of a cent: each is computed exactly (``Fraction``)
and rounded once, to the cent, half-up (half a cent goes up; all amounts are positive).

- Tax is computed per line, on the line's amount after its discount share, at the line's rate.
  Prices that include tax have it extracted (amount × rate / (1 + rate)); prices that exclude
  it have it added (amount × rate). So €50 − €10 at 20 % inclusive is €40.00 to pay, of which
  €6.67 tax (Medusa #5776 charged €39); exclusive, it is €40.00 + €8.00.
- Half-up, not banker's rounding: it is the commercial rounding tax authorities expect (US
  states' "half-cent rule"; HMRC accepts each line rounded to the nearest penny) and what a
  shopper or the owner's accountant gets by hand, so receipts, reports and a calculator agree.
  Banker's rounding only pays off when many rounded amounts are summed and re-rounded; here
  each amount is rounded once and the rounded amounts are what is charged and reported.
- An order discount is split over its eligible lines pro rata to their gross by the
  largest-remainder method: each share is whole cents, the shares sum exactly to the discount,
  and no share exceeds its line.
- Totals are sums of rounded amounts, never re-rounded: grand total = lines subtotal −
  discount + shipping (+ lines' tax + shipping tax when prices exclude tax).
"""
