"""The transfers API: endpoints (+ test, credentials), profiles (+ run, preview, notifications,
skipped runs), jobs (+ cancel, retry, approve, samples, failures, manifest), notifications
(+ deliveries).

Routes only validate, narrow with the access querysets (`request.auth`) and call
`transfers.services`; they never change rows themselves. Secrets are accepted (write-only
fields) and never returned — except a new webhook's signing secret, once, in the response that
created it.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Body, Field, Header, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from accounts.access import object_for
from accounts.models import Team
from syncportal.api import errors
from syncportal.errors import Invalid
from syncportal.pagination import KeysetPagination
from syncportal.schemas import Id, Instant, Text
from transfers import manifests, prediction, services
from transfers.models import (
    Delivery,
    Endpoint,
    Job,
    JobFailure,
    JobManifest,
    JobSample,
    Notification,
    SkippedRun,
    SyncProfile,
)

endpoints = Router(tags=["endpoints"])
profiles = Router(tags=["profiles"])
jobs = Router(tags=["jobs"])
notifications = Router(tags=["notifications"])

READ = errors(401, 403, 404)  # 403: e.g. MFA not enrolled
LIST = errors(401, 403, 422)  # 422: a filter or page parameter that does not parse
WRITE = errors(400, 401, 403, 404, 409, 422)  # 400: a body that is not JSON
MAX_INT = 2**31 - 1  # PositiveIntegerField's ceiling on PostgreSQL
MAX_STALENESS = 366 * 24 * 60  # the model's bound: a year, in minutes
NEXT_RUNS = 3
WRITE_ONLY = {"writeOnly": True}
NO_STORE = "no-store"


def _team_for(request: HttpRequest, team_id: int, need: str) -> Team:
    """The team named in a request body: unknown to the caller is a 422 on `team_id`."""
    team = Team.objects.visible_to(request.auth).filter(pk=team_id).first()
    if team is None:
        raise Invalid("None of your teams has this id.", field="team_id")
    return object_for(request.auth, Team.objects.all(), need, pk=team.pk)


# --- Endpoints --------------------------------------------------------------------------------


class EndpointOut(Schema):
    id: int
    team_id: int
    name: str
    url: str = Field(..., description="Blank for AWS S3.")
    region: str
    addressing_style: Endpoint.Addressing
    verify_tls: bool
    access_key_id: str
    created_at: datetime
    updated_at: datetime


class EndpointIn(Schema):
    team_id: Id
    name: Text = Field(..., max_length=100)
    url: Text = Field("", max_length=255, description="Blank for AWS S3.")
    region: Text = Field("us-east-1", max_length=64)
    addressing_style: Endpoint.Addressing = Endpoint.Addressing.AUTO
    verify_tls: bool = True
    access_key_id: Text = Field(..., max_length=128)
    secret_access_key: Text = Field(
        ..., max_length=1024, description="Write-only.", json_schema_extra=WRITE_ONLY
    )


class EndpointPatch(Schema):
    """Only the fields given change. The secret changes through `PUT .../credentials`."""

    name: Text = Field(None, max_length=100)
    url: Text = Field(None, max_length=255)
    region: Text = Field(None, max_length=64)
    addressing_style: Endpoint.Addressing = None
    verify_tls: bool = None
    access_key_id: Text = Field(None, max_length=128)


class CredentialsIn(Schema):
    secret_access_key: Text = Field(
        ..., max_length=1024, description="Write-only.", json_schema_extra=WRITE_ONLY
    )
    access_key_id: Text = Field(
        None, max_length=128, description="With a new key pair; omit to keep the current id."
    )


class EndpointTestIn(Schema):
    bucket: Text = Field("", max_length=63, description="Also check that this bucket lists.")


NO_BUCKET = EndpointTestIn()  # the body is optional


class EndpointCheckOut(Schema):
    ok: bool
    reachable: bool
    authorised: bool
    bucket_listable: bool | None = Field(..., description="Null when no bucket was named.")
    message: str


class EndpointFilter(Schema):
    team: Id | None = None


@endpoints.get(
    "", response={200: list[EndpointOut], **LIST}, summary="List endpoints of your teams"
)
@paginate
def list_endpoints(request: HttpRequest, filters: EndpointFilter = Query(...)):
    queryset = Endpoint.objects.visible_to(request.auth).order_by("team_id", "name", "pk")
    if filters.team is not None:
        queryset = queryset.filter(team_id=filters.team)
    return queryset


@endpoints.post(
    "", response={201: EndpointOut, **WRITE}, summary="Register an endpoint (team admins)"
)
def create_endpoint(request: HttpRequest, payload: EndpointIn):
    team = _team_for(request, payload.team_id, "administer")
    fields = payload.dict(exclude={"team_id"})
    endpoint = services.create_endpoint(team, actor=request.auth.user, request=request, **fields)
    return Status(201, endpoint)


@endpoints.get("/{int:endpoint_id}", response={200: EndpointOut, **READ}, summary="One endpoint")
def get_endpoint(request: HttpRequest, endpoint_id: int):
    return object_for(request.auth, Endpoint.objects.all(), "view", pk=endpoint_id)


@endpoints.patch(
    "/{int:endpoint_id}",
    response={200: EndpointOut, **WRITE},
    summary="Change an endpoint's settings (team admins)",
)
def update_endpoint(request: HttpRequest, endpoint_id: int, payload: EndpointPatch):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "administer", pk=endpoint_id)
    changes = payload.dict(exclude_unset=True)
    return services.update_endpoint(endpoint, actor=request.auth.user, request=request, **changes)


@endpoints.put(
    "/{int:endpoint_id}/credentials",
    response={200: EndpointOut, **WRITE},
    summary="Rotate an endpoint's secret key (team admins)",
)
def rotate_endpoint_credentials(request: HttpRequest, endpoint_id: int, payload: CredentialsIn):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "administer", pk=endpoint_id)
    return services.rotate_endpoint_secret(
        endpoint,
        actor=request.auth.user,
        secret_access_key=payload.secret_access_key,
        access_key_id=payload.access_key_id,
        request=request,
    )


@endpoints.delete(
    "/{int:endpoint_id}",
    response={204: None, **WRITE},
    summary="Delete an endpoint no profile uses (team admins)",
)
def delete_endpoint(request: HttpRequest, endpoint_id: int):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "administer", pk=endpoint_id)
    services.delete_endpoint(endpoint, actor=request.auth.user, request=request)
    return Status(204, None)


@endpoints.post(
    "/{int:endpoint_id}/test",
    response={200: EndpointCheckOut, **WRITE},
    summary="Check that an endpoint answers and accepts its credentials (operators)",
)
def test_endpoint(
    request: HttpRequest, endpoint_id: int, payload: EndpointTestIn = Body(NO_BUCKET)
):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "operate", pk=endpoint_id)
    check = services.test_endpoint(endpoint, bucket=payload.bucket)
    return {
        "ok": check.ok,
        "reachable": check.reachable,
        "authorised": check.authorised,
        "bucket_listable": check.bucket_listable,
        "message": check.message,
    }


test_endpoint.__test__ = False  # a route named test_*, not a test


# --- Job schemas (profiles run jobs) ---------------------------------------------------------


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


def _shown(queryset: QuerySet) -> QuerySet:
    """Jobs with what `JobOut` shows, in one query."""
    manifest = JobManifest.objects.filter(job=OuterRef("pk")).values("sha256")[:1]
    return queryset.select_related("triggered_by", "approved_by").annotate(
        manifest_sha256=Subquery(manifest)
    )


def _jobs(request: HttpRequest) -> QuerySet:
    return _shown(Job.objects.visible_to(request.auth))


def _job(job_id: int) -> Job:
    """A job the caller was just allowed to act on, read again as `JobOut` shows it."""
    return _shown(Job.objects.all()).get(pk=job_id)


# --- Profiles ---------------------------------------------------------------------------------


class ProfileFields(Schema):
    """A profile's settings; a location is an endpoint + bucket + prefix, or a local path."""

    name: Text = Field(..., max_length=100)
    description: Text = Field("", max_length=10_000)
    source_endpoint: Id | None = None
    source_bucket: Text = Field("", max_length=63)
    source_prefix: Text = Field("", max_length=1024)
    source_path: Text = Field("", max_length=1024, description="A directory under LOCAL_ROOTS.")
    destination_endpoint: Id | None = None
    destination_bucket: Text = Field("", max_length=63)
    destination_prefix: Text = Field("", max_length=1024)
    destination_path: Text = Field("", max_length=1024)
    mode: SyncProfile.Mode = SyncProfile.Mode.SYNC
    compare: SyncProfile.Compare = SyncProfile.Compare.SIZE_MTIME
    include_patterns: list[Text] = Field(default_factory=list, max_length=100)
    exclude_patterns: list[Text] = Field(default_factory=list, max_length=100)
    source_wildcards: bool = False
    workers: int = Field(64, ge=1, le=1024)
    concurrency: int = Field(5, ge=1, le=64)
    part_size_mb: int = Field(50, ge=5, le=5120)
    storage_class: Text = Field("", max_length=32)
    verify_after: bool = True
    delete_threshold: int = Field(100, ge=0, le=MAX_INT)
    schedule: Text = Field(
        "",
        max_length=100,
        description="Five cron fields in UTC (`30 2 * * 1-5`), or @hourly, @daily, @weekly, "
        "@monthly, @yearly; blank: runs only when started.",
    )
    schedule_enabled: bool = Field(True, description="False pauses the schedule, keeping it.")
    max_staleness_minutes: int | None = Field(
        None,
        ge=1,
        le=MAX_STALENESS,
        description="Freshness target: the last successful run must have started within this "
        "many minutes. Null: not tracked.",
    )


