"""Expected failures of business operations, raised by services and mapped once by the API.

Services raise these instead of returning HTTP responses; `syncportal.api` turns them into
JSON errors (409, 422, 403, 404) and pages turn them into form errors or messages.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of expected, user-facing failures; the message is shown as is."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, last admin, ...)."""

    status = 409


class Invalid(DomainError):
    """Input that passed the schema but not the business rules; names the field."""

    status = 422

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class Forbidden(DomainError):
    """The caller may see the object but not do this (e.g. a read-only token writing)."""

    status = 403
