"""The dashboard: running jobs of the user's teams, recent failures, profiles due soon and
stale ones, what moved today, and the aggregate throughput of the last minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.transfers.pages import endpoint, finished_job, profile, signed_in
from transfers.models import Job, JobSample, SyncProfile

pytestmark = pytest.mark.django_db


def test_it_shows_what_runs_failed_is_due_and_moved(team, other_team, viewer):
    client = signed_in(viewer)
    store = endpoint(team)
    nightly = profile(team, store, "Nightly", schedule="0 2 * * *")
    profile(team, store, "Quarterly", schedule="0 0 1 */3 *")
    profile(team, store, "Broken", schedule="not a cron")
    profile(team, store, "Paused", schedule="* * * * *", schedule_enabled=False)
    finished_job(nightly, Job.State.FAILED, error="Cannot reach http://127.0.0.1:9")
    finished_job(nightly)  # 10 MiB today
    running = Job.objects.create(
        team=team,
        profile=nightly,
        profile_name="Nightly",
        state="running",
        bytes_total=4 << 20,
        bytes_done=1 << 20,
        throughput_bps=1 << 20,
        started_at=timezone.now(),
    )
    theirs = finished_job(profile(other_team, endpoint(other_team), "Theirs"), Job.State.FAILED)
    response = client.get("/")
    page = response.content.decode()
    context = response.context

    assert [job.pk for job in context["running"]] == [running.pk]
    assert f'data-job="{running.pk}"' in page and "25 %" in page
    assert [job.state for job in context["failures"]] == [Job.State.FAILED]
    assert "Cannot reach http://127.0.0.1:9" in page and theirs.profile_name not in page
    assert [item["profile"].name for item in context["due"]] == ["Nightly", "Quarterly", "Broken"]
    assert context["due"][2]["next_run"] is None and "invalid schedule" in page
    assert "At 02:00 (UTC)" in page  # the schedule in words
    assert context["today"]["bytes"] == 20 << 20  # the two finished jobs
    assert context["today"]["bytes_active"] == 1 << 20
    assert "21.0 MiB" in page
    assert "Run now" not in page and "New profile" not in page  # a viewer


def test_the_chart_sums_the_jobs_of_the_last_minutes(team, viewer):
    client = signed_in(viewer)
    store = endpoint(team)
    now = timezone.now()
    # One still runs, one has just finished: both ran in the window, both count.
    for name, state, finished_at in (("A", "running", None), ("B", "succeeded", now)):
        job = Job.objects.create(team=team, profile_name=name, state=state, finished_at=finished_at)
        JobSample.objects.bulk_create(
            JobSample(
                job=job, t=now - timedelta(seconds=60 - s), objects_done=s, bytes_done=s * 1000
            )
            for s in range(0, 61)
        )
    profile(team, store)
    chart = client.get("/").context["chart"]
    assert len(chart["t"]) == 120
    assert chart["bps"][-6:-1] == [2000] * 5  # 1,000 B/s each, summed (the last is ongoing)
    assert chart["bps"][0] == 0


def test_someone_without_a_team_is_told_how_to_get_one(db, django_user_model):
    client = signed_in(django_user_model.objects.create_user("newcomer", password="x" * 12))
    assert "You are not in a team yet" in client.get("/").content.decode()


def test_it_counts_and_lists_the_profiles_behind_their_freshness_target(team, other_team, viewer):
    client = signed_in(viewer)
    store = endpoint(team)
    now = timezone.now()
    hours_ago = now - timedelta(hours=3)
    behind = profile(team, store, "Behind", max_staleness_minutes=60)
    finished_job(behind, started_at=hours_ago, finished_at=hours_ago + timedelta(seconds=10))
    fresh = profile(team, store, "Fresh", max_staleness_minutes=60)
    finished_job(fresh)
    never = profile(team, store, "Never succeeded", max_staleness_minutes=60)
    SyncProfile.objects.filter(pk=never.pk).update(created_at=hours_ago)
    profile(team, store, "New", max_staleness_minutes=60)  # younger than its target
    finished_job(profile(team, store, "Untracked"), started_at=hours_ago)
    theirs = profile(other_team, endpoint(other_team), "Theirs", max_staleness_minutes=1)
    SyncProfile.objects.filter(pk=theirs.pk).update(created_at=hours_ago)

    response = client.get("/")
    page = response.content.decode()

    # Never succeeded first (furthest behind), each linking to its profile's freshness.
    assert [p.name for p in response.context["stale"]] == ["Never succeeded", "Behind"]
    assert 'data-stat="stale">2<' in page
    assert f'href="/profiles/{never.pk}/#freshness"' in page
    assert f'href="/profiles/{behind.pk}/#freshness"' in page
    assert "no successful run yet" in page and "Theirs" not in page

    finished_job(never)
    finished_job(behind)
    page = client.get("/").content.decode()
    assert 'data-stat="stale">0<' in page and "No profile is behind its freshness target" in page