class FreshnessOut(Schema):
    status: Literal["fresh", "stale", "never_run", "untracked"]
    breached: bool = Field(
        ..., description="The target is missed: stale, or never succeeded for longer than it."
    )
    max_staleness_minutes: int | None
    last_success_at: datetime | None = Field(
        ..., description="When the latest succeeded job started."
    )
    behind_seconds: float | None = Field(..., description="How long ago that was.")
    due_at: datetime | None = Field(
        ..., description="When a fresh profile turns stale without another successful run."
    )


class ProfileOut(ProfileFields):
    id: int
    team_id: int
    created_at: datetime
    updated_at: datetime
    schedule_description: str = Field(
        ..., description="The schedule in words, e.g. 'At 02:30 (UTC)'; blank without one."
    )
    next_runs: list[datetime] = Field(
        ...,
        description=f"The next {NEXT_RUNS} times the schedule starts a run (UTC); empty without "
        "a schedule or while it is paused.",
    )
    freshness: FreshnessOut

    @staticmethod
    def resolve_next_runs(profile: SyncProfile) -> list[datetime]:
        return profile.next_runs(NEXT_RUNS)

    @staticmethod
    def resolve_freshness(profile: SyncProfile) -> dict[str, Any]:
        state = profile.freshness
        return {
            "status": state.status,
            "breached": state.breached,
            "max_staleness_minutes": profile.max_staleness_minutes,
            "last_success_at": state.last_success_at,
            "behind_seconds": state.behind_seconds,
            "due_at": state.due_at,
        }

    @staticmethod
    def resolve_source_endpoint(profile: SyncProfile) -> int | None:
        return profile.source_endpoint_id

    @staticmethod
    def resolve_destination_endpoint(profile: SyncProfile) -> int | None:
        return profile.destination_endpoint_id


