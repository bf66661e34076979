"""When a profile's cron schedule fires next, computed the way Celery beat will run it
(`celery.schedules.crontab`, UTC), for the dashboard's "due soon" list."""

from __future__ import annotations

from datetime import datetime

from celery.schedules import crontab


def next_run(expression: str, now: datetime) -> datetime | None:
    """The next time after `now` that `expression` (five cron fields) fires; None if invalid."""
    fields = expression.split()
    if len(fields) != 5:
        return None
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        schedule = crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            nowfun=lambda: now,
        )
        return now + schedule.remaining_estimate(now)
    except (ValueError, TypeError, IndexError):
        return None
