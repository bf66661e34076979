"""Profiles: create, change, run, preview, and a profile's notifications and skipped runs."""

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Header, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status
from pydantic import create_model
from pydantic.fields import FieldInfo

from accounts.access import object_for
from syncportal.limits import schema_default, schema_limits
from syncportal.schemas import Id, Text
from transfers import services
from transfers.api import previews as previews_api
from transfers.api.common import (
    LIST,
    MAX_INT,
    NEXT_RUNS,
    NO_STORE,
    READ,
    WRITE,
    team_for,
)
from transfers.api.jobs import JobOut, job_detail
from transfers.api.notifications import (
    EVENTS,
    NotificationCreatedOut,
    NotificationIn,
    NotificationOut,
    SkippedRunOut,
)
from transfers.api.previews import PreviewOut
from transfers.models import (
    Job,
    Notification,
    SkippedRun,
    SyncProfile,
)

router = Router(tags=["profiles"])


# --- Profiles ---------------------------------------------------------------------------------


def _from_model(name: str, **more: Any) -> Any:
    """A schema field with the model field's default and limits (`syncportal.limits`), so the
    model holds each limit once; `more` adds what the model does not say."""
    default = schema_default(SyncProfile, name)
    limits = {**schema_limits(SyncProfile, name), **more}
    if callable(default):
        return Field(default_factory=default, **limits)
    return Field(default, **limits)


