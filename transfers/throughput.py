"""Throughput over time from stored JobSamples, for the charts of the job page and dashboard.

Samples hold cumulative bytes per job (about one a second). The bytes a job moved between two
of its samples are spread evenly over that interval and credited to the time buckets it
overlaps; a bucket's rate is the bytes credited to it over its width. Summing over jobs gives
the aggregate of the dashboard; a long job is drawn with at most `max_points` buckets however
many samples it has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime


def series(
    samples: Iterable[tuple[int, datetime, int]],
    *,
    start: datetime,
    end: datetime,
    max_points: int = 600,
    min_width: float = 1.0,
    origin: dict[int, tuple[datetime, int]] | None = None,
    digits: int | None = None,
) -> dict[str, list]:
    """`samples`: (job id, time, bytes done), ordered by job then time. `origin` gives a job's
    starting point (e.g. its start time with 0 bytes) when its first sample is not the start.
    Returns {"t": [epoch seconds], "bps": [bytes per second]}, one point per bucket; rates
    rounded to `digits` decimals (None: whole numbers). Counts of objects work the same way."""
    span = max((end - start).total_seconds(), min_width)
    width = max(min_width, span / max_points)
    count = max(1, math.ceil(span / width))
    credited = [0.0] * count
    previous: dict[int, tuple[datetime, int]] = dict(origin or {})
    for job_id, at, done in samples:
        before = previous.get(job_id)
        previous[job_id] = (at, done)
        if before is None or at <= start:
            continue
        moved, elapsed = done - before[1], (at - before[0]).total_seconds()
        begin = max(0.0, (before[0] - start).total_seconds())
        finish = min(span, (at - start).total_seconds())
        if moved <= 0 or elapsed <= 0 or finish <= begin:
            continue
        per_second = moved / elapsed
        first, last = int(begin // width), min(count - 1, int(finish // width))
        for index in range(first, last + 1):
            overlap = min(finish, (index + 1) * width) - max(begin, index * width)
            credited[index] += per_second * max(0.0, overlap)
    base = start.timestamp()
    return {
        "t": [round(base + (i + 1) * width, 3) for i in range(count)],
        "bps": [round(total / width, digits) for total in credited],
    }
