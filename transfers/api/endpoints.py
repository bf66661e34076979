"""Endpoints: register, change, rotate credentials, test."""

from datetime import datetime

from django.http import HttpRequest
from ninja import Body, Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from accounts.access import object_for
from syncportal.schemas import Id, Text
from transfers import services
from transfers.api.common import LIST, READ, WRITE, WRITE_ONLY, team_for
from transfers.models import (
    Endpoint,
)

router = Router(tags=["endpoints"])


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


@router.get("", response={200: list[EndpointOut], **LIST}, summary="List endpoints of your teams")
@paginate
def list_endpoints(request: HttpRequest, filters: EndpointFilter = Query(...)):
    queryset = Endpoint.objects.visible_to(request.auth).order_by("team_id", "name", "pk")
    if filters.team is not None:
        queryset = queryset.filter(team_id=filters.team)
    return queryset


@router.post("", response={201: EndpointOut, **WRITE}, summary="Register an endpoint (team admins)")
def create_endpoint(request: HttpRequest, payload: EndpointIn):
    team = team_for(request, payload.team_id, "administer")
    fields = payload.dict(exclude={"team_id"})
    endpoint = services.create_endpoint(team, actor=request.auth.user, request=request, **fields)
    return Status(201, endpoint)


@router.get("/{int:endpoint_id}", response={200: EndpointOut, **READ}, summary="One endpoint")
def get_endpoint(request: HttpRequest, endpoint_id: int):
    return object_for(request.auth, Endpoint.objects.all(), "view", pk=endpoint_id)


@router.patch(
    "/{int:endpoint_id}",
    response={200: EndpointOut, **WRITE},
    summary="Change an endpoint's settings (team admins)",
)
def update_endpoint(request: HttpRequest, endpoint_id: int, payload: EndpointPatch):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "administer", pk=endpoint_id)
    changes = payload.dict(exclude_unset=True)
    return services.update_endpoint(endpoint, actor=request.auth.user, request=request, **changes)


@router.put(
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


@router.delete(
    "/{int:endpoint_id}",
    response={204: None, **WRITE},
    summary="Delete an endpoint no profile uses (team admins)",
)
def delete_endpoint(request: HttpRequest, endpoint_id: int):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "administer", pk=endpoint_id)
    services.delete_endpoint(endpoint, actor=request.auth.user, request=request)
    return Status(204, None)


@router.post(
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
