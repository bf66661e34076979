"""Template filters of the operations partials (schedules, freshness, durations)."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def size(value) -> str:
    """Like filesizeformat, with a plain space (for plain-text email)."""
    return filesizeformat(value).replace("\xa0", " ")


@register.filter
def seconds(value) -> str:
    """A duration in seconds, in words: '45 s', '2 min 10 s', '3 h 5 min', '2 d 4 h'."""
    if value is None or value == "":
        return ""
    total = round(float(value))
    if total < 60:
        return f"{total} s" if float(value) >= 1 else "under 1 s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