class ProfileIn(ProfileFields):
    team_id: Id


class ProfilePatch(Schema):
    """Only the fields given change; null endpoints switch a side to a local path."""

    name: Text = Field(None, max_length=100)
    description: Text = Field(None, max_length=10_000)
    source_endpoint: Id | None = None
    source_bucket: Text = Field(None, max_length=63)
    source_prefix: Text = Field(None, max_length=1024)
    source_path: Text = Field(None, max_length=1024)
    destination_endpoint: Id | None = None
    destination_bucket: Text = Field(None, max_length=63)
    destination_prefix: Text = Field(None, max_length=1024)
    destination_path: Text = Field(None, max_length=1024)
    mode: SyncProfile.Mode = None
    compare: SyncProfile.Compare = None
    include_patterns: list[Text] = Field(None, max_length=100)
    exclude_patterns: list[Text] = Field(None, max_length=100)
    source_wildcards: bool = None
    workers: int = Field(None, ge=1, le=1024)
    concurrency: int = Field(None, ge=1, le=64)
    part_size_mb: int = Field(None, ge=5, le=5120)
    storage_class: Text = Field(None, max_length=32)
    verify_after: bool = None
    delete_threshold: int = Field(None, ge=0, le=MAX_INT)
    schedule: Text = Field(None, max_length=100, description="Blank removes the schedule.")
    schedule_enabled: bool = None
    max_staleness_minutes: int | None = Field(
        None, ge=1, le=MAX_STALENESS, description="Null stops tracking freshness."
    )


