"""Cancelling: a queued job never runs; a running one stops s5cmd, leaves no incomplete
multipart upload behind, and ends `cancelled`."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection

from accounts.models import AuditEvent
from tests.support import wait_until
from tests.transfers.conftest import audit_actions
from tests.transfers.faults import S3Proxy
from tests.transfers.support import (
    capture_late_sweeps,
    multipart_uploads,
    put_objects,
    run_here,
    s3_keys,
    s5cmd_processes,
    same_bucket_profile,
    wait_for_job,
    write_files,
)
from transfers import execution, services
from transfers.errors import JobStateError
from transfers.models import Job
from transfers.tasks import run_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


@pytest.mark.parametrize("route", ["upload", "relay"])
def test_it_stops_the_transfer_and_aborts_incomplete_uploads(
    route, celery_worker, team, operator, s3_a, s3_b, endpoint_a, local_dir
):
    objects = {f"big-{n}.bin": os.urandom(12 * MiB) for n in range(4)}
    if route == "upload":
        write_files(local_dir, objects)
        source = {"source_path": str(local_dir)}
        service = s3_a
    else:
        bucket = s3_a.bucket("src")
        put_objects(s3_a.client(), bucket, objects)
        source = {"source_endpoint": endpoint_a, "source_bucket": bucket}
        service = s3_b
    # The destination's first part upload is held: the cancel always lands mid-copy.
    proxy = S3Proxy(service.url)
    first_part = proxy.hold(lambda request: request.is_part(), count=1)
    client, bucket = service.client(), service.bucket("dst")
    profile = services.create_profile(
        team,
        actor=operator,
        name="slow and big",
        mode="copy",
        workers=1,
        concurrency=1,
        part_size_mb=5,
        destination_endpoint=service.endpoint(team, "through a proxy", url=proxy.url),
        destination_bucket=bucket,
        **source,
    )
    job = services.start_job(profile, actor=operator)

    try:
        assert first_part.reached.wait(60), "no part upload reached the destination"
        assert multipart_uploads(client, bucket)  # one is in flight
        services.cancel_job(job, actor=operator)
        # Released only once s5cmd is gone: released earlier, s5cmd could start another
        # upload whose request reaches the server after the run's abort passes (the late
        # sweep's case, tested exactly below).
        wait_until(lambda: s5cmd_processes(proxy.url) == [], "s5cmd to stop")
        first_part.release()
        job = wait_for_job(job)
    finally:
        proxy.stop()

    assert job.state == Job.State.CANCELLED
    assert multipart_uploads(client, bucket) == []
    assert s5cmd_processes(proxy.url) == []
    if route == "upload":
        # It really stopped mid-way. Only s5cmd's exit shows that the worker has seen the
        # cancel before the held part is released; the relay has no such sign, and once
        # released it may finish every object before the worker's next look at the cancel.
        assert len(s3_keys(client, bucket)) < len(objects)
    assert job.finished_at is not None and job.lease_owner == ""
    assert audit_actions()[-2:] == ["job.cancelled", "job.finished"]
    assert AuditEvent.objects.get(action="job.cancelled").actor == operator


def test_an_upload_a_request_in_flight_creates_after_the_cancel_is_aborted_later(
    monkeypatch, settings, team, operator, s3_a, proxy_a, local_dir
):
    """The flaky leak, made exact: CreateMultipartUpload is on the wire when s5cmd is
    stopped, and the server acts on it only after the run's own abort passes are over."""
    settings.TRANSFER_QUEUE = "nobody-listens-here"  # run here, to interleave exactly
    write_files(local_dir, {"big.bin": os.urandom(12 * MiB)})
    client, bucket = s3_a.client(), s3_a.bucket()
    in_flight = proxy_a.hold(lambda request: request.is_upload_start())
    profile = services.create_profile(
        team,
        actor=operator,
        name="late upload",
        mode="copy",
        part_size_mb=5,
        source_path=str(local_dir),
        destination_endpoint=s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url),
        destination_bucket=bucket,
    )
    job = services.start_job(profile, actor=operator)
    sweeps = capture_late_sweeps(monkeypatch)

    def run() -> None:
        try:
            execution.run_job(job.pk)
        finally:
            connection.close()

    runner = threading.Thread(target=run)
    runner.start()
    assert in_flight.reached.wait(60), "the upload never started"
    services.cancel_job(job, actor=operator)
    runner.join(120)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and not runner.is_alive()
    assert s5cmd_processes(proxy_a.url) == []
    assert multipart_uploads(client, bucket) == []  # the run's passes found nothing

    in_flight.release()  # the server now acts on the request s5cmd sent before it stopped
    wait_until(in_flight.passed.is_set, "the held request to be served")
    assert [upload["Key"] for upload in multipart_uploads(client, bucket)] == ["big.bin"]

    delay = settings.TRANSFER_LATE_SWEEP_SECONDS
    assert sweeps == [((job.pk,), delay), ((job.pk,), 10 * delay)]
    assert execution.sweep_abandoned_uploads(job.pk) == 1  # what the first one does
    assert multipart_uploads(client, bucket) == []


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


