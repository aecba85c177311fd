"""Checks an operator runs: the invariants (``flask holdfast verify``) and health."""
