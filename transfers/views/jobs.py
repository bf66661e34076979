"""Jobs: the filtered history, one job's live page, and the buttons that act on a job."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import OPERATE, VIEW, object_for
from accounts.models import AuditEvent, Team
from syncportal.pagination import browse_page, filters_query
from transfers import manifests, services, shard_status, throughput
from transfers.forms import JobFilterForm
from transfers.models import Endpoint, Job, JobFailure, JobManifest, JobShard, SyncProfile
from transfers.views._common import TeamRights, act

PAGE_SIZE = 50
# What a row of the jobs table shows (transfers/_job_row.html): the page reads no more, so a
# page of 50 parses no plans, options or reports it would not show.
ROW_FIELDS = (
    "team__name",
    "profile_name",
    "state",
    "trigger",
    "triggered_by__username",
    "objects_total",
    "bytes_total",
    "objects_done",
    "bytes_done",
    "objects_skipped",
    "objects_failed",
    "throughput_bps",
    "created_at",
    "started_at",
    "finished_at",
)
FAILURES_SHOWN = 100
CHART_POINTS = 600


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = JobFilterForm(
        request.GET or None,
        teams=Team.objects.visible_to(user),
        profiles=SyncProfile.objects.visible_to(user).select_related("team"),
    )
    jobs = Job.objects.visible_to(user)
    if form.is_bound and form.is_valid():
        jobs = _filtered(jobs, form.cleaned_data)
    shown = (
        jobs.select_related("team", "triggered_by")
        .only(*ROW_FIELDS)
        .annotate(shard_count=_shard_count())
    )
    page = browse_page(shown, request.GET, size=PAGE_SIZE, counted=jobs)
    context = {
        "form": form,
        "page": page,
        "query": filters_query(request.GET),
        "can": TeamRights(user),
        "state_labels": dict(Job.State.choices),
    }
    return render(request, "transfers/job_list.html", context)


def _shard_count() -> Subquery:
    """A row's "N shards" tag: counted in the page's own query (over the shards' (job, state)
    index), not one query a row. NULL for a job without shards."""
    shards = (
        JobShard.objects.filter(job_id=OuterRef("pk"))
        .order_by()
        .values("job_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Subquery(shards)


def _filtered(jobs, filters: dict):
    if filters["team"]:
        jobs = jobs.filter(team=filters["team"])
    if filters["profile"]:
        jobs = jobs.filter(profile=filters["profile"])
    if filters["state"]:
        jobs = jobs.filter(state=filters["state"])
    # Dates are whole UTC days, both ends included.
    if filters["since"]:
        jobs = jobs.filter(created_at__gte=datetime.combine(filters["since"], time.min, UTC))
    if filters["until"]:
        end = datetime.combine(filters["until"], time.min, UTC) + timedelta(days=1)
        jobs = jobs.filter(created_at__lt=end)
    return jobs


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_for(
        request.user,
        Job.objects.select_related("team", "profile", "triggered_by", "approved_by", "retry_of"),
        VIEW,
        pk=pk,
    )
    chart = _job_throughput(job)
    after = request.GET.get("failures_after", "")
    failures = _failure_page(job, int(after) if after.isdigit() and len(after) < 19 else 0)
    context = {
        "job": job,
        "can": TeamRights(request.user),
        **failures,
        "retries": list(job.retries.order_by("id")),
        "endpoints": _endpoint_names(job),
        "chart": chart,
        "summary": None if job.is_active else _summary(job, chart),
        "state_labels": dict(Job.State.choices),
        "live": job.is_active,
        "shards": _shards(job),
        "manifest_sha256": JobManifest.objects.filter(job=job)
        .values_list("sha256", flat=True)
        .first(),
    }
    return render(request, "transfers/job_detail.html", context)


def _shards(job: Job) -> dict | None:
    """The Shards card of a sharded job (None for another): its shards counted by state, the
    hosts running them, and a strip of at most `shard_status.MAX_CELLS` cells in key order.
    A few aggregate queries, whatever the number of shards."""
    summary = shard_status.summary(shard_status.counts_by_state(job.pk))
    if summary is None:
        return None
    cells = shard_status.strip(job.pk, summary["total"])
    run = max((cell.size for cell in cells), default=1)
    return {
        "summary": summary,
        "counts": [
            (state, shard_status.LABELS[state], summary[state])
            for state in shard_status.STATES
            if summary[state]
        ],
        "workers": shard_status.running_workers(job.pk) if summary["running"] else [],
        "cells": cells,
        "run": run,
        "legend": [(state, shard_status.LABELS[state]) for state in shard_status.STATES],
    }


@login_required
def job_shards(request: HttpRequest, pk: int) -> HttpResponse:
    """The job page's Shards card alone, for the page to refresh while the job runs; an empty
    slot for a job without shards (yet)."""
    job = object_for(request.user, Job.objects.all(), VIEW, pk=pk)
    context = {"job": job, "shards": _shards(job), "live": job.is_active}
    return render(request, "transfers/_job_shards.html", context)


def _failure_page(job: Job, after: int) -> dict:
    """A page of the job's failures (those stored after failure #`after`, oldest first) and
    their counts by step: an index range and, unless the first page holds them all, one
    count of the job's failures by operation. Never all the failures of a big job."""
    rows = job.failures.order_by("id")
    if after:
        rows = rows.filter(pk__gt=after)
    page = list(rows[: FAILURES_SHOWN + 1])
    more = len(page) > FAILURES_SHOWN
    page = page[:FAILURES_SHOWN]
    if not after and not more:
        counts = Counter(failure.operation for failure in page)
    else:
        counts = dict(job.failures.order_by().values_list("operation").annotate(n=Count("pk")))
    labels = dict(JobFailure.Operation.choices)
    return {
        "failures": page,
        "failure_count": sum(counts.values()),
        "failure_counts": [(labels[op], counts[op]) for op in labels if counts.get(op)],
        "failures_after": after,
        "failures_next": page[-1].pk if more else None,
    }