# --- A cancel racing the end of a run ----------------------------------------------------------
# The run is the task's body (execution.run_job) in this process, so the cancel can be made at
# an exact point: after the engine's last object, or after the outcome is stored.


@pytest.fixture
def quick_job(settings, team, operator, s3_a, endpoint_a):
    settings.TRANSFER_QUEUE = "nobody-listens-here"  # the test runs it, not a worker
    bucket = s3_a.bucket()
    put_objects(s3_a.client(), bucket, {"a.txt": b"a", "b.txt": b"b"}, prefix="src/")
    profile = same_bucket_profile(team, operator, endpoint_a, bucket, name="quick")
    return services.start_job(profile, actor=operator)


@pytest.mark.parametrize("caller", ["service", "api"])
def test_a_cancel_answered_as_the_run_finishes_makes_it_end_cancelled(
    caller, monkeypatch, quick_job, operator, api_as
):
    answers = []

    def cancel(result):
        assert result.outcome == "succeeded" and result.objects_done == 2
        if caller == "api":
            answers.append(api_as(operator).post(f"/jobs/{quick_job.pk}/cancel").status_code)
        else:
            cancelled = services.cancel_job(quick_job, actor=operator)
            answers.append(200 if cancelled.cancel_requested_at else cancelled.state)

    assert run_here(monkeypatch, quick_job, after_engine=cancel) == "cancelled"

    job = Job.objects.get(pk=quick_job.pk)
    assert answers == [200]
    assert job.state == Job.State.CANCELLED and job.finished_at is not None
    assert job.error == "Cancelled while the run was finishing: it had finished its work."
    assert job.objects_done == 2  # what it did is still told
    assert audit_actions()[-2:] == ["job.cancelled", "job.finished"]
    assert AuditEvent.objects.get(action="job.finished").details["state"] == "cancelled"


@pytest.mark.parametrize("caller", ["service", "api"])
def test_a_cancel_after_the_outcome_is_stored_says_it_had_finished(
    caller, monkeypatch, quick_job, operator, api_as
):
    answers = []

    def cancel():
        if caller == "api":
            response = api_as(operator).post(f"/jobs/{quick_job.pk}/cancel")
            answers.append((response.status_code, response.json()["detail"]))
        else:
            with pytest.raises(JobStateError) as excinfo:
                services.cancel_job(quick_job, actor=operator)
            answers.append((409, str(excinfo.value)))

    assert run_here(monkeypatch, quick_job, after_finish=cancel) == "succeeded"

    job = Job.objects.get(pk=quick_job.pk)
    assert answers == [(409, f"Job #{job.pk} has already finished (succeeded).")]
    assert job.state == Job.State.SUCCEEDED and job.cancel_requested_at is None
    assert "job.cancelled" not in audit_actions()
