"""Payments: starting one with a provider, webhooks in, reconciliation."""
