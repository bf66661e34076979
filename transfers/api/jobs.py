"""Jobs: list, detail, cancel, retry, continue, approve, samples, failures, manifest."""

from datetime import datetime
from typing import Any, Literal

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Body, Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from accounts.access import object_for
from syncportal.pagination import (
    KeysetPagination,
    OldestFirstKeysetPagination,
    SeqKeysetPagination,
    keyset_page,
)
from syncportal.schemas import Id, Instant
from transfers import manifests, services, shard_status
from transfers.api.common import LIST, READ, WRITE
from transfers.api.job_json import page_json, rendered_jobs
from transfers.models import (
    Job,
    JobFailure,
    JobManifest,
    JobSample,
    JobShard,
)

router = Router(tags=["jobs"])


# --- Job schemas (profiles run jobs) ---------------------------------------------------------


class ShardSummaryOut(Schema):
    """A sharded job's shards counted by state."""

    total: int
    pending: int
    queued: int
    running: int
    succeeded: int
    partial: int
    failed: int
    cancelled: int


class JobOut(Schema):
    id: int
    team_id: int
    profile_id: int | None = Field(..., description="Null once the profile is deleted.")
    profile_name: str
    state: Job.State
    trigger: Job.Trigger
    triggered_by: str | None = Field(..., description="Username; null for the system.")
    retry_of: int | None
    idempotency_key: str
    approved_by: str | None
    approved_at: datetime | None
    objects_total: int | None
    bytes_total: int | None
    objects_done: int
    bytes_done: int
    objects_skipped: int
    objects_failed: int
    objects_deleted: int
    throughput_bps: int | None
    percent: float | None
    predicted_seconds: float | None = Field(
        ...,
        description="Expected duration, stored once the run has planned, from the plan and the "
        "pace of earlier successful runs (the profile's, else the team's); null without either.",
    )
    duration_seconds: float | None = Field(
        ..., description="From start to finish, or so far while it runs; null before it starts."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    command: str = Field(..., description="The s5cmd command line, secrets redacted.")
    exit_code: int | None
    error: str
    options: dict[str, Any] = Field(..., description="The profile's settings at creation.")
    plan: dict[str, Any] | None
    verification: dict[str, Any] | None
    manifest_sha256: str | None = Field(
        ..., description="SHA-256 of the manifest (GET .../manifest); null until finished."
    )
    shards: ShardSummaryOut | None = Field(
        ...,
        description="A large job runs as shards (key ranges) on any worker: how many are in "
        "each state (GET .../shards lists them). Null for a job that is not sharded.",
    )

    @staticmethod
    def resolve_shards(job: Job) -> dict[str, int] | None:
        if hasattr(job, "shard_counts"):  # annotated by `_shown`
            return shard_status.summary_from_text(job.shard_counts)
        return shard_status.summary_of(job.pk)

    @staticmethod
    def resolve_triggered_by(job: Job) -> str | None:
        return job.triggered_by.get_username() if job.triggered_by else None

    @staticmethod
    def resolve_approved_by(job: Job) -> str | None:
        return job.approved_by.get_username() if job.approved_by else None

    @staticmethod
    def resolve_retry_of(job: Job) -> int | None:
        return job.retry_of_id


class JobFilter(Schema):
    state: list[Job.State] | None = Field(None, description="Repeat for several states.")
    profile: Id | None = None
    team: Id | None = None
    trigger: Job.Trigger | None = None
    created_after: Instant | None = Field(
        None, description="Inclusive. ISO 8601 date-time or date; naive means UTC."
    )
    created_before: Instant | None = Field(
        None, description="Exclusive. ISO 8601 date-time or date; naive means UTC."
    )


class RetryIn(Schema):
    all: bool = Field(
        False, description="Rerun the whole profile instead of only the failed objects."
    )


FAILED_ONLY = RetryIn()  # the body is optional


class SampleOut(Schema):
    t: datetime
    objects_done: int
    bytes_done: int


class FailureOut(Schema):
    key: str
    operation: JobFailure.Operation
    error: str


class FailureFilter(Schema):
    operation: JobFailure.Operation | None = None


class ShardOut(Schema):
    seq: int = Field(..., description="Position in key order, from 0.")
    after_key: str = Field(
        ...,
        description="The shard holds the keys after this one (relative to the source "
        "prefix); blank: from the first key.",
    )
    upto_key: str | None = Field(
        ..., description="... up to and including this one; null: to the last key."
    )
    # Inline, not `JobShard.State`: pydantic would name both enums `State` in the OpenAPI
    # components, and the job's would be replaced by the shard's.
    state: Literal[tuple(JobShard.State.values)]  # type: ignore[valid-type]
    worker: str = Field(
        ..., description="The worker of the latest attempt (`host:pid:id`); blank before one."
    )
    worker_host: str = Field(..., description="The host part of `worker`.")
    attempts: int
    planned_objects: int = Field(..., description="What the cut counted in the range.")
    planned_bytes: int
    objects_total: int | None = Field(..., description="What the shard's own plan counted.")
    bytes_total: int | None
    objects_done: int
    bytes_done: int
    objects_skipped: int
    objects_failed: int
    objects_deleted: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str

    @staticmethod
    def resolve_worker_host(shard: JobShard) -> str:
        return shard_status.worker_host(shard.worker)


def _shown(queryset: QuerySet) -> QuerySet:
    """Jobs with what `JobOut` shows, in one query."""
    manifest = JobManifest.objects.filter(job=OuterRef("pk")).values("sha256")[:1]
    return queryset.select_related("triggered_by", "approved_by").annotate(
        manifest_sha256=Subquery(manifest), shard_counts=shard_status.counts_subquery()
    )


def job_detail(job_id: int) -> Job:
    """A job the caller was just allowed to act on, read again as `JobOut` shows it."""
    return _shown(Job.objects.all()).get(pk=job_id)


class JobPageIn(KeysetPagination.Input):
    count: Literal["exact"] | None = Field(
        None,
        description="`exact`: count every matching job. Without it a long list (about 1,000 "
        "jobs or more) answers the database's estimate, and `count_exact` is false.",
    )


class JobPage(Schema):
    items: list[JobOut]
    count: int = Field(..., description="Jobs matching the filters: see `count_exact`.")
    count_exact: bool = Field(
        ..., description="False when `count` is the database's estimate (long lists)."
    )
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page."
    )


