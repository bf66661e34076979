"""Verification catches what a run left wrong (the job ends `partial` with a report), and a
retry copies exactly the failed objects — or the whole profile."""

from __future__ import annotations

import json

import pytest

from accounts.models import AuditEvent
from tests.transfers.conftest import audit_actions
from tests.transfers.support import (
    file_hashes,
    hashes,
    put_objects,
    run_here,
    s3_hashes,
    same_bucket_profile,
    wait_for_job,
)
from transfers import services, specs
from transfers.errors import JobStateError
from transfers.models import Job, JobFailure
from transfers.specs import snapshot_options

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = {"a.txt": b"alpha", "b.txt": b"bravo", "c.txt": b"charlie"}


def test_verification_finds_a_difference_and_a_retry_repairs_it(
    celery_worker, team, operator, s3_a, endpoint_a
):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, SOURCE, prefix="src/")
    # Same size, other bytes: a size-only sync believes it is unchanged.
    put_objects(client, bucket, {"b.txt": b"BRAVO"}, prefix="dst/")
    profile = same_bucket_profile(
        team, operator, endpoint_a, bucket, name="size only", compare="size_only"
    )

    job = wait_for_job(services.start_job(profile, actor=operator))

    assert job.state == Job.State.PARTIAL
    assert job.verification["mismatched"] == 1
    assert job.verification["sample"][0]["key"] == "b.txt"
    assert "content differs" in job.verification["sample"][0]["problem"]
    assert list(job.failures.values_list("key", "operation")) == [("b.txt", "verify")]
    assert "1 object(s) failed (1 to verify); first: b.txt: content differs" in job.error

    retry = services.retry_job(job, actor=operator)
    retry = wait_for_job(retry)

    assert retry.state == Job.State.SUCCEEDED, retry.error
    assert (retry.retry_of, retry.trigger, retry.objects_total) == (job, "retry", 1)
    assert retry.options["retry_failures_of"] == job.pk and "only_keys" not in retry.options
    assert s3_hashes(client, bucket, "dst/") == hashes(SOURCE)
    assert audit_actions().count("job.retried") == 1


def test_a_failed_object_is_retried_alone(
    celery_worker, team, operator, s3_a, endpoint_a, local_dir
):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, SOURCE)
    (local_dir / "b.txt").mkdir()  # a directory where the file must go
    profile = services.create_profile(
        team,
        actor=operator,
        name="download",
        mode="copy",
        source_endpoint=endpoint_a,
        source_bucket=bucket,
        destination_path=str(local_dir),
    )
    job = wait_for_job(services.start_job(profile, actor=operator))
    assert job.state == Job.State.PARTIAL
    assert list(job.failures.values_list("key", "error")) == [
        ("b.txt", "a directory is in the way at the destination")
    ]
    assert job.objects_done == 2

    (local_dir / "b.txt").rmdir()
    retry = wait_for_job(services.retry_job(job, actor=operator))

    assert retry.state == Job.State.SUCCEEDED, retry.error
    assert (retry.objects_total, retry.objects_done) == (1, 1)
    assert file_hashes(local_dir) == hashes(SOURCE)


def test_a_whole_retry_runs_the_profile_again(celery_worker, team, operator, s3_a, endpoint_a):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, SOURCE, prefix="src/")
    profile = same_bucket_profile(team, operator, endpoint_a, bucket, name="whole", mode="copy")
    job = wait_for_job(services.start_job(profile, actor=operator))
    Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED)

    retry = wait_for_job(services.retry_job(job, actor=operator, failed_only=False))

    assert retry.state == Job.State.SUCCEEDED
    assert retry.objects_done == len(SOURCE) and "only_keys" not in retry.options


@pytest.mark.django_db
def test_only_a_finished_unsuccessful_job_can_be_retried(team, operator):
    for state in (Job.State.RUNNING, Job.State.SUCCEEDED):
        job = Job.objects.create(team=team, profile_name="p", state=state)
        with pytest.raises(JobStateError, match="Only a failed, partial or cancelled job"):
            services.retry_job(job, actor=operator)
    assert not Job.objects.filter(trigger=Job.Trigger.RETRY).exists()


def test_a_retry_of_many_failures_reads_their_keys_in_pages(
    monkeypatch, settings, team, operator, s3_a, endpoint_a
):
    """The retry's options name the failed job, never its keys; the worker reads them from
    its failures a page at a time, and copies exactly those objects."""
    settings.TRANSFER_QUEUE = "nobody-listens-here"  # run here, with small pages
    monkeypatch.setattr(specs, "KEY_PAGE", 64)
    client, bucket = s3_a.client(), s3_a.bucket()
    source = {f"part-{n:04d}.bin": f"{n}".encode() for n in range(400)}
    put_objects(client, bucket, source, prefix="src/")
    profile = same_bucket_profile(team, operator, endpoint_a, bucket, name="many", mode="copy")
    failed = sorted(key for n, key in enumerate(sorted(source)) if n % 4)
    job = Job.objects.create(
        team=team,
        profile=profile,
        profile_name=profile.name,
        state=Job.State.PARTIAL,
        options=snapshot_options(profile),
    )
    JobFailure.objects.bulk_create(
        [JobFailure(job=job, key=key, operation="copy", error="timeout") for key in failed]
        + [JobFailure(job=job, key=key, operation="verify", error="?") for key in failed[:50]]
    )

    retry = services.retry_job(job, actor=operator)
    assert retry.options["retry_failures_of"] == job.pk
    assert len(json.dumps(retry.options)) < 1000
    run_here(monkeypatch, retry)

    retry.refresh_from_db()
    assert retry.state == Job.State.SUCCEEDED, retry.error
    assert (retry.objects_total, retry.objects_done) == (300, 300)
    assert s3_hashes(client, bucket, "dst/") == hashes({key: source[key] for key in failed})
    event = AuditEvent.objects.get(action="job.retried")
    assert event.details["scope"] == "failed"


def test_a_retry_whose_failed_job_is_gone_fails_clearly(
    monkeypatch, settings, team, operator, s3_a, endpoint_a
):
    settings.TRANSFER_QUEUE = "nobody-listens-here"
    profile = same_bucket_profile(team, operator, endpoint_a, s3_a.bucket(), name="orphan")
    job = Job.objects.create(
        team=team,
        profile=profile,
        profile_name="orphan",
        state=Job.State.FAILED,
        options=snapshot_options(profile),
    )
    JobFailure.objects.create(job=job, key="a", operation="copy", error="timeout")
    retry = services.retry_job(job, actor=operator)
    Job.objects.filter(pk=job.pk).delete()

    run_here(monkeypatch, retry)

    retry.refresh_from_db()
    assert retry.state == Job.State.FAILED
    assert f"Job #{job.pk}, whose failed objects this job retries, no longer exists" in retry.error
