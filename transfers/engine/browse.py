"""Looking into an endpoint: its buckets, one level of a prefix a page at a time, and the object
count and total size of a prefix.

A level is one ListObjectsV2 call with Delimiter="/" and a bounded MaxKeys, so what a request
costs does not depend on how much the bucket holds; the continuation token S3 returns is the
cursor of the next page. Only `prefix_usage` walks a whole prefix, and it keeps two numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.errors import EngineError
from transfers.engine.locations import EndpointConfig, describe_error
from transfers.engine.validation import validate_endpoint_url

MAX_PAGE_SIZE = 1000  # S3 answers at most 1,000 entries per ListObjectsV2 page
_USAGE_PAGE = 1000


class BrowseError(EngineError):
    """The endpoint could not be read: unreachable, credentials refused, no such bucket."""


@dataclass(frozen=True)
class Bucket:
    name: str
    created: datetime | None


@dataclass(frozen=True)
class Entry:
    """An object directly under the listed prefix; `name` is its key without the prefix."""

    key: str
    name: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Level:
    """One page of one level: folders (common prefixes, each ending in '/') and objects."""

    bucket: str
    prefix: str
    folders: list[str]
    objects: list[Entry]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True)
class Usage:
    objects: int
    bytes: int


def _client(endpoint: EndpointConfig, allow_private_networks: bool, *, attempts: int = 1):
    # Checked at every use, like a job's: the name may resolve elsewhere than when it was saved.
    try:
        validate_endpoint_url(
            endpoint.url, allow_private=allow_private_networks, require_resolution=True
        )
    except EngineError as exc:
        raise BrowseError(str(exc)) from None
    # A page is for someone waiting: one attempt, and a failure says why at once.
    return endpoint.client(attempts=attempts)


def list_buckets(endpoint: EndpointConfig, *, allow_private_networks: bool = False) -> list[Bucket]:
    """Every bucket the credentials can see, by name."""
    client = _client(endpoint, allow_private_networks)
    try:
        answer = client.list_buckets()
    except (BotoCoreError, ClientError) as exc:
        raise BrowseError(describe_error(exc, endpoint)) from None
    finally:
        client.close()
    buckets = [Bucket(b["Name"], b.get("CreationDate")) for b in answer.get("Buckets", ())]
    return sorted(buckets, key=lambda bucket: bucket.name)


def list_level(
    endpoint: EndpointConfig,
    bucket: str,
    prefix: str = "",
    *,
    cursor: str | None = None,
    page_size: int = 200,
    allow_private_networks: bool = False,
) -> Level:
    """One page of the folders and objects directly under `prefix` (empty or ending in '/')."""
    request = {
        "Bucket": bucket,
        "Prefix": prefix,
        "Delimiter": "/",
        "MaxKeys": max(1, min(page_size, MAX_PAGE_SIZE)),
    }
    if cursor:
        request["ContinuationToken"] = cursor
    client = _client(endpoint, allow_private_networks)
    try:
        page = client.list_objects_v2(**request)
    except (BotoCoreError, ClientError) as exc:
        raise BrowseError(describe_error(exc, endpoint, bucket)) from None
    finally:
        client.close()
    folders = [p["Prefix"] for p in page.get("CommonPrefixes", ()) if p.get("Prefix")]
    objects = [
        Entry(
            key=item["Key"],
            name=item["Key"][len(prefix) :],
            size=item["Size"],
            modified=item["LastModified"],
        )
        for item in page.get("Contents", ())
        # A "folder marker" (an empty object named like the prefix) is the level itself.
        if item["Key"] != prefix
    ]
    more = page.get("IsTruncated") and page.get("NextContinuationToken")
    return Level(bucket, prefix, folders, objects, page["NextContinuationToken"] if more else None)


def prefix_usage(
    endpoint: EndpointConfig,
    bucket: str,
    prefix: str = "",
    *,
    on_page: Callable[[Usage], None] | None = None,
    allow_private_networks: bool = False,
) -> Usage:
    """How many objects are under `prefix`, at any depth, and their total size. Walks the whole
    prefix (for a background task, never a web request); `on_page` hears the running totals."""
    client = _client(endpoint, allow_private_networks, attempts=3)
    objects = size = 0
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": _USAGE_PAGE}
        )
        for page in pages:
            for item in page.get("Contents", ()):
                objects += 1
                size += item["Size"]
            if on_page is not None:
                on_page(Usage(objects, size))
    except (BotoCoreError, ClientError) as exc:
        raise BrowseError(describe_error(exc, endpoint, bucket)) from None
    finally:
        client.close()
    return Usage(objects, size)
