"""Cancelling: a queued job never runs; a running one stops s5cmd, leaves no incomplete
multipart upload behind, and ends `cancelled`."""

from __future__ import annotations

import os

import pytest

from accounts.models import AuditEvent
from tests.support import wait_until
from tests.transfers.conftest import audit_actions
from tests.transfers.support import (
    multipart_uploads,
    put_objects,
    s3_keys,
    s5cmd_processes,
    wait_for_job,
    write_files,
)
from transfers import services
from transfers.errors import JobStateError
from transfers.models import Job
from transfers.tasks import run_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


@pytest.mark.parametrize("route", ["upload", "relay"])
def test_it_stops_the_transfer_and_aborts_incomplete_uploads(
    route, celery_worker, team, operator, s3_a, s3_b, endpoint_a, endpoint_b, local_dir
):
    # Enough that a cancel one poll (1 s) after the first part still lands mid-way.
    objects = {f"big-{n}.bin": os.urandom(16 * MiB) for n in range(24)}
    if route == "upload":
        write_files(local_dir, objects)
        source = {"source_path": str(local_dir)}
        service, endpoint = s3_a, endpoint_a
    else:
        bucket = s3_a.bucket("src")
        put_objects(s3_a.client(), bucket, objects)
        source = {"source_endpoint": endpoint_a, "source_bucket": bucket}
        service, endpoint = s3_b, endpoint_b
    client, bucket = service.client(), service.bucket("dst")
    profile = services.create_profile(
        team,
        actor=operator,
        name="slow and big",
        mode="copy",
        workers=1,
        concurrency=1,
        part_size_mb=5,
        destination_endpoint=endpoint,
        destination_bucket=bucket,
        **source,
    )
    job = services.start_job(profile, actor=operator)

    wait_until(lambda: multipart_uploads(client, bucket), "a multipart upload in flight", 60)
    services.cancel_job(job, actor=operator)
    job = wait_for_job(job)

    assert job.state == Job.State.CANCELLED
    assert multipart_uploads(client, bucket) == []
    assert s5cmd_processes(service.url) == []
    assert len(s3_keys(client, bucket)) < len(objects)  # it really stopped mid-way
    assert job.finished_at is not None and job.lease_owner == ""
    assert audit_actions()[-2:] == ["job.cancelled", "job.finished"]
    assert AuditEvent.objects.get(action="job.cancelled").actor == operator


def test_a_queued_job_is_cancelled_at_once_and_never_runs(
    settings, celery_worker, team, operator, endpoint_a, s3_a
):
    settings.TRANSFER_QUEUE = "nobody-listens-here"
    profile = services.create_profile(
        team,
        actor=operator,
        name="never runs",
        source_endpoint=endpoint_a,
        source_bucket=s3_a.bucket(),
        destination_endpoint=endpoint_a,
        destination_bucket=s3_a.bucket(),
    )
    job = services.start_job(profile, actor=operator)

    job = services.cancel_job(job, actor=operator)

    assert job.state == Job.State.CANCELLED and job.finished_at is not None
    # Even if its message reaches a worker, a cancelled job is not claimed.
    run_job.apply_async((job.pk,), queue="celery")
    celery_worker.wait_for_output(f"job {job.pk}: not queued any more", "the message to be read")
    job.refresh_from_db()
    assert (job.state, job.attempts, job.started_at) == (Job.State.CANCELLED, 0, None)


@pytest.mark.django_db
def test_a_finished_job_cannot_be_cancelled(team, operator):
    job = Job.objects.create(team=team, profile_name="p", state=Job.State.SUCCEEDED)
    events = AuditEvent.objects.count()

    with pytest.raises(JobStateError, match="already finished"):
        services.cancel_job(job, actor=operator)

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.cancel_requested_at is None
    assert AuditEvent.objects.count() == events
