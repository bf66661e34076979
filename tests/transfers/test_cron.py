"""Cron expressions: checked with clear messages, described in words, projected the way beat
will fire them (Celery's own crontab, UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from transfers.cron import Preview, normalise, parse, schedule_preview, validate_schedule
from transfers.engine.errors import InvalidValue

FRIDAY_0350 = datetime(2026, 11, 27, 3, 50, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * * *", "Every minute (UTC)"),
        ("30 2 * * *", "At 02:30 (UTC)"),
        ("*/15 2-4 * * 1-5", "Every 15 minutes, between 02:00 and 04:59, Monday through Friday"),
        ("0 0 * * sun", "At 00:00, only on Sunday (UTC)"),
        ("0 12 1 jan-mar *", "At 12:00, on day 1 of the month, January through March"),
    ],
)
def test_it_describes_a_schedule_in_words(expression, words):
    assert words in parse(expression).describe()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0", "five fields"),
        ("0 0 * * * *", "five fields"),
        ("@reboot", "not a schedule the portal knows"),
        ("61 * * * *", "The minute field '61' is not valid"),
        ("* 24 * * *", "The hour field '24' is not valid"),
        ("0 0 0 * *", "The day of month field '0' is not valid"),
        ("0 0 * 13 *", "The month field '13' is not valid"),
        ("0 0 * * 7", "Sunday as 0"),
        ("*/0 * * * *", "step cannot be zero"),
        ("a * * * *", "The minute field 'a' is not valid (unknown name)"),
        ("1,,2 * * * *", "empty part"),
        ("0 0 ? * *", "The day of month field '?' is not valid"),
        ("0 0 L * *", "The day of month field 'L' is not valid"),
        ("5-3 * * * *", "runs backwards"),
        ("0 0 * * fri-mon", "runs backwards"),
        ("0 0 1 * 1", "not both"),
        ("0 0 31 2 *", "This schedule never runs"),
    ],
)
def test_it_refuses_nonsense_with_a_reason(expression, message):
    with pytest.raises(InvalidValue, match=re.escape(message)):
        parse(expression)


def test_the_model_validator_raises_a_validation_error():
    validate_schedule("")  # no schedule is fine
    validate_schedule("@hourly")
    with pytest.raises(ValidationError) as caught:
        validate_schedule("every day")
    assert "five fields" in caught.value.messages[0]


def test_it_normalises_whitespace_and_shorthands():
    assert normalise("  0   2 *  * * ") == "0 2 * * *"
    assert normalise("@daily") == "0 0 * * *"
    assert normalise("@WEEKLY") == "0 0 * * 0"


def test_next_runs_are_strictly_after_the_given_time():
    assert parse("*/15 2-4 * * 1-5").next_runs(6, after=FRIDAY_0350) == [
        datetime(2026, 11, 27, 4, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 4, 15, tzinfo=UTC),
        datetime(2026, 11, 27, 4, 30, tzinfo=UTC),
        datetime(2026, 11, 27, 4, 45, tzinfo=UTC),
        # the weekend is skipped
        datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 2, 15, tzinfo=UTC),
    ]
    on_the_minute = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    assert parse("0 * * * *").next_runs(1, after=on_the_minute) == [
        datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    ]


def test_next_runs_cross_months_and_leap_years():
    assert parse("0 0 29 2 *").next_runs(2, after=FRIDAY_0350) == [
        datetime(2028, 2, 29, tzinfo=UTC),
        datetime(2032, 2, 29, tzinfo=UTC),
    ]
    assert parse("30 6 31 * *").next_runs(2, after=FRIDAY_0350) == [
        datetime(2026, 12, 31, 6, 30, tzinfo=UTC),
        datetime(2027, 1, 31, 6, 30, tzinfo=UTC),
    ]


def test_a_typed_schedule_is_previewed_in_words_with_its_next_runs():
    wednesday_1700 = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    preview = schedule_preview(" 30 6 * * 1-5 ", after=wednesday_1700)
    assert preview == Preview(
        "30 6 * * 1-5",
        "At 06:30, Monday through Friday (UTC)",
        (
            datetime(2026, 11, 26, 6, 30, tzinfo=UTC),
            datetime(2026, 11, 27, 6, 30, tzinfo=UTC),
            datetime(2026, 11, 30, 6, 30, tzinfo=UTC),  # after the weekend
        ),
    )
    assert schedule_preview("@daily", count=1, after=wednesday_1700).next_runs == (
        datetime(2026, 11, 26, 0, 0, tzinfo=UTC),
    )
    assert schedule_preview("61 * * * *").error.startswith("The minute field '61' is not valid")
    assert schedule_preview("  ") == Preview("")
