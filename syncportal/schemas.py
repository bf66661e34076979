"""Input types shared by the API's schemas: what every string, id and instant must satisfy
before it reaches a service or a query.

PostgreSQL refuses NUL characters in text and integers beyond 64 bits, and an instant near
year 1 or 9999 cannot always be moved to UTC: each would otherwise surface as a server error
instead of a 422 naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_ID = 2**63 - 1


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _utc(value: datetime) -> datetime:
    """Naive instants are taken as UTC; aware ones are converted to it."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is out of range") from None


Text = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Instant = Annotated[datetime, AfterValidator(_utc)]