# --- Jobs -------------------------------------------------------------------------------------


@router.get(
    "",
    response={200: JobPage, **LIST},
    summary="List jobs of your teams, newest first",
)
def list_jobs(request: HttpRequest, filters: JobFilter = Query(...), page: JobPageIn = Query(...)):
    queryset = Job.objects.visible_to(request.auth)
    if filters.state:
        queryset = queryset.filter(state__in=filters.state)
    if filters.profile is not None:
        queryset = queryset.filter(profile_id=filters.profile)
    if filters.team is not None:
        queryset = queryset.filter(team_id=filters.team)
    if filters.trigger is not None:
        queryset = queryset.filter(trigger=filters.trigger)
    if filters.created_after is not None:
        queryset = queryset.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    caller = request.auth
    count_key = (
        caller.user.pk,
        caller.user.is_superuser,
        caller.team_ids,
        filters.model_dump_json(),
    )
    found = keyset_page(
        queryset,
        page,
        rows=rendered_jobs,
        exact_count=page.count == "exact",
        count_key=count_key,
    )
    return _json_response(page_json(found))


@router.get("/{int:job_id}", response={200: JobOut, **READ}, summary="One job")
def get_job(request: HttpRequest, job_id: int):
    found = rendered_jobs(Job.objects.visible_to(request.auth).filter(pk=job_id).order_by())
    if not found:
        raise Http404
    return _json_response(found[0].json)


def _json_response(text: str) -> HttpResponse:
    # Rendered already (transfers.api.job_json), so not validated through `JobOut` again.
    return HttpResponse(text, content_type="application/json")


@router.post(
    "/{int:job_id}/cancel",
    response={200: JobOut, **WRITE},
    summary="Cancel a job (operators)",
    description=(
        "A queued or paused job is cancelled at once. A running one gets "
        "`cancel_requested_at` and its worker stops it within seconds (state `cancelled`). "
        "A 200 means the job ends `cancelled`, even one whose run was finishing. "
        "Cancelling again is harmless; cancelling a job whose outcome is stored is a 409 "
        "naming it."
    ),
)
def cancel_job(request: HttpRequest, job_id: int):
    job = object_for(request.auth, Job.objects.all(), "operate", pk=job_id)
    job = services.cancel_job(job, actor=request.auth.user, request=request)
    return job_detail(job.pk)


@router.post(
    "/{int:job_id}/retry",
    response={201: JobOut, **WRITE},
    summary="Retry a failed, partial or cancelled job (operators)",
    description="Starts a new job of the failed objects (or, with `all`, the whole profile).",
)
def retry_job(request: HttpRequest, job_id: int, payload: RetryIn = Body(FAILED_ONLY)):
    job = object_for(request.auth, Job.objects.all(), "operate", pk=job_id)
    retry = services.retry_job(
        job, actor=request.auth.user, failed_only=not payload.all, request=request
    )
    return Status(201, job_detail(retry.pk))


