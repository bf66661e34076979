"""Notifications (e-mail, webhook) and their deliveries."""

from datetime import datetime
from enum import StrEnum

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from accounts.access import object_for
from syncportal.pagination import KeysetPagination
from syncportal.schemas import Text
from transfers import services
from transfers.api.common import LIST, READ, WRITE, WRITE_ONLY
from transfers.models import (
    Delivery,
    Notification,
)

router = Router(tags=["notifications"])


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


EVENTS = ", ".join(f"`{event}`" for event in Notification.Event.values)


class NotificationIn(Schema):
    channel: Notification.Channel
    target: Text = Field(
        ..., max_length=2000, description="An email address, or the webhook's http(s) URL."
    )
    events: list[Notification.Event] = Field(
        ..., min_length=1, max_length=20, description=f"Any of {EVENTS}."
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


def _notification(request: HttpRequest, notification_id: int, need: str) -> Notification:
    queryset = Notification.objects.select_related("profile__team")
    return object_for(request.auth, queryset, need, pk=notification_id)


@router.get(
    "/{int:notification_id}", response={200: NotificationOut, **READ}, summary="One notification"
)
def get_notification(request: HttpRequest, notification_id: int):
    return _notification(request, notification_id, "view")


@router.patch(
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


@router.delete(
    "/{int:notification_id}",
    response={204: None, **WRITE},
    summary="Stop notifying a target; its delivery log goes too (operators)",
)
def delete_notification(request: HttpRequest, notification_id: int):
    notification = _notification(request, notification_id, "operate")
    services.delete_notification(notification, actor=request.auth.user, request=request)
    return Status(204, None)


@router.get(
    "/{int:notification_id}/deliveries",
    response={200: list[DeliveryOut], **READ, **LIST},
    summary="What was sent to the target and how each delivery went, newest first",
)
@paginate(KeysetPagination)
def list_notification_deliveries(request: HttpRequest, notification_id: int):
    notification = _notification(request, notification_id, "view")
    return Delivery.objects.filter(notification=notification)
