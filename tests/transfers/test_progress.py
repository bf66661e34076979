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


def test_each_snapshot_names_the_completions_it_is_first_to_count():
    clock, seen = FakeClock(), []
    tracker = ProgressTracker(seen.append, interval=0.25, clock=clock)
    tracker.set_phase(Phase.COPYING)
    assert seen[-1].first_completed_at is None and seen[-1].last_completed_at is None

    before = time.time()
    clock.now += 0.3
    tracker.add(objects=1, bytes=10)  # sent at once: the interval has passed
    tracker.add(objects=1, bytes=10)  # held back by the throttle
    tracker.add(bytes=5)  # bytes of an object still copying: not a completion
    clock.now += 0.3
    tracker.add(objects=1, bytes=10)
    after = time.time()

    first, second = seen[-2], seen[-1]
    assert before <= first.first_completed_at == first.last_completed_at <= after
    assert first.last_completed_at <= second.first_completed_at <= second.last_completed_at
    assert second.objects_done == 3
    clock.now += 0.3
    tracker.add(bytes=1)
    assert seen[-1].first_completed_at is None, "no new completion in this one"


def test_the_publisher_keeps_the_completions_of_a_snapshot_it_replaces_unsent():
    from transfers.engine.progress import Progress
    from transfers.progress import ProgressPublisher

    def snapshot(seq, first, last):
        return Progress(
            seq=seq, phase=Phase.COPYING, objects_total=9, bytes_total=9, objects_done=seq,
            bytes_done=seq, objects_failed=0, objects_skipped=0, objects_deleted=0,
            throughput_bps=1, eta_seconds=None, elapsed_seconds=1.0,
            first_completed_at=first, last_completed_at=last,
        )  # fmt: skip

    publisher = ProgressPublisher(1, 1, "owner")  # not started: nothing takes the snapshots
    publisher(snapshot(1, 10.0, 11.0))
    publisher(snapshot(2, None, None))
    publisher(snapshot(3, 12.0, 13.0))
    pending = publisher._latest
    assert (pending.seq, pending.first_completed_at, pending.last_completed_at) == (3, 10.0, 13.0)


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
    stamped = [m for m in messages if m["first_completed_at"]]
    assert stamped and all(
        m["first_completed_at"] <= m["last_completed_at"] <= m["at"] for m in stamped
    )
    # Throttled (the interval itself is pinned above with a fake clock), not one per object.
    assert len(messages) < count / 10
    samples = list(job.samples.values_list("t", "objects_done"))
    assert len(samples) >= 2 and samples == sorted(samples)
    print(f"\n10,000 objects: {elapsed:.1f}s, {len(messages)} messages, {len(samples)} samples")