class ProfileFilter(Schema):
    team: Id | None = None


class PlanOut(Schema):
    route: str = Field(..., description="server_side, relay, upload or download.")
    mode: SyncProfile.Mode
    objects_to_copy: int
    bytes_to_copy: int
    objects_to_delete: int
    objects_unchanged: int
    objects_rejected: int
    sample_to_copy: list[str]
    sample_to_delete: list[str]
    sample_rejected: list[dict[str, str]]
    predicted_seconds: float | None = Field(
        ...,
        description="How long a run copying this would take at the pace of earlier successful "
        "runs (the profile's, else the team's); null without any.",
    )


@profiles.get("", response={200: list[ProfileOut], **LIST}, summary="List profiles of your teams")
@paginate
def list_profiles(request: HttpRequest, filters: ProfileFilter = Query(...)):
    queryset = _profiles().visible_to(request.auth).order_by("team_id", "name", "pk")
    if filters.team is not None:
        queryset = queryset.filter(team_id=filters.team)
    return queryset


def _profiles() -> QuerySet:
    """Profiles with what `ProfileOut` shows (freshness needs the last success) in one query."""
    return SyncProfile.objects.with_last_success()


@profiles.post("", response={201: ProfileOut, **WRITE}, summary="Create a profile (operators)")
def create_profile(request: HttpRequest, payload: ProfileIn):
    team = _team_for(request, payload.team_id, "operate")
    fields = payload.dict(exclude={"team_id"})
    profile = services.create_profile(team, actor=request.auth.user, request=request, **fields)
    return Status(201, profile)


@profiles.get("/{int:profile_id}", response={200: ProfileOut, **READ}, summary="One profile")
def get_profile(request: HttpRequest, profile_id: int):
    return object_for(request.auth, _profiles(), "view", pk=profile_id)


@profiles.patch(
    "/{int:profile_id}", response={200: ProfileOut, **WRITE}, summary="Change a profile (operators)"
)
def update_profile(request: HttpRequest, profile_id: int, payload: ProfilePatch):
    profile = object_for(request.auth, _profiles(), "operate", pk=profile_id)
    changes = payload.dict(exclude_unset=True)
    return services.update_profile(profile, actor=request.auth.user, request=request, **changes)


@profiles.delete(
    "/{int:profile_id}",
    response={204: None, **WRITE},
    summary="Delete a profile without a job in progress (operators); its jobs stay",
)
def delete_profile(request: HttpRequest, profile_id: int):
    profile = object_for(request.auth, SyncProfile.objects.all(), "operate", pk=profile_id)
    services.delete_profile(profile, actor=request.auth.user, request=request)
    return Status(204, None)


@profiles.post(
    "/{int:profile_id}/run",
    response={201: JobOut, 200: JobOut, **WRITE},
    summary="Run a profile now (operators)",
    description=(
        "Queues a job (201). With `Idempotency-Key`, repeating the request returns the job the "
        "key started (200, `Idempotent-Replayed: true`) whatever its state, instead of a new "
        "one; a request sent again while the first is still being served waits for it and "
        "gets the same replay. A key that already started a job of another profile of the "
        "team is a 422. "
        "A profile runs one job at a time: 409 while one is in progress."
    ),
)
def run_profile(
    request: HttpRequest,
    response: HttpResponse,
    profile_id: int,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="1 to 64 printable ASCII characters, no spaces; scoped to the team.",
    ),
):
    profile = object_for(request.auth, SyncProfile.objects.all(), "operate", pk=profile_id)
    job = services.start_job(
        profile,
        actor=request.auth.user,
        trigger=Job.Trigger.API,
        idempotency_key=idempotency_key,
        request=request,
    )
    if job.replayed:
        response["Idempotent-Replayed"] = "true"
        return Status(200, _job(job.pk))
    return Status(201, _job(job.pk))


