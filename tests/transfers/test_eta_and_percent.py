"""Percent and time left account for objects as well as bytes: a run whose bytes are done
with many small objects to go is neither "100 %" nor "0 s left"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from transfers.engine.progress import ProgressTracker, remaining_seconds
from transfers.models import Job, progress_percent


def test_it_takes_the_lower_of_the_byte_and_object_percentages():
    # 144 of 260 objects to go while the large ones made the bytes nearly done.
    assert progress_percent(116, 260, 990, 1000) == pytest.approx(100 * 116 / 260)
    assert progress_percent(250, 260, 100, 1000) == 10.0
    assert progress_percent(3, 4, 0, 0) == 75.0  # empty objects: the objects decide
    assert progress_percent(0, 0, 0, 0) is None
    assert progress_percent(0, None, 5, None) is None
    assert progress_percent(9, 4, 10, 5) == 100.0


def test_time_left_is_the_longer_of_bytes_and_objects():
    # Bytes all but done, 144 objects left at 50 per second: about 3 s, not 0 s.
    assert remaining_seconds(
        objects_left=144, bytes_left=0, objects_per_second=50, bytes_per_second=1000
    ) == pytest.approx(2.9)
    # One large object in flight: objects say nothing lately, bytes do.
    assert (
        remaining_seconds(
            objects_left=1, bytes_left=5000, objects_per_second=0, bytes_per_second=1000
        )
        == 5.0
    )
    # Objects remain, nothing completes and no byte is left: unknown, never "0 s".
    assert (
        remaining_seconds(objects_left=10, bytes_left=0, objects_per_second=0, bytes_per_second=0)
        is None
    )
    assert (
        remaining_seconds(objects_left=0, bytes_left=0, objects_per_second=5, bytes_per_second=5)
        == 0
    )


def test_the_tracker_does_not_say_zero_seconds_with_objects_to_go():
    now = [0.0]
    tracker = ProgressTracker(None, clock=lambda: now[0])
    tracker.set_totals(objects=260, bytes=1000, skipped=0)
    tracker.snapshot()
    now[0] = 2.0
    tracker.add(objects=116, bytes=1000)  # the large objects first: all bytes done

    snapshot = tracker.snapshot()

    assert snapshot.bytes_done == snapshot.bytes_total
    assert snapshot.eta_seconds == pytest.approx(144 / (116 / 2), abs=0.1)


def running_job(**fields) -> Job:
    return Job(
        state=Job.State.RUNNING,
        started_at=timezone.now() - timedelta(seconds=10),
        profile_name="x",
        **fields,
    )


def test_the_page_reckons_time_left_and_percent_the_same_way():
    job = running_job(
        objects_total=260, objects_done=116, bytes_total=1000, bytes_done=1000, throughput_bps=100
    )
    html = Template(
        "{% load portal %}{{ job|eta|duration }}|{{ job|progress_percent|percent }}"
    ).render(Context({"job": job}))
    left, percent = html.split("|")
    # 116 objects in 10 s: 144 left take about 12 s; bytes would say 0 s.
    assert left in {"12 s", "13 s"}
    assert percent == "44 %"
