"""Endpoints: register, change, rotate credentials, test; browse buckets and prefixes, count a
prefix's objects and size."""

from datetime import datetime

from django.http import HttpRequest
from ninja import Body, Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from accounts.access import object_for
from syncportal.api import errors
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


# --- Browsing ---------------------------------------------------------------------------------

BROWSE = {**READ, **errors(422, 502)}  # 502: the endpoint refused or could not be reached


class BucketOut(Schema):
    name: str
    created_at: datetime | None


class BucketsOut(Schema):
    items: list[BucketOut]
    count: int


class FolderOut(Schema):
    prefix: str = Field(..., description="The full prefix, ending in '/': browse it next.")
    name: str = Field(..., description="The last segment, with its '/'.")


class ObjectOut(Schema):
    key: str
    name: str = Field(..., description="The key without the listed prefix.")
    size: int
    modified: datetime


class BrowseOut(Schema):
    bucket: str
    prefix: str
    folders: list[FolderOut]
    objects: list[ObjectOut]
    next_cursor: str | None = Field(
        ..., description="Pass as `cursor` for the next page; null on the last page."
    )


class BrowseQuery(Schema):
    bucket: Text = Field(..., max_length=63)
    prefix: Text = Field("", max_length=1024, description="Empty (the bucket) or ending in '/'.")
    cursor: Text = Field("", max_length=1024, description="`next_cursor` of the previous page.")


class PrefixQuery(Schema):
    bucket: Text = Field(..., max_length=63)
    prefix: Text = Field("", max_length=1024)


class UsageIn(PrefixQuery):
    again: bool = Field(False, description="Count again even if a recent result is kept.")


class UsageOut(Schema):
    bucket: str
    prefix: str
    state: str = Field(..., description="not_counted, counting, done or failed.")
    objects: int | None = Field(..., description="So far while counting.")
    bytes: int | None = Field(..., description="So far while counting.")
    started_at: datetime | None
    finished_at: datetime | None
    message: str = Field(..., description="Why a count failed.")


@router.get(
    "/{int:endpoint_id}/buckets",
    response={200: BucketsOut, **errors(401, 403, 404, 502)},
    summary="The buckets an endpoint's credentials can see (members)",
)
def list_endpoint_buckets(request: HttpRequest, endpoint_id: int):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "view", pk=endpoint_id)
    buckets = services.endpoint_buckets(endpoint)
    return {
        "items": [{"name": b.name, "created_at": b.created} for b in buckets],
        "count": len(buckets),
    }


@router.get(
    "/{int:endpoint_id}/browse",
    response={200: BrowseOut, **BROWSE},
    summary="One level of a bucket's prefix, a page at a time (members)",
)
def browse_endpoint(request: HttpRequest, endpoint_id: int, query: BrowseQuery = Query(...)):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "view", pk=endpoint_id)
    level = services.browse_endpoint(
        endpoint, bucket=query.bucket, prefix=query.prefix, cursor=query.cursor
    )
    return {
        "bucket": level.bucket,
        "prefix": level.prefix,
        "folders": [
            {"prefix": folder, "name": folder[len(level.prefix) :]} for folder in level.folders
        ],
        "objects": level.objects,
        "next_cursor": level.next_cursor,
    }


@router.get(
    "/{int:endpoint_id}/usage",
    response={200: UsageOut, **READ, **errors(422)},
    summary="The object count and size of a prefix, once counted (members)",
)
def get_prefix_usage(request: HttpRequest, endpoint_id: int, query: PrefixQuery = Query(...)):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "view", pk=endpoint_id)
    return services.prefix_usage_of(endpoint, bucket=query.bucket, prefix=query.prefix)


@router.post(
    "/{int:endpoint_id}/usage",
    response={200: UsageOut, 202: UsageOut, **WRITE},
    summary="Start counting the objects and size of a prefix (members)",
    description="202: a worker counts now; read the result with GET. 200: a count is under way "
    "or was done recently (see `BROWSE_USAGE_CACHE_SECONDS`); `again` counts anew.",
)
def count_prefix_usage(request: HttpRequest, endpoint_id: int, payload: UsageIn):
    endpoint = object_for(request.auth, Endpoint.objects.all(), "view", pk=endpoint_id)
    state, started = services.count_prefix_usage(
        endpoint,
        actor=request.auth.user,
        bucket=payload.bucket,
        prefix=payload.prefix,
        again=payload.again,
        request=request,
    )
    return Status(202 if started else 200, state)
