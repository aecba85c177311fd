"""Discount codes: the rules a code must pass (``rules``), its limited uses held like stock
(``uses``: hold, commit at payment, release), and the sweep of expired holds (``sweeper``).

Never imports flask: the checkout pipeline and the admin call these with a session."""
