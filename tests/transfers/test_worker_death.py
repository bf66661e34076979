"""A worker killed mid-run (kill -9) leaves no s5cmd behind and no job `running` forever: the
reaper re-queues it once, another worker runs it to the end, and the dead attempt's late
message does nothing. A worker that loses its lease stops its own run."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from tests.support import wait_until
from tests.transfers.conftest import audit_actions, transfer_worker
from tests.transfers.support import (
    capture_late_sweeps,
    hashes,
    multipart_uploads,
    s3_hashes,
    s5cmd_processes,
    wait_for_job,
    write_files,
)
from transfers import services
from transfers.execution import reap_expired_leases
from transfers.models import Job
from transfers.specs import snapshot_options as profile_options
from transfers.tasks import run_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024
LEASE = 5


@pytest.fixture
def slow_upload(team, operator, s3_a, endpoint_a, local_dir):
    """A profile whose job takes a few seconds: big files, one at a time, in 5 MiB parts."""
    objects = {f"big-{n}.bin": os.urandom(16 * MiB) for n in range(6)}
    write_files(local_dir, objects)
    bucket = s3_a.bucket("dst")
    profile = services.create_profile(
        team,
        actor=operator,
        name="slow upload",
        mode="copy",
        workers=1,
        concurrency=1,
        part_size_mb=5,
        source_path=str(local_dir),
        destination_endpoint=endpoint_a,
        destination_bucket=bucket,
    )
    return profile, objects, bucket


def test_it_reruns_the_job_exactly_once_after_its_worker_is_killed(
    settings, process_env, tmp_path, operator, s3_a, slow_upload
):
    profile, objects, bucket = slow_upload
    client = s3_a.client()
    queue = f"transfers-{uuid.uuid4().hex[:8]}"
    settings.TRANSFER_QUEUE = queue  # this process enqueues there: start_job and the reaper
    doomed = transfer_worker(
        process_env, tmp_path / "doomed.log", queue=queue, name="doomed", lease=LEASE
    )
    try:
        job = services.start_job(profile, actor=operator)
        wait_until(lambda: multipart_uploads(client, bucket), "the upload to be under way", 60)
        assert len(s5cmd_processes(s3_a.url)) == 1

        os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its pool, all at once

        wait_until(lambda: not s5cmd_processes(s3_a.url), "s5cmd to die with its worker", 10)
        job.refresh_from_db()
        assert job.state == Job.State.RUNNING and job.attempts == 1  # nobody said otherwise
        reaped = wait_until(reap_expired_leases, "the dead worker's lease to expire", LEASE * 4)
        assert reaped == [job.pk]
        job.refresh_from_db()
        assert (job.state, job.lease_owner) == (Job.State.QUEUED, "")
        assert "stopped responding" in job.error
    finally:
        doomed.stop()

    survivor = transfer_worker(
        process_env, tmp_path / "survivor.log", queue=queue, name="survivor", lease=LEASE
    )
    try:
        job = wait_for_job(job, timeout=120)
        assert job.state == Job.State.SUCCEEDED, (job.error, survivor.output()[-3000:])
        assert job.attempts == 2
        assert s3_hashes(client, bucket) == hashes(objects)
        assert multipart_uploads(client, bucket) == []  # the first attempt's were aborted
        assert audit_actions().count("job.requeued") == 1

        # The killed worker never acknowledged its message; when the broker delivers it again,
        # the job is not queued any more and nothing runs.
        run_job.apply_async((job.pk,), queue=queue)
        survivor.wait_for_output(f"job {job.pk}: not queued any more", "the late message")
        job.refresh_from_db()
        assert (job.state, job.attempts) == (Job.State.SUCCEEDED, 2)
    finally:
        survivor.stop()


def test_a_worker_that_loses_its_lease_stops_its_run(celery_worker, s3_a, operator, slow_upload):
    profile, _objects, bucket = slow_upload
    client = s3_a.client()
    job = services.start_job(profile, actor=operator)
    wait_until(lambda: multipart_uploads(client, bucket), "the upload to be under way", 60)

    # What the reaper does when it believes the worker dead: the job goes to someone else.
    Job.objects.filter(pk=job.pk).update(state=Job.State.QUEUED, lease_owner="", attempts=5)

    wait_until(lambda: not s5cmd_processes(s3_a.url), "the worker to stop its own run", 15)
    job.refresh_from_db()
    # It did not write its outcome over the job it no longer holds.
    assert (job.state, job.lease_owner, job.finished_at) == (Job.State.QUEUED, "", None)
    Job.objects.filter(pk=job.pk).update(state=Job.State.CANCELLED)  # let the test end clean


@pytest.mark.parametrize("cancelled", [True, False])
def test_the_uploads_of_a_job_whose_worker_died_are_swept_once_it_is_reaped(
    cancelled, monkeypatch, settings, operator, s3_a, slow_upload
):
    """No abort pass ran: s5cmd died with its worker. Whether the reaper ends the job
    cancelled (a cancel was pending) or failed (no attempt left), its uploads are swept."""
    from datetime import timedelta

    from django.utils import timezone

    from transfers import execution

    profile, _objects, bucket = slow_upload
    client = s3_a.client()
    settings.TRANSFER_MAX_ATTEMPTS = 1
    left = client.create_multipart_upload(Bucket=bucket, Key="big-3.bin")["UploadId"]
    foreign = client.create_multipart_upload(Bucket=bucket, Key="not-from-the-source.bin")
    now = timezone.now()
    job = Job.objects.create(
        team=profile.team,
        profile=profile,
        profile_name=profile.name,
        options=profile_options(profile),
        state=Job.State.RUNNING,
        attempts=1,
        lease_owner="dead-worker",
        lease_expires_at=now - timedelta(seconds=1),
        started_at=now - timedelta(minutes=1),
        cancel_requested_at=now if cancelled else None,
    )
    sweeps = capture_late_sweeps(monkeypatch)

    assert reap_expired_leases() == [job.pk]

    job.refresh_from_db()
    assert job.state == (Job.State.CANCELLED if cancelled else Job.State.FAILED)
    delay = settings.TRANSFER_LATE_SWEEP_SECONDS
    assert sweeps == [((job.pk,), delay), ((job.pk,), 10 * delay)]
    assert execution.sweep_abandoned_uploads(job.pk) == 1
    remaining = multipart_uploads(client, bucket)
    assert [(u["Key"], u["UploadId"]) for u in remaining] == [
        ("not-from-the-source.bin", foreign["UploadId"])
    ]
    assert left not in [u["UploadId"] for u in remaining]
