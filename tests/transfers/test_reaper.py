"""The reaper: a job whose worker stopped renewing its lease is re-queued (a bounded number
of times) or failed, never left `running`; a live lease is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from transfers.execution import reap_expired_leases
from transfers.models import Job

pytestmark = pytest.mark.django_db


def running(team, *, expired: bool, attempts: int = 1, **fields) -> Job:
    delta = timedelta(seconds=-5 if expired else 60)
    return Job.objects.create(
        team=team,
        profile_name="p",
        state=Job.State.RUNNING,
        lease_owner="host:123:abcd",
        lease_expires_at=timezone.now() + delta,
        attempts=attempts,
        started_at=timezone.now(),
        **fields,
    )


def test_it_requeues_a_job_whose_worker_died(team, django_capture_on_commit_callbacks):
    job = running(team, expired=True)

    with django_capture_on_commit_callbacks() as callbacks:
        assert reap_expired_leases() == [job.pk]

    job.refresh_from_db()
    assert (job.state, job.lease_owner, job.lease_expires_at) == ("queued", "", None)
    assert "attempt 1 stopped responding" in job.error
    assert len(callbacks) == 2  # enqueue again, and tell the sockets
    assert AuditEvent.objects.get().action == "job.requeued"


def test_it_fails_a_job_after_its_last_attempt(settings, team):
    settings.TRANSFER_MAX_ATTEMPTS = 2
    job = running(team, expired=True, attempts=2)

    assert reap_expired_leases() == [job.pk]

    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.finished_at is not None
    assert "stopped responding" in job.error and "attempt 2 of 2" in job.error
    assert AuditEvent.objects.get().action == "job.finished"


def test_a_job_cancelled_while_its_worker_was_dead_ends_cancelled(team):
    job = running(team, expired=True, cancel_requested_at=timezone.now())
    reap_expired_leases()
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED


def test_it_leaves_live_and_idle_jobs_alone(team):
    live = running(team, expired=False)
    queued = Job.objects.create(team=team, profile_name="p")
    waiting = Job.objects.create(team=team, profile_name="p", state=Job.State.AWAITING_APPROVAL)

    assert reap_expired_leases() == []

    for job, state in ((live, "running"), (queued, "queued"), (waiting, "awaiting_approval")):
        job.refresh_from_db()
        assert job.state == state
    assert not AuditEvent.objects.exists()
