"""Progress: aggregated per object, throttled to a few messages a second, numbered, and never
going backwards — checked on the tracker itself and on a real 10,000-object job watched
through its WebSocket."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync

from tests.transfers.channels_client import communicator, session_cookie
from tests.transfers.support import s3_keys, wait_for_job, write_files
from transfers import services
from transfers.engine.progress import Phase, ProgressTracker
from transfers.models import Job

STATE_ORDER = ["queued", "planning", "running", "verifying", "succeeded"]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_throttles_and_numbers_snapshots():
    clock, seen = FakeClock(), []
    tracker = ProgressTracker(seen.append, interval=0.25, clock=clock)
    tracker.set_totals(objects=1000, bytes=1_000_000, skipped=3)

    for _ in range(100):  # 100 objects within 0.1 s: one message, not a hundred
        tracker.add(objects=1, bytes=1000)
        clock.now += 0.001
    clock.now += 0.3
    tracker.add(objects=1, bytes=1000)
    final = tracker.finish()

    assert [s.seq for s in seen] == list(range(1, len(seen) + 1))
    assert len(seen) == 3  # the totals, the add after the interval, the final one
    assert seen[-2].objects_done == 101 and seen[-2].throughput_bps > 0
    assert seen[-2].eta_seconds == pytest.approx(
        (1_000_000 - 101_000) / seen[-2].throughput_bps, abs=0.1
    )
    assert final.final and final.phase == Phase.DONE and final.eta_seconds is None
    assert final.objects_skipped == 3


def test_a_phase_change_is_published_at_once():
    clock, seen = FakeClock(), []
    tracker = ProgressTracker(seen.append, interval=10.0, clock=clock)
    tracker.add(objects=1)
    tracker.set_phase(Phase.COPYING)
    tracker.set_phase(Phase.VERIFYING)
    assert [s.phase for s in seen] == [Phase.PLANNING, Phase.COPYING, Phase.VERIFYING]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_ten_thousand_object_job_completes_with_monotonic_progress(
    celery_worker, team, operator, viewer, s3_a, endpoint_a, local_dir
):
    count = 10_000
    write_files(local_dir, {f"d{n % 50:02d}/o{n:05d}": b"%05d" % n * 20 for n in range(count)})
    bucket = s3_a.bucket("ten-k")
    profile = services.create_profile(
        team,
        actor=operator,
        name="ten thousand",
        mode="copy",
        source_path=str(local_dir),
        destination_endpoint=endpoint_a,
        destination_bucket=bucket,
    )
    cookie = session_cookie(viewer)
    started = time.monotonic()
    job = services.start_job(profile, actor=operator)

    async def watch() -> list[dict]:
        socket = communicator(f"/ws/jobs/{job.pk}/", cookie=cookie)
        assert (await socket.connect())[0]
        messages = [await socket.receive_json_from(timeout=10)]
        while not messages[-1]["final"]:
            messages.append(await socket.receive_json_from(timeout=60))
        await socket.disconnect()
        return messages

    messages = async_to_sync(watch)()
    elapsed = time.monotonic() - started

    job = wait_for_job(job, timeout=10)
    assert job.state == Job.State.SUCCEEDED, job.error
    assert (job.objects_done, job.bytes_done, job.objects_failed) == (count, count * 100, 0)
    assert len(s3_keys(s3_a.client(), bucket)) == count

    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs)), "sequence numbers grow strictly"
    for field in ("objects_done", "bytes_done"):
        values = [m[field] for m in messages]
        assert values == sorted(values), f"{field} never goes back"
    states = [m["state"] for m in messages]
    assert [STATE_ORDER.index(s) for s in states] == sorted(STATE_ORDER.index(s) for s in states)
    assert messages[-1]["objects_done"] == count and messages[-1]["state"] == "succeeded"
    assert any(m["phase"] == "copying" and 0 < m["objects_done"] < count for m in messages)
    assert len(messages) < elapsed * 6  # a few a second, not one per object
    samples = list(job.samples.values_list("t", "objects_done"))
    assert len(samples) >= 2 and samples == sorted(samples)
    print(f"\n10,000 objects: {elapsed:.1f}s, {len(messages)} messages, {len(samples)} samples")