def _summary(job: Job, chart: dict) -> dict:
    """What a finished job's report opens with (after AWS DataSync's execution summary)."""
    cancelled_by = None
    if job.cancel_requested_at is not None:
        # Who asked is in the audit trail only; "" is a cancel by the system (no actor).
        label = (
            AuditEvent.objects.filter(
                team_id=job.team_id,
                action="job.cancelled",
                target_type=Job._meta.label_lower,
                target_id=str(job.pk),
            )
            .order_by("id")
            .values_list("actor_label", flat=True)
            .first()
        )
        cancelled_by = label or "the system"
    return {
        "peak_bps": max(chart["bps"], default=None),
        # For the live page that swaps this in when the job ends (js/job.js redraws its chart).
        "chart_json": json.dumps(chart),
        "cancelled_by": cancelled_by,
    }


def _endpoint_names(job: Job) -> dict[str, str]:
    """The job's endpoints by side, as named now (a job keeps ids in its options snapshot)."""
    options = job.run_options
    source, destination = options.endpoints() if options else (None, None)
    ids = {"source": source, "destination": destination}
    names = dict(
        Endpoint.objects.filter(
            team_id=job.team_id, pk__in=[i for i in ids.values() if i]
        ).values_list("pk", "name")
    )
    return {side: names.get(pk, f"endpoint #{pk} (deleted)") for side, pk in ids.items() if pk}


def _job_throughput(job: Job) -> dict:
    """The stored throughput in bytes and objects per second (`bps`, `ops`) at times `t`, and
    the job's `start` (epoch seconds; the chart's x axis is the time elapsed since then)."""
    if job.started_at is None:
        return {"t": [], "bps": [], "ops": [], "start": None}
    window = {
        "start": job.started_at,
        "end": job.finished_at or timezone.now(),
        "max_points": CHART_POINTS,
        "min_width": 2,
        "origin": {job.pk: (job.started_at, 0)},
    }
    # One query for both series: as many rows as seconds the job ran (at most one a second).
    samples = list(
        job.samples.order_by("t").values_list("job_id", "t", "bytes_done", "objects_done")
    )
    data = throughput.series(((j, t, done) for j, t, done, _ in samples), **window)
    objects = throughput.series(((j, t, done) for j, t, _, done in samples), digits=2, **window)
    return {**data, "ops": objects["bps"], "start": job.started_at.timestamp()}


@login_required
def job_failures_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every object the job could not copy, delete or verify, as CSV (key, operation, error)."""
    job = object_for(request.user, Job.objects.all(), VIEW, pk=pk)

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    rows = job.failures.order_by("id").values_list("key", "operation", "error").iterator()
    lines = (writer.writerow(row) for row in _with_header(rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-failures.csv"'
    return response


def _with_header(rows):
    yield ("key", "operation", "error")
    yield from rows


@login_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_for(request.user, Job.objects.select_related("team"), OPERATE, pk=pk)
    return act(
        request,
        lambda: services.cancel_job(job, actor=request.user, request=request),
        done=lambda cancelled: (
            f"Job #{job.pk} cancelled."
            if cancelled.state == Job.State.CANCELLED
            else f"Job #{job.pk} is stopping.",
            job.get_absolute_url(),
        ),
        fallback=job.get_absolute_url(),
    )


@login_required
@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_for(request.user, Job.objects.select_related("team", "profile"), OPERATE, pk=pk)
    failed_only = request.POST.get("scope") != "all"
    return act(
        request,
        lambda: services.retry_job(
            job, actor=request.user, failed_only=failed_only, request=request
        ),
        done=lambda retry: (f"Job #{retry.pk} retries job #{job.pk}.", retry.get_absolute_url()),
        fallback=job.get_absolute_url(),
    )


@login_required
@require_POST
def job_continue(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_for(request.user, Job.objects.select_related("team", "profile"), OPERATE, pk=pk)
    return act(
        request,
        lambda: services.continue_job(job, actor=request.user, request=request),
        done=lambda follow_up: (
            f"Job #{follow_up.pk} continues job #{job.pk}: what it copied is skipped.",
            follow_up.get_absolute_url(),
        ),
        fallback=job.get_absolute_url(),
    )


@login_required
@require_POST
def job_approve(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_for(request.user, Job.objects.select_related("team"), OPERATE, pk=pk)
    return act(
        request,
        lambda: services.approve_job(job, actor=request.user, request=request),
        done=lambda approved: (
            f"Job #{job.pk} approved: it runs again and deletes as planned.",
            job.get_absolute_url(),
        ),
        fallback=job.get_absolute_url(),
    )


@login_required
def job_manifest(request: HttpRequest, pk: int) -> HttpResponse:
    """The job's manifest as a JSON Lines download; 404 outside the user's teams."""
    manifest = get_object_or_404(JobManifest.objects.visible_to(request.user), job_id=pk)
    return manifests.download(manifest)
