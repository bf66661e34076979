"""Human-readable sizes, rates and durations, as the pages show them (static/js/app.js formats
live values the same way)."""

from __future__ import annotations

from datetime import timedelta

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(value: int | float | None) -> str:
    """Bytes in binary units: 512 B, 1.5 KiB, 37.2 MiB, 118 GiB."""
    if value is None:
        return "—"
    amount = float(value)
    unit = 0
    while abs(amount) >= 1024 and unit < len(_UNITS) - 1:
        amount /= 1024
        unit += 1
    if unit == 0:
        return f"{int(amount)} B"
    return f"{amount:.1f} {_UNITS[unit]}" if abs(amount) < 100 else f"{amount:.0f} {_UNITS[unit]}"


def rate(value: int | float | None) -> str:
    """Bytes per second: 83.9 MiB/s."""
    return "—" if value is None else f"{size(value)}/s"


def duration(value: timedelta | int | float | None) -> str:
    """A span of time, two units at most: 45 s, 3 min 12 s, 2 h 05 min, 3 d 4 h."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
