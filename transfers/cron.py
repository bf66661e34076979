"""Cron expressions of profile schedules: parsed, checked, described in words, and projected.

Parsing and next-run times use Celery's own `crontab`, the class beat evaluates, so what a
page shows is what beat will do. Schedules are in UTC. Two rules are stricter than cron:

- A range must run upwards (`1-5`, not `5-1`): Celery would wrap it around the clock,
  cron would refuse it, and the description would not match either.
- Day of month and day of week cannot both be restricted: cron runs on days matching
  *either*, Celery on days matching *both*, so such a schedule would surprise someone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from celery.schedules import ParseException, crontab, crontab_parser
from cron_descriptor import (
    ExpressionDescriptor,
    FormatException,
    MissingFieldException,
    Options,
    WrongArgumentException,
)
from django.core.exceptions import ValidationError

from transfers.engine.errors import InvalidValue

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class _Field:
    name: str  # crontab's keyword
    label: str
    low: int
    high: int
    allowed: str


FIELDS = (
    _Field("minute", "minute", 0, 59, "0-59"),
    _Field("hour", "hour", 0, 23, "0-23"),
    _Field("day_of_month", "day of month", 1, 31, "1-31"),
    _Field("month_of_year", "month", 1, 12, "1-12 or jan-dec"),
    _Field("day_of_week", "day of week", 0, 6, "0-6 with Sunday as 0, or sun-sat"),
)
_SYNTAX = re.compile(r"^[0-9A-Za-z*/,-]+$")


@dataclass(frozen=True)
class Cron:
    """A checked five-field cron expression, in UTC."""

    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str

    @property
    def expression(self) -> str:
        return " ".join(getattr(self, field.name) for field in FIELDS)

    def fields(self) -> dict[str, str]:
        return {field.name: getattr(self, field.name) for field in FIELDS}

    def schedule(self) -> crontab:
        return crontab(**self.fields())

    def describe(self) -> str:
        """The schedule in words, e.g. 'At 02:30, Monday through Friday (UTC)'."""
        options = Options()
        options.use_24hour_time_format = True
        options.day_of_week_start_index_zero = True
        try:
            words = ExpressionDescriptor(self.expression, options).get_description()
        except (FormatException, MissingFieldException, WrongArgumentException):
            words = self.expression
        return f"{words} (UTC)"

    def next_runs(self, count: int, *, after: datetime) -> list[datetime]:
        """The next `count` times beat will fire, strictly after `after`."""
        schedule = self.schedule()
        runs: list[datetime] = []
        moment = after.astimezone(UTC)
        for _ in range(count):
            last, delta, _now = schedule.remaining_delta(moment, tz=UTC)
            moment = last + delta
            runs.append(moment)
        return runs


def normalise(text: str) -> str:
    """Collapse whitespace and expand the @daily-style shorthands; does not validate."""
    expression = " ".join((text or "").split())
    return MACROS.get(expression.lower(), expression)


def parse(text: str) -> Cron:
    """Check a cron expression; raises `InvalidValue` with a sentence saying what is wrong."""
    expression = normalise(text)
    if expression.startswith("@"):
        raise InvalidValue(
            f"{expression} is not a schedule the portal knows; use five fields or one of "
            + ", ".join(sorted(MACROS))
            + "."
        )
    parts = expression.split(" ")
    if len(parts) != len(FIELDS):
        raise InvalidValue(
            "A schedule has five fields: minute, hour, day of month, month and day of week "
            f"(for example '30 2 * * *' for 02:30 every day); this one has {len(parts)}."
        )
    for field, value in zip(FIELDS, parts, strict=True):
        _check_field(field, value)
    cron = Cron(*parts)
    if cron.day_of_month != "*" and cron.day_of_week != "*":
        raise InvalidValue(
            "Restrict the day of month or the day of week, not both: cron would run on days "
            "matching either, the scheduler only on days matching both."
        )
    try:
        cron.schedule()
    except ValueError as exc:  # e.g. day 31 in February only
        raise InvalidValue(f"This schedule never runs: {exc}") from None
    return cron


def _check_field(field: _Field, value: str) -> None:
    problem = f"The {field.label} field {value!r} is not valid"
    hint = f"use {field.allowed}, *, ranges like 1-5, lists like 1,15 and steps like */10"
    if not _SYNTAX.match(value):
        raise InvalidValue(f"{problem}: {hint}.")
    parser = crontab_parser(field.high - field.low + 1, field.low)
    try:
        parser.parse(value)
        ranges = [part.split("/", 1)[0] for part in value.split(",")]
        backwards = [
            bounds
            for bounds in ranges
            if bounds.count("-") == 1
            and min(parser.parse(bounds.split("-")[0])) > min(parser.parse(bounds.split("-")[1]))
        ]
    except (ValueError, ParseException) as exc:
        # Celery reads any word as a weekday name first; say so plainly instead.
        reason = "unknown name" if "literal" in str(exc) else str(exc).rstrip(".")
        raise InvalidValue(f"{problem} ({reason}); {hint}.") from None
    if backwards:
        raise InvalidValue(
            f"The {field.label} range {backwards[0]!r} runs backwards: "
            "write it from low to high, or as two ranges."
        )


@dataclass(frozen=True)
class Preview:
    """What a schedule typed into a form means: in words with its next runs, or what is wrong."""

    expression: str
    words: str = ""
    next_runs: tuple[datetime, ...] = ()
    error: str = ""


def schedule_preview(text: str, *, count: int = 3, after: datetime | None = None) -> Preview:
    """`text` (as typed) checked, described and projected; blank means no schedule."""
    expression = normalise(text)
    if not expression:
        return Preview("")
    try:
        cron = parse(expression)
    except InvalidValue as exc:
        return Preview(expression, error=str(exc))
    runs = cron.next_runs(count, after=after or datetime.now(tz=UTC))
    return Preview(cron.expression, cron.describe(), tuple(runs))


def validate_schedule(value: str) -> None:
    """Model field validator: blank (no schedule) or a valid cron expression."""
    if not value:
        return
    try:
        parse(value)
    except InvalidValue as exc:
        raise ValidationError(str(exc), code="invalid_schedule") from None
