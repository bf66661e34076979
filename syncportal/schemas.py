"""Input types shared by the API's schemas: what every string, id and instant must satisfy
before it reaches a service or a query.

PostgreSQL refuses NUL characters in text and integers beyond 64 bits, and an instant near
year 1 or 9999 cannot always be moved to UTC: each would otherwise surface as a server error
instead of a 422 naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

MAX_ID = 2**63 - 1

# ISO 8601 in its extended form: a date, optionally a time (seconds and fraction optional) and
# an offset. Pydantic alone also takes numbers as Unix timestamps (`0.5` is 1970-01-01), which
# no client means in a date filter.
_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$",
    re.IGNORECASE,
)
INSTANT_FORMAT = (
    "Use an ISO 8601 date-time such as 2026-11-25T14:30:00Z or 2026-11-25T15:30:00+01:00 "
    "(encode '+' as %2B in a URL), or a date such as 2026-11-25 (its midnight, UTC)."
)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _iso_8601(value: Any) -> Any:
    """Only ISO 8601 text reaches pydantic's own parsing (datetimes pass, for Python callers)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_8601.match(value):
        raise PydanticCustomError("iso_8601", INSTANT_FORMAT)
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:  # the right shape, but e.g. month 13 or hour 25
        raise PydanticCustomError(
            "iso_8601", "{value} is not a real date-time.", {"value": value}
        ) from None


def _utc(value: datetime) -> datetime:
    """Naive instants are taken as UTC; aware ones are converted to it."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError("iso_8601", "This instant is out of range in UTC.") from None


Text = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Instant = Annotated[datetime, BeforeValidator(_iso_8601), AfterValidator(_utc)]