class ProfileFields(Schema):
    """A profile's settings; a location is an endpoint + bucket + prefix, or a local path."""

    name: Text = _from_model("name")
    description: Text = _from_model("description", max_length=10_000)
    source_endpoint: Id | None = None
    source_bucket: Text = _from_model("source_bucket")
    source_prefix: Text = _from_model("source_prefix")
    source_path: Text = _from_model("source_path", description="A directory under LOCAL_ROOTS.")
    destination_endpoint: Id | None = None
    destination_bucket: Text = _from_model("destination_bucket")
    destination_prefix: Text = _from_model("destination_prefix")
    destination_path: Text = _from_model("destination_path")
    mode: SyncProfile.Mode = _from_model("mode")
    compare: SyncProfile.Compare = _from_model("compare")
    include_patterns: list[Text] = _from_model("include_patterns", max_length=100)
    exclude_patterns: list[Text] = _from_model("exclude_patterns", max_length=100)
    source_wildcards: bool = _from_model("source_wildcards")
    workers: int = _from_model("workers")
    concurrency: int = _from_model("concurrency")
    part_size_mb: int = _from_model("part_size_mb")
    storage_class: Text = _from_model("storage_class")
    max_parallel_shards: int | None = _from_model(
        "max_parallel_shards",
        description="At most this many shards of one of the profile's jobs run at once (a "
        "large job is split into key ranges that any worker runs). Null: automatic "
        "(TRANSFER_SHARDS_PER_JOB).",
    )
    verify_after: bool = _from_model("verify_after")
    delete_threshold: int = _from_model("delete_threshold", ge=0, le=MAX_INT)
    schedule: Text = _from_model(
        "schedule",
        description="Five cron fields in UTC (`30 2 * * 1-5`), or @hourly, @daily, @weekly, "
        "@monthly, @yearly; blank: runs only when started.",
    )
    schedule_enabled: bool = _from_model(
        "schedule_enabled", description="False pauses the schedule, keeping it."
    )
    max_staleness_minutes: int | None = _from_model(
        "max_staleness_minutes",
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


def _every_field_optional(schema: type[Schema], name: str, doc: str, **descriptions: str):
    """`schema` with each field optional (default None) and its limits kept: a PATCH body."""
    fields = {
        field: (
            info.annotation,
            FieldInfo.merge_field_infos(
                info,
                default=None,
                default_factory=None,
                description=descriptions.get(field, info.description),
            ),
        )
        for field, info in schema.model_fields.items()
    }
    return create_model(name, __base__=Schema, __doc__=doc, __module__=__name__, **fields)


ProfilePatch = _every_field_optional(
    ProfileFields,
    "ProfilePatch",
    "Only the fields given change; null endpoints switch a side to a local path.",
    schedule="Blank removes the schedule.",
    max_staleness_minutes="Null stops tracking freshness.",
    max_parallel_shards="Null: automatic (TRANSFER_SHARDS_PER_JOB).",
)


class ProfileFilter(Schema):
    team: Id | None = None


@router.get("", response={200: list[ProfileOut], **LIST}, summary="List profiles of your teams")
@paginate
def list_profiles(request: HttpRequest, filters: ProfileFilter = Query(...)):
    queryset = _profiles().visible_to(request.auth).order_by("team_id", "name", "pk")
    if filters.team is not None:
        queryset = queryset.filter(team_id=filters.team)
    return queryset


def _profiles() -> QuerySet:
    """Profiles with what `ProfileOut` shows (freshness needs the last success) in one query."""
    return SyncProfile.objects.with_last_success()


@router.post("", response={201: ProfileOut, **WRITE}, summary="Create a profile (operators)")
def create_profile(request: HttpRequest, payload: ProfileIn):
    team = team_for(request, payload.team_id, "operate")
    fields = payload.dict(exclude={"team_id"})
    profile = services.create_profile(team, actor=request.auth.user, request=request, **fields)
    return Status(201, profile)


@router.get("/{int:profile_id}", response={200: ProfileOut, **READ}, summary="One profile")
def get_profile(request: HttpRequest, profile_id: int):
    return object_for(request.auth, _profiles(), "view", pk=profile_id)


@router.patch(
    "/{int:profile_id}", response={200: ProfileOut, **WRITE}, summary="Change a profile (operators)"
)
def update_profile(request: HttpRequest, profile_id: int, payload: ProfilePatch):
    profile = object_for(request.auth, _profiles(), "operate", pk=profile_id)
    changes = payload.dict(exclude_unset=True)
    return services.update_profile(profile, actor=request.auth.user, request=request, **changes)


@router.delete(
    "/{int:profile_id}",
    response={204: None, **WRITE},
    summary="Delete a profile without a job in progress (operators); its jobs stay",
)
def delete_profile(request: HttpRequest, profile_id: int):
    profile = object_for(request.auth, SyncProfile.objects.all(), "operate", pk=profile_id)
    services.delete_profile(profile, actor=request.auth.user, request=request)
    return Status(204, None)


@router.post(
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
        return Status(200, job_detail(job.pk))
    return Status(201, job_detail(job.pk))


@router.post(
    "/{int:profile_id}/previews",
    response={202: PreviewOut, **WRITE},
    summary="Preview a run: what it would copy and delete now, without moving data (operators)",
    description=(
        "Queues a preview and answers at once (202, `Location: /api/v1/previews/{id}`); a "
        "worker lists both sides and plans. Follow it with `GET /previews/{id}` until it is "
        "`succeeded` (its `result` is the plan), `failed` (`error` says why, e.g. an endpoint "
        "that cannot be reached) or `cancelled`. One preview of a profile at a time: 409 while "
        "one is queued or running."
    ),
)
def start_preview(request: HttpRequest, response: HttpResponse, profile_id: int):
    return previews_api.start(request, response, profile_id)


@router.post(
    "/{int:profile_id}/preview",
    response={202: PreviewOut, **WRITE},
    summary="Start a preview (operators); kept for older clients",
    description=(
        "The same as `POST /profiles/{id}/previews`: it queues a preview and answers 202 with "
        "it. It used to answer with the plan itself, listing both sides inside the request."
    ),
    deprecated=True,
)
def preview_profile(request: HttpRequest, response: HttpResponse, profile_id: int):
    return previews_api.start(request, response, profile_id)


@router.get(
    "/{int:profile_id}/notifications",
    response={200: list[NotificationOut], **READ, **LIST},
    summary="Who the profile notifies, of which events",
)
@paginate
def list_profile_notifications(request: HttpRequest, profile_id: int):
    profile = object_for(request.auth, SyncProfile.objects.all(), "view", pk=profile_id)
    return Notification.objects.filter(profile=profile).order_by("pk")


@router.post(
    "/{int:profile_id}/notifications",
    response={201: NotificationCreatedOut, **WRITE},
    summary="Notify an email address or a webhook of the profile's events (operators)",
    description=(
        "Events: " + EVENTS + ". A webhook's signing secret is in this response only "
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


@router.get(
    "/{int:profile_id}/skipped-runs",
    response={200: list[SkippedRunOut], **READ, **LIST},
    summary="Scheduled runs that did not start, and why, newest first",
)
@paginate
def list_profile_skipped_runs(request: HttpRequest, profile_id: int):
    profile = object_for(request.auth, SyncProfile.objects.all(), "view", pk=profile_id)
    return SkippedRun.objects.filter(profile=profile).order_by("-at", "-pk")
