"""The throughput samples of long-finished jobs are pruned; jobs and recent samples stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from transfers.models import Job, JobSample


def _job_with_samples(profile, *, state: str, finished_days_ago: float | None, samples: int = 3):
    now = timezone.now()
    finished = None if finished_days_ago is None else now - timedelta(days=finished_days_ago)
    job = Job.objects.create(
        team=profile.team,
        profile=profile,
        profile_name=profile.name,
        state=state,
        started_at=(finished or now) - timedelta(minutes=5),
        finished_at=finished,
    )
    JobSample.objects.bulk_create(
        JobSample(job=job, t=job.started_at + timedelta(seconds=n), objects_done=n, bytes_done=n)
        for n in range(samples)
    )
    return job


@pytest.fixture
def history(offline_profile):
    return {
        "old": _job_with_samples(offline_profile, state="succeeded", finished_days_ago=91),
        "old failed": _job_with_samples(offline_profile, state="failed", finished_days_ago=400),
        "recent": _job_with_samples(offline_profile, state="succeeded", finished_days_ago=89),
        "running": _job_with_samples(offline_profile, state="running", finished_days_ago=None),
    }


def _samples_left(history) -> dict[str, int]:
    return {name: JobSample.objects.filter(job=job).count() for name, job in history.items()}


@pytest.mark.django_db
def test_it_prunes_the_samples_of_jobs_finished_before_the_retention(history, settings):
    settings.JOB_SAMPLE_RETENTION_DAYS = 90
    out = io.StringIO()
    call_command("prune_job_history", stdout=out)
    assert "Deleted 6 samples" in out.getvalue()
    assert _samples_left(history) == {"old": 0, "old failed": 0, "recent": 3, "running": 3}
    assert Job.objects.count() == 4  # the jobs and their counters stay


@pytest.mark.django_db
def test_it_keeps_every_sample_when_retention_is_off(history, settings):
    settings.JOB_SAMPLE_RETENTION_DAYS = 0
    call_command("prune_job_history", stdout=io.StringIO())
    assert _samples_left(history) == {"old": 3, "old failed": 3, "recent": 3, "running": 3}


@pytest.mark.django_db
def test_it_prunes_in_batches(history, settings, monkeypatch):
    from transfers import retention

    monkeypatch.setattr(retention, "BATCH", 2)
    settings.JOB_SAMPLE_RETENTION_DAYS = 90
    assert retention.prune_job_history() == 6
    assert _samples_left(history)["recent"] == 3


def test_beat_prunes_daily():
    entry = django_settings.CELERY_BEAT_SCHEDULE["transfers-prune-job-history"]
    assert (entry["task"], entry["schedule"]) == ("transfers.prune_job_history", 86400.0)
    from transfers import tasks

    assert tasks.prune_job_history.name == entry["task"]