@profiles.post(
    "/{int:profile_id}/preview",
    response={200: PlanOut, **WRITE, **errors(502)},
    summary="What a run would copy and delete now, without moving data (operators)",
)
def preview_profile(
    request: HttpRequest,
    profile_id: int,
    sample: int = Query(20, ge=0, le=100, description="Keys listed per sample."),
):
    profile = object_for(request.auth, SyncProfile.objects.all(), "operate", pk=profile_id)
    plan = services.preview_profile(profile, sample=sample)
    forecast = prediction.predict_for(profile, plan.objects_to_copy, plan.bytes_to_copy)
    return {**plan.as_dict(), "predicted_seconds": forecast.seconds}


# --- Jobs -------------------------------------------------------------------------------------


@jobs.get(
    "",
    response={200: list[JobOut], **LIST},
    summary="List jobs of your teams, newest first",
)
@paginate(KeysetPagination)
def list_jobs(request: HttpRequest, filters: JobFilter = Query(...)):
    queryset = _jobs(request)
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
    return queryset


@jobs.get("/{int:job_id}", response={200: JobOut, **READ}, summary="One job")
def get_job(request: HttpRequest, job_id: int):
    return get_object_or_404(_jobs(request), pk=job_id)


@jobs.post(
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
    return _job(job.pk)


@jobs.post(
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
    return Status(201, _job(retry.pk))


@jobs.post(
    "/{int:job_id}/approve",
    response={200: JobOut, **WRITE},
    summary="Let a mirror that waits for approval delete (operators)",
)
def approve_job(request: HttpRequest, job_id: int):
    job = object_for(request.auth, Job.objects.all(), "operate", pk=job_id)
    job = services.approve_job(job, actor=request.auth.user, request=request)
    return _job(job.pk)


@jobs.get(
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


@jobs.get(
    "/{int:job_id}/failures",
    response={200: list[FailureOut], **READ, **LIST},
    summary="The objects the job could not copy, delete or verify, and why",
)
@paginate
def list_job_failures(request: HttpRequest, job_id: int, filters: FailureFilter = Query(...)):
    job = object_for(request.auth, Job.objects.all(), "view", pk=job_id)
    queryset = JobFailure.objects.filter(job=job).order_by("pk")
    if filters.operation is not None:
        queryset = queryset.filter(operation=filters.operation)
    return queryset


@jobs.get(
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


# --- Notifications and skipped runs -----------------------------------------------------------


class NotificationOut(Schema):
    id: int
    profile_id: int
    channel: Notification.Channel
    target: str = Field(
        ...,
        description="The email address; a webhook URL by scheme and host only, since many "
        "carry a token in their path (send the whole URL again to change it).",
    )
    events: list[Notification.Event]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_target(notification: Notification) -> str:
        return notification.target_display


class NotificationCreatedOut(NotificationOut):
    secret: str | None = Field(
        ...,
        description="Webhooks: the signing secret, in this response only (it is write-only "
        "from then on). Null for email.",
    )

    @staticmethod
    def resolve_secret(notification: Notification) -> str | None:
        return notification.secret.reveal() if notification.secret else None


_EVENTS = ", ".join(f"`{event}`" for event in Notification.Event.values)


class NotificationIn(Schema):
    channel: Notification.Channel
    target: Text = Field(
        ..., max_length=2000, description="An email address, or the webhook's http(s) URL."
    )
    events: list[Notification.Event] = Field(
        ..., min_length=1, max_length=20, description=f"Any of {_EVENTS}."
    )
    secret: Text = Field(
        None,
        max_length=1024,
        description="Webhooks: the signing secret, at least 16 characters; omitted, one is "
        "generated. Write-only.",
        json_schema_extra=WRITE_ONLY,
    )
    enabled: bool = True


class NotificationPatch(Schema):
    """Only the fields given change; the channel does not (delete and add instead)."""

    target: Text = Field(None, max_length=2000)
    events: list[Notification.Event] = Field(None, min_length=1, max_length=20)
    enabled: bool = None
    secret: Text = Field(
        None,
        max_length=1024,
        description="Replaces a webhook's signing secret (write-only: not repeated back).",
        json_schema_extra=WRITE_ONLY,
    )


# The schema names enums by class name, and `Delivery.State` would take the place of `Job.State`.
DeliveryState = StrEnum("DeliveryState", {value.upper(): value for value in Delivery.State.values})


class DeliveryOut(Schema):
    id: int
    notification_id: int
    event: Notification.Event
    job_id: int | None
    state: DeliveryState
    attempts: int
    status_code: int | None = Field(
        ..., description="The webhook's last HTTP status; null for email or without an answer."
    )
    last_error: str
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(..., description="When a failed one is retried.")
    delivered_at: datetime | None


class SkippedRunOut(Schema):
    id: int
    at: datetime
    reason: str
    blocking_job_id: int | None = Field(..., description="The job that was still in progress.")


@profiles.get(
    "/{int:profile_id}/notifications",
    response={200: list[NotificationOut], **READ, **LIST},
    summary="Who the profile notifies, of which events",
)
@paginate
def list_profile_notifications(request: HttpRequest, profile_id: int):
    profile = object_for(request.auth, SyncProfile.objects.all(), "view", pk=profile_id)
    return Notification.objects.filter(profile=profile).order_by("pk")


@profiles.post(
    "/{int:profile_id}/notifications",
    response={201: NotificationCreatedOut, **WRITE},
    summary="Notify an email address or a webhook of the profile's events (operators)",
    description=(
        "Events: " + _EVENTS + ". A webhook's signing secret is in this response only "
        "(`Cache-Control: no-store`): keep it, it is never shown again. A target the profile "
        "already notifies is a 422 on `target`."
    ),
)
def create_profile_notification(
    request: HttpRequest, response: HttpResponse, profile_id: int, payload: NotificationIn
):
    profile = object_for(request.auth, SyncProfile.objects.all(), "operate", pk=profile_id)
    notification = services.add_notification(
        profile, actor=request.auth.user, request=request, **payload.dict()
    )
    response["Cache-Control"] = NO_STORE
    return Status(201, notification)


@profiles.get(
    "/{int:profile_id}/skipped-runs",
    response={200: list[SkippedRunOut], **READ, **LIST},
    summary="Scheduled runs that did not start, and why, newest first",
)
@paginate
def list_profile_skipped_runs(request: HttpRequest, profile_id: int):
    profile = object_for(request.auth, SyncProfile.objects.all(), "view", pk=profile_id)
    return SkippedRun.objects.filter(profile=profile).order_by("-at", "-pk")


def _notification(request: HttpRequest, notification_id: int, need: str) -> Notification:
    queryset = Notification.objects.select_related("profile__team")
    return object_for(request.auth, queryset, need, pk=notification_id)


@notifications.get(
    "/{int:notification_id}", response={200: NotificationOut, **READ}, summary="One notification"
)
def get_notification(request: HttpRequest, notification_id: int):
    return _notification(request, notification_id, "view")


@notifications.patch(
    "/{int:notification_id}",
    response={200: NotificationOut, **WRITE},
    summary="Change a notification's target, events, switch or secret (operators)",
)
def update_notification(request: HttpRequest, notification_id: int, payload: NotificationPatch):
    notification = _notification(request, notification_id, "operate")
    changes = payload.dict(exclude_unset=True)
    return services.update_notification(
        notification, actor=request.auth.user, request=request, **changes
    )


@notifications.delete(
    "/{int:notification_id}",
    response={204: None, **WRITE},
    summary="Stop notifying a target; its delivery log goes too (operators)",
)
def delete_notification(request: HttpRequest, notification_id: int):
    notification = _notification(request, notification_id, "operate")
    services.delete_notification(notification, actor=request.auth.user, request=request)
    return Status(204, None)


@notifications.get(
    "/{int:notification_id}/deliveries",
    response={200: list[DeliveryOut], **READ, **LIST},
    summary="What was sent to the target and how each delivery went, newest first",
)
@paginate(KeysetPagination)
def list_notification_deliveries(request: HttpRequest, notification_id: int):
    notification = _notification(request, notification_id, "view")
    return Delivery.objects.filter(notification=notification)
