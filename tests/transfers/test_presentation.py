"""How the pages present numbers and time: sizes, rates, durations and throughput series from
stored samples. (When a schedule fires next: test_cron.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from transfers import formatting, throughput

T0 = datetime(2026, 11, 25, 17, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (50 * 2**20, "50.0 MiB"),
        (118 * 2**30, "118 GiB"),
        (3 * 2**50, "3.0 PiB"),
    ],
)
def test_it_shows_sizes_in_binary_units(value, text):
    assert formatting.size(value) == text


def test_it_shows_rates_and_durations():
    assert formatting.rate(83.9 * 2**20) == "83.9 MiB/s"
    assert formatting.rate(None) == "—"
    assert [formatting.duration(s) for s in (0, 45, 192, 7500, 3 * 86400 + 4 * 3600)] == [
        "0 s",
        "45 s",
        "3 min 12 s",
        "2 h 05 min",
        "3 d 4 h",
    ]
    assert formatting.duration(timedelta(minutes=1)) == "1 min 00 s"


def test_a_series_spreads_bytes_over_the_time_they_took():
    samples = [(1, T0 + timedelta(seconds=s), s * 1000) for s in (2, 4, 6)]
    series = throughput.series(
        samples, start=T0, end=T0 + timedelta(seconds=6), min_width=2, origin={1: (T0, 0)}
    )
    assert series["bps"] == [1000, 1000, 1000]
    assert series["t"] == [T0.timestamp() + 2, T0.timestamp() + 4, T0.timestamp() + 6]


def test_a_series_sums_jobs_and_keeps_to_its_number_of_points():
    samples = [
        (job, T0 + timedelta(seconds=s), s * rate)
        for job, rate in ((1, 100), (2, 300))
        for s in range(0, 3601)
    ]
    series = throughput.series(samples, start=T0, end=T0 + timedelta(hours=1), max_points=60)
    assert len(series["t"]) == 60
    assert set(series["bps"]) == {400}


def test_a_series_ignores_what_came_before_its_window():
    samples = [(1, T0 - timedelta(seconds=10), 0), (1, T0 + timedelta(seconds=10), 2000)]
    series = throughput.series(samples, start=T0, end=T0 + timedelta(seconds=10), min_width=10)
    assert series["bps"] == [100]  # half of the interval, and its bytes, are in the window
