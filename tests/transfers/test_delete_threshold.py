"""A mirror that would delete more than its profile's threshold stops before touching
anything and waits for an operator's approval."""

from __future__ import annotations

import pytest

from tests.transfers.conftest import audit_actions
from tests.transfers.support import put_objects, s3_keys, same_bucket_profile, wait_for_job
from transfers import services
from transfers.errors import JobStateError
from transfers.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = {"keep-1.txt": b"one", "keep-2.txt": b"two", "new.txt": b"new"}


@pytest.fixture
def mirror(team, operator, s3_a, endpoint_a):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, SOURCE, prefix="src/")
    extraneous = {f"stale-{n}.txt": b"gone from the source" for n in range(5)}
    put_objects(
        client, bucket, {"keep-1.txt": b"one", "keep-2.txt": b"two", **extraneous}, prefix="dst/"
    )
    profile = same_bucket_profile(
        team, operator, endpoint_a, bucket, name="careful mirror", mode="mirror", delete_threshold=3
    )
    return profile, client, bucket


def test_it_pauses_before_deleting_more_than_the_threshold(celery_worker, operator, mirror):
    profile, client, bucket = mirror
    before = s3_keys(client, bucket, "dst/")

    job = services.start_job(profile, actor=operator)
    job = wait_for_job(job, states=[Job.State.AWAITING_APPROVAL, *Job.FINISHED_STATES])

    assert job.state == Job.State.AWAITING_APPROVAL
    assert "would delete 5 objects, more than the profile's threshold of 3" in job.error
    assert job.plan["objects_to_delete"] == 5 and len(job.plan["sample_to_delete"]) == 5
    assert s3_keys(client, bucket, "dst/") == before  # nothing deleted, nothing copied
    assert job.lease_owner == "" and job.finished_at is None
    assert audit_actions()[-1] == "job.awaiting_approval"


def test_it_deletes_once_approved(celery_worker, operator, mirror):
    profile, client, bucket = mirror
    job = services.start_job(profile, actor=operator)
    wait_for_job(job, states=[Job.State.AWAITING_APPROVAL])

    services.approve_job(job, actor=operator)
    job = wait_for_job(job)

    assert job.state == Job.State.SUCCEEDED, job.error
    assert s3_keys(client, bucket, "dst/") == set(SOURCE)
    assert (job.objects_deleted, job.approved_by) == (5, operator)
    assert "job.approved" in audit_actions()


def test_it_waits_again_if_more_would_go_than_was_approved(celery_worker, operator, mirror):
    profile, client, bucket = mirror
    job = services.start_job(profile, actor=operator)
    wait_for_job(job, states=[Job.State.AWAITING_APPROVAL])
    put_objects(client, bucket, {"stale-late.txt": b"appeared after the approval"}, prefix="dst/")

    services.approve_job(job, actor=operator)
    job = wait_for_job(job, states=[Job.State.AWAITING_APPROVAL, *Job.FINISHED_STATES])

    assert job.state == Job.State.AWAITING_APPROVAL
    assert job.plan["objects_to_delete"] == 6
    assert "stale-late.txt" in s3_keys(client, bucket, "dst/")


@pytest.mark.django_db
def test_only_a_job_awaiting_approval_can_be_approved(team, operator):
    job = Job.objects.create(team=team, profile_name="p", state=Job.State.RUNNING)
    with pytest.raises(JobStateError, match="not awaiting approval"):
        services.approve_job(job, actor=operator)
    job.refresh_from_db()
    assert (job.state, job.approved_at) == (Job.State.RUNNING, None)
