"""The dashboard: what runs now, what failed lately, what is due, what moved today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from transfers import throughput
from transfers.demo import DEMO_PROFILE_NAME
from transfers.models import Job, JobSample, SyncProfile
from transfers.services.freshness import freshness
from transfers.views._common import TeamRights

CHART_WINDOW = timedelta(minutes=10)
RECENT_FAILURES = timedelta(days=7)
DUE_SOON = 5
SCHEDULED_LIMIT = 200  # profiles with a schedule looked at for "due soon"


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user, now = request.user, timezone.now()
    jobs = Job.objects.visible_to(user)
    running = list(jobs.active().select_related("team").order_by("created_at", "id"))
    midnight = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    finished_today = jobs.filter(finished_at__gte=midnight).aggregate(
        bytes=Sum("bytes_done", default=0),
        objects=Sum("objects_done", default=0),
        jobs=Count("id"),
        failed=Count("id", filter=Q(state__in=[Job.State.FAILED, Job.State.PARTIAL])),
    )
    failures = list(
        jobs.filter(
            state__in=[Job.State.FAILED, Job.State.PARTIAL],
            finished_at__gte=now - RECENT_FAILURES,
        )
        .select_related("team")
        .order_by("-finished_at")[:5]
    )
    # Whether any job exists, for the first-run card: known without a query of its own when a
    # job runs, finished today or failed lately.
    any_job = bool(running or finished_today["jobs"] or failures) or jobs.exists()
    context = {
        "can": TeamRights(user),
        "memberships": user.team_memberships,  # read once for the request's role checks
        "running": running,
        "failures": failures,
        "due": _due_soon(user, now),
        "stale": _stale(user, now),
        "today": {
            **finished_today,
            "bytes_active": sum(job.bytes_done for job in running),
            "objects_active": sum(job.objects_done for job in running),
        },
        "chart": _aggregate_throughput(jobs, now),
        "first_run": None if any_job else _first_run(user),
        "state_labels": dict(Job.State.choices),
    }
    return render(request, "transfers/dashboard.html", context)


def _first_run(user) -> dict:
    """Before any job: the profile to try first (the demo's, else the newest one), if any."""
    profiles = SyncProfile.objects.visible_to(user).select_related("team")
    demo = profiles.filter(name=DEMO_PROFILE_NAME).order_by("pk").first()
    return {"profile": demo or profiles.order_by("-created_at", "-pk").first(), "demo": bool(demo)}


def _due_soon(user, now: datetime) -> list[dict]:
    """Scheduled profiles by their next run; paused schedules are not due."""
    scheduled = (
        SyncProfile.objects.visible_to(user)
        .exclude(schedule="")
        .filter(schedule_enabled=True)
        .select_related("team")
        .only("id", "name", "schedule", "schedule_enabled", "team__name")[:SCHEDULED_LIMIT]
    )
    due = [
        {"profile": profile, "next_run": next(iter(profile.next_runs(1, after=now)), None)}
        for profile in scheduled
    ]
    never = datetime.max.replace(tzinfo=UTC)
    due.sort(key=lambda item: item["next_run"] or never)
    return due[:DUE_SOON]


def _stale(user, now: datetime) -> list[SyncProfile]:
    """Profiles that miss their freshness target now, furthest behind first (one query)."""
    tracked = (
        SyncProfile.objects.visible_to(user)
        .filter(max_staleness_minutes__isnull=False)
        .with_last_success()
        .select_related("team")
        .only("id", "name", "max_staleness_minutes", "created_at", "team__name")
    )
    stale = [profile for profile in tracked if freshness(profile, now).breached]
    never = datetime.min.replace(tzinfo=UTC)
    stale.sort(key=lambda profile: profile.last_success_at or never)
    return stale


def _aggregate_throughput(jobs, now: datetime) -> dict:
    """Bytes per second summed over the caller's jobs, for the last CHART_WINDOW."""
    start = now - CHART_WINDOW
    # A little before the window, so the first interval inside it has its starting sample.
    since = start - timedelta(seconds=15)
    # Only jobs that ran since then can have samples since then: a few rows of the team's
    # finished-at index, instead of probing the samples of every job the team ever ran.
    recent = jobs.filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
    samples = (
        JobSample.objects.filter(job__in=recent.values("pk"), t__gte=since)
        .order_by("job_id", "t")
        .values_list("job_id", "t", "bytes_done")
    )
    return throughput.series(samples, start=start, end=now, max_points=120, min_width=5)