@router.post(
    "/{int:job_id}/continue",
    response={201: JobOut, **WRITE},
    summary="Continue a cancelled job (operators)",
    description=(
        "Starts a new job (trigger `continue`, `retry_of` the cancelled one) with the cancelled "
        "job's options, planned against the destination as it is now: what arrived intact "
        "before the cancel is skipped, even in copy mode, and the rest is copied. 409 for a "
        "job that is not cancelled, whose profile is deleted, or whose profile is busy."
    ),
)
def continue_job(request: HttpRequest, job_id: int):
    job = object_for(request.auth, Job.objects.all(), "operate", pk=job_id)
    follow_up = services.continue_job(job, actor=request.auth.user, request=request)
    return Status(201, job_detail(follow_up.pk))


@router.post(
    "/{int:job_id}/approve",
    response={200: JobOut, **WRITE},
    summary="Let a mirror that waits for approval delete (operators)",
)
def approve_job(request: HttpRequest, job_id: int):
    job = object_for(request.auth, Job.objects.all(), "operate", pk=job_id)
    job = services.approve_job(job, actor=request.auth.user, request=request)
    return job_detail(job.pk)


@router.get(
    "/{int:job_id}/samples",
    response={200: list[SampleOut], **READ, **LIST},
    summary="The job's progress over time (about one sample a second), oldest first",
)
@paginate
def list_job_samples(
    request: HttpRequest,
    job_id: int,
    since: Instant | None = Query(None, description="Only samples after this instant (ISO 8601)."),
):
    job = object_for(request.auth, Job.objects.all(), "view", pk=job_id)
    queryset = JobSample.objects.filter(job=job).order_by("t", "pk")
    if since is not None:
        queryset = queryset.filter(t__gt=since)
    return queryset


@router.get(
    "/{int:job_id}/failures",
    response={200: list[FailureOut], **READ, **LIST},
    summary="The objects the job could not copy, delete or verify, and why",
    description=(
        "Oldest first, as they were stored (while the job runs, too). Pass a page's "
        "`next_cursor` as `cursor` for the next one: each page is read from where the last "
        "ended, however many failures the job has."
    ),
)
@paginate(OldestFirstKeysetPagination)
def list_job_failures(request: HttpRequest, job_id: int, filters: FailureFilter = Query(...)):
    job = object_for(request.auth, Job.objects.all(), "view", pk=job_id)
    queryset = JobFailure.objects.filter(job=job).order_by("pk")
    if filters.operation is not None:
        queryset = queryset.filter(operation=filters.operation)
    return queryset


@router.get(
    "/{int:job_id}/shards",
    response={200: list[ShardOut], **READ, **LIST},
    summary="The shards of a large job, in key order",
    description=(
        "A large job is cut into shards (key ranges) that any worker runs; the job's `shards` "
        "counts them by state. In key order (`seq`), oldest first; pass a page's "
        "`next_cursor` as `cursor` for the next one. Empty for a job that is not sharded."
    ),
)
@paginate(SeqKeysetPagination)
def list_job_shards(request: HttpRequest, job_id: int):
    job = object_for(request.auth, Job.objects.all(), "view", pk=job_id)
    return JobShard.objects.filter(job=job).only(*SHARD_FIELDS)


SHARD_FIELDS = tuple(name for name in ShardOut.model_fields if name != "worker_host")


@router.get(
    "/{int:job_id}/manifest",
    response={200: None, **READ},
    summary="Download the job's manifest (JSON Lines)",
    description=(
        "One line per object: `key`, `action` (copied, skipped, deleted, failed), `size`, "
        "`etag`, and for failures `operation` and `error`. `X-Manifest-SHA256` is the SHA-256 "
        "of the body, as recorded in the job's `job.finished` audit event. 404 until the job "
        "has finished in a worker (a job cancelled before it ran has none)."
    ),
    openapi_extra={
        "responses": {
            # An int, as ninja keys its own responses: "200" would be a second, duplicate key.
            200: {
                "description": "The manifest",
                "content": {manifests.CONTENT_TYPE: {"schema": {"type": "string"}}},
            }
        }
    },
)
def download_job_manifest(request: HttpRequest, job_id: int):
    job = object_for(request.auth, Job.objects.all(), "view", pk=job_id)
    return manifests.download(get_object_or_404(JobManifest.objects.filter(job=job)))
