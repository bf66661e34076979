"""Previews: what a run of a profile would copy and delete, planned by a worker. Started from
the profile (`POST /profiles/{id}/previews`, in `transfers.api.profiles`), read and cancelled
here."""

from dataclasses import fields as fields_of
from datetime import datetime
from typing import Any, Literal, get_type_hints

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status
from pydantic import create_model

from accounts.access import object_for
from transfers import services
from transfers.api.common import READ, WRITE
from transfers.engine import PlanSummary
from transfers.models import Preview, SyncProfile

router = Router(tags=["previews"])
# Not `Preview.State` itself: its OpenAPI schema would be named "State", as the job's is.
PreviewState = Literal[tuple(Preview.State.values)]  # type: ignore[valid-type]


def _plan_schema() -> type[Schema]:
    """The engine's `PlanSummary` as the API shows a preview, with the predicted duration."""
    types = get_type_hints(PlanSummary)
    fields: dict[str, Any] = {
        field.name: (types[field.name], ...) for field in fields_of(PlanSummary)
    }
    fields["route"] = (str, Field(..., description="server_side, relay, upload or download."))
    fields["mode"] = (SyncProfile.Mode, ...)
    fields["predicted_seconds"] = (
        float | None,
        Field(
            ...,
            description="How long a run copying this would take at the pace of earlier "
            "successful runs (the profile's, else the team's); null without any.",
        ),
    )
    fields["prediction_basis"] = (
        str,
        Field("", description='What the prediction is based on ("based on the last 5 runs").'),
    )
    return create_model("PlanOut", __base__=Schema, __module__=__name__, **fields)


PlanOut = _plan_schema()


class PreviewProgressOut(Schema):
    source_listed: int = Field(..., description="Source objects listed so far.")
    destination_listed: int | None = Field(
        ..., description="Destination objects listed so far; null in copy mode (not listed)."
    )
    elapsed_seconds: float = Field(..., description="Since it started, or until it finished.")


class PreviewOut(Schema):
    id: int
    team_id: int
    profile_id: int
    state: PreviewState
    requested_by: str | None = Field(..., description="Username; null once the user is gone.")
    progress: PreviewProgressOut
    result: PlanOut | None = Field(..., description="The plan, once `state` is `succeeded`.")
    error: str = Field(..., description="Why it failed or who cancelled it.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime = Field(..., description="When the preview and its result are pruned.")

    @staticmethod
    def resolve_requested_by(preview: Preview) -> str | None:
        return preview.requested_by.get_username() if preview.requested_by else None

    @staticmethod
    def resolve_progress(preview: Preview) -> dict:
        return {
            "source_listed": preview.source_listed,
            "destination_listed": preview.destination_listed,
            "elapsed_seconds": preview.elapsed_seconds,
        }


def _previews():
    return Preview.objects.fresh().select_related("requested_by")


def preview_detail(preview_id: int) -> Preview:
    """A preview the caller was just allowed to see or act on, as `PreviewOut` shows it."""
    return _previews().get(pk=preview_id)


def started(response: HttpResponse, preview: Preview) -> Status:
    """The answer to a request that started a preview: 202, and where to follow it."""
    response["Location"] = f"/api/v1/previews/{preview.pk}"
    return Status(202, preview_detail(preview.pk))


def start(request: HttpRequest, response: HttpResponse, profile_id: int) -> Status:
    profile = object_for(
        request.auth, SyncProfile.objects.select_related("team"), "operate", pk=profile_id
    )
    preview = services.start_preview(profile, actor=request.auth.user, request=request)
    return started(response, preview)


@router.get(
    "/{int:preview_id}",
    response={200: PreviewOut, **READ},
    summary="A preview: its state, progress while it lists, and the plan once done",
    description=(
        "Poll it (about once a second is plenty) until `state` is `succeeded`, `failed` or "
        "`cancelled`; pages follow `/ws/previews/{id}/` instead. A preview is kept for "
        "`PREVIEW_RESULT_HOURS` after it finishes (`expires_at`), then it is a 404."
    ),
)
def get_preview(request: HttpRequest, preview_id: int):
    return object_for(request.auth, _previews(), "view", pk=preview_id)


@router.post(
    "/{int:preview_id}/cancel",
    response={200: PreviewOut, **WRITE},
    summary="Cancel a preview (operators)",
    description=(
        "A queued or running preview is `cancelled` at once; its worker stops listing within "
        "seconds. Cancelling again is harmless; cancelling a finished one is a 409."
    ),
)
def cancel_preview(request: HttpRequest, preview_id: int):
    preview = object_for(request.auth, _previews(), "operate", pk=preview_id)
    preview = services.cancel_preview(preview, actor=request.auth.user, request=request)
    return preview_detail(preview.pk)
