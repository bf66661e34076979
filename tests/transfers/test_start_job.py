"""Starting a job: one row, one audit event, the task enqueued only after commit; an
idempotency key makes a repeated request return the same job."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from transfers import services
from transfers.errors import ProfileBusy
from transfers.models import Endpoint, Job, SyncProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(team):
    endpoint = Endpoint.objects.create(
        team=team, name="s3", access_key_id="a", secret_access_key="s"
    )
    return SyncProfile.objects.create(
        team=team,
        name="nightly",
        source_endpoint=endpoint,
        source_bucket="source-bucket",
        destination_endpoint=endpoint,
        destination_bucket="target-bucket",
        exclude_patterns=["*.tmp"],
    )


def test_it_queues_a_job_with_a_snapshot_of_the_profile(
    profile, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.start_job(profile, actor=operator, trigger=Job.Trigger.API)

    assert (job.state, job.trigger, job.triggered_by, job.team) == (
        "queued",
        "api",
        operator,
        profile.team,
    )
    assert (
        job.options["exclude"] == ["*.tmp"] and job.options["source"]["bucket"] == "source-bucket"
    )
    assert len(callbacks) == 2  # enqueue the task, tell the sockets: both after commit
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.target_id) == ("job.started", operator, str(job.pk))


def test_the_same_idempotency_key_returns_the_same_job(profile, operator):
    first = services.start_job(profile, actor=operator, idempotency_key="req-42")
    again = services.start_job(profile, actor=operator, idempotency_key="req-42")

    assert again.pk == first.pk
    assert Job.objects.count() == 1 and AuditEvent.objects.count() == 1


def test_an_idempotency_key_belongs_to_one_profile(profile, operator, team):
    services.start_job(profile, actor=operator, idempotency_key="req-42")
    other = SyncProfile.objects.create(
        team=team,
        name="other",
        source_endpoint=profile.source_endpoint,
        source_bucket="source-bucket",
        destination_endpoint=profile.source_endpoint,
        destination_bucket="elsewhere",
    )
    with pytest.raises(ValidationError) as excinfo:
        services.start_job(other, actor=operator, idempotency_key="req-42")
    assert "another profile" in excinfo.value.message_dict["idempotency_key"][0]
    with pytest.raises(ValidationError) as excinfo:
        services.start_job(other, actor=operator, idempotency_key="has spaces")
    assert "idempotency_key" in excinfo.value.message_dict
    assert Job.objects.count() == 1


def test_a_profile_runs_one_job_at_a_time(profile, operator):
    first = services.start_job(profile, actor=operator)

    with pytest.raises(ProfileBusy, match=f"already has a job in progress \\(#{first.pk}"):
        services.start_job(profile, actor=operator)

    assert Job.objects.count() == 1
    Job.objects.filter(pk=first.pk).update(state=Job.State.SUCCEEDED)
    assert services.start_job(profile, actor=operator).pk != first.pk
