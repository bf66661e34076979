"""The `audit` API: read and export the audit trail (auditors, superusers; team admins for their
teams). Read-only by nature: the trail has no write route."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from accounts import audit_trail
from accounts.access import AUDIT_REFUSAL, may_read_audit
from accounts.models import AuditEvent
from syncportal.api import errors
from syncportal.errors import Forbidden
from syncportal.pagination import KeysetPagination
from syncportal.schemas import Id, Instant, Text

router = Router(tags=["audit"])

READ = errors(401, 403, 404)


class AuditEventOut(Schema):
    id: int
    created_at: datetime
    actor_id: int | None = Field(..., description="Null for the system or an anonymous caller.")
    actor: str = Field(..., description="The actor's username when it happened.")
    action: str
    target_type: str = Field(..., description="e.g. transfers.job; empty when none.")
    target_id: str
    target_label: str
    team_id: int | None
    ip: str | None
    user_agent: str
    request_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @staticmethod
    def resolve_actor(event: AuditEvent) -> str:
        return event.actor_label


class AuditFilter(Schema):
    actor: Text = Field("", max_length=150, description="Username, case-insensitive.")
    team: Id | None = None
    action: Text = Field("", max_length=64, description="Exact, or a prefix ending in `*`.")
    target_type: Text = Field("", max_length=64)
    target_id: Text = Field("", max_length=64)
    created_after: Instant | None = Field(
        None, description="Inclusive. ISO 8601 date-time or date; naive means UTC."
    )
    created_before: Instant | None = Field(
        None, description="Exclusive. ISO 8601 date-time or date; naive means UTC."
    )


def _events(request: HttpRequest, filters: AuditFilter):
    if not may_read_audit(request.auth):
        raise Forbidden(AUDIT_REFUSAL)
    return audit_trail.events_for(request.auth, audit_trail.Filters(**filters.dict()))


@router.get(
    "",
    response={200: list[AuditEventOut], **READ, **errors(422)},
    summary="The audit trail, newest first",
)
@paginate(KeysetPagination)
def list_audit_events(request: HttpRequest, filters: AuditFilter = Query(...)):
    return _events(request, filters)


@router.get(
    "/export",
    response={200: None, **READ, **errors(422)},
    summary="The filtered audit trail as CSV (all matching events, streamed)",
    openapi_extra={
        "responses": {
            # An int, as ninja keys its own responses: "200" would be a second, duplicate key.
            200: {
                "description": "CSV with a header line; times in UTC",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_audit_events(request: HttpRequest, filters: AuditFilter = Query(...)):
    response = StreamingHttpResponse(
        audit_trail.csv_lines(_events(request, filters)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


@router.get("/{int:event_id}", response={200: AuditEventOut, **READ}, summary="One event")
def get_audit_event(request: HttpRequest, event_id: int):
    if not may_read_audit(request.auth):
        raise Forbidden(AUDIT_REFUSAL)
    return get_object_or_404(AuditEvent.objects.visible_to(request.auth), pk=event_id)
