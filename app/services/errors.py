"""Domain errors. Each carries a message fit to show a shopper or an operator."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a request that cannot be done as asked. Routes turn it into a 4xx."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    """The person is known but their role may not do this (staff asking for a refund)."""

    status_code = 403
