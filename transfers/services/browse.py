"""Browsing an endpoint with its stored credentials: its buckets, one level of a prefix a page at
a time (for the endpoint page and the profile form's picker), and the object count and size of
a prefix, counted by a worker and kept in the cache for `BROWSE_USAGE_CACHE_SECONDS`.

Reading is not audited (like every other read); starting a count is, since it makes the
endpoint list a whole prefix on the team's behalf.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import asdict, dataclass, replace
from datetime import datetime

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts import audit
from transfers import dispatch
from transfers.engine.browse import (
    BrowseError,
    Bucket,
    Level,
    Usage,
    list_buckets,
    list_level,
    prefix_usage,
)
from transfers.engine.validation import CONTROL_CHARACTERS, validate_bucket, validate_prefix
from transfers.errors import Unavailable
from transfers.models import Endpoint
from transfers.services._validation import Errors
from transfers.specs import endpoint_config

MAX_CURSOR = 1024
_CACHE_DOWN = "The portal's cache (Redis) cannot be reached: try again in a moment."


@dataclass(frozen=True)
class UsageState:
    """Where a count of a prefix stands: `counting` (with the totals so far), `done`,
    `failed` (with the reason), or `not_counted`."""

    NOT_COUNTED = "not_counted"
    COUNTING = "counting"
    DONE = "done"
    FAILED = "failed"

    bucket: str
    prefix: str
    state: str = NOT_COUNTED
    objects: int | None = None
    bytes: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""

    @property
    def counting(self) -> bool:
        return self.state == self.COUNTING


def _validated(bucket: str, prefix: str, cursor: str = "") -> tuple[str, str]:
    errors = Errors()
    bucket = errors.check("bucket", lambda: validate_bucket(bucket), bucket)
    prefix = errors.check("prefix", lambda: validate_prefix(prefix), prefix)
    if len(cursor) > MAX_CURSOR or CONTROL_CHARACTERS.search(cursor):
        errors.add("cursor", "This page cursor is not one the portal gave: start from the top.")
    errors.raise_if_any()
    return bucket, prefix


def _allow_private() -> bool:
    return settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS


def endpoint_buckets(endpoint: Endpoint) -> list[Bucket]:
    """The buckets the endpoint's credentials can see."""
    try:
        return list_buckets(endpoint_config(endpoint), allow_private_networks=_allow_private())
    except BrowseError as exc:
        raise Unavailable(str(exc)) from None


def browse_endpoint(
    endpoint: Endpoint, *, bucket: str, prefix: str = "", cursor: str = ""
) -> Level:
    """One page (`BROWSE_PAGE_SIZE` entries at most) of the folders and objects directly under
    `prefix`; its `next_cursor` asks for the next page."""
    bucket, prefix = _validated(bucket, prefix, cursor)
    try:
        return list_level(
            endpoint_config(endpoint),
            bucket,
            prefix,
            cursor=cursor or None,
            page_size=settings.BROWSE_PAGE_SIZE,
            allow_private_networks=_allow_private(),
        )
    except BrowseError as exc:
        raise Unavailable(str(exc)) from None


# --- Object count and size of a prefix --------------------------------------------------------


def _key(endpoint_id: int, bucket: str, prefix: str) -> str:
    digest = hashlib.sha256(f"{bucket}/{prefix}".encode()).hexdigest()[:32]
    return f"browse-usage:{endpoint_id}:{digest}"


def _store(endpoint_id: int, state: UsageState, *, only_if_absent: bool = False) -> bool:
    key, ttl = _key(endpoint_id, state.bucket, state.prefix), settings.BROWSE_USAGE_CACHE_SECONDS
    if only_if_absent:
        return cache.add(key, asdict(state), ttl)
    cache.set(key, asdict(state), ttl)
    return True


def _load(endpoint_id: int, bucket: str, prefix: str) -> UsageState:
    stored = cache.get(_key(endpoint_id, bucket, prefix))
    return UsageState(**stored) if stored else UsageState(bucket, prefix)


def prefix_usage_of(endpoint: Endpoint, *, bucket: str, prefix: str = "") -> UsageState:
    """The last count of the prefix while it is kept, or `not_counted`."""
    bucket, prefix = _validated(bucket, prefix)
    try:
        return _load(endpoint.pk, bucket, prefix)
    except redis.RedisError:
        raise Unavailable(_CACHE_DOWN) from None


def count_prefix_usage(
    endpoint: Endpoint, *, actor, bucket: str, prefix: str = "", again: bool = False, request=None
) -> tuple[UsageState, bool]:
    """Have a worker count the objects under the prefix and add up their sizes; (the state,
    whether a count was started). A count under way, or a recent result (unless `again`), is
    returned as it is instead of starting another."""
    bucket, prefix = _validated(bucket, prefix)
    started = UsageState(bucket, prefix, UsageState.COUNTING, 0, 0, timezone.now())
    try:
        if not _store(endpoint.pk, started, only_if_absent=True):
            current = _load(endpoint.pk, bucket, prefix)
            if current.counting or (current.state == UsageState.DONE and not again):
                return current, False
            _store(endpoint.pk, started)
    except redis.RedisError:
        raise Unavailable(_CACHE_DOWN) from None
    try:
        with transaction.atomic():
            audit.record(
                "endpoint.usage_counted",
                actor=actor,
                target=endpoint,
                team=endpoint.team,
                details={"bucket": bucket, "prefix": prefix},
                request=request,
            )
            transaction.on_commit(lambda: _send(endpoint.pk, started))
    except BaseException:
        cache.delete(_key(endpoint.pk, bucket, prefix))  # no count will fill it in
        raise
    return started, True


def _send(endpoint_id: int, state: UsageState) -> None:
    if dispatch.send(
        "transfers.count_prefix_usage",
        (endpoint_id, state.bucket, state.prefix),
        queue=settings.TRANSFER_QUEUE,
        meanwhile="the prefix count waits until it is back",
    ):
        return
    failed = replace(
        state,
        state=UsageState.FAILED,
        finished_at=timezone.now(),
        message="The job queue cannot be reached: try again in a moment.",
    )
    # If the cache is down too, the counting entry expires by itself.
    with contextlib.suppress(redis.RedisError):
        _store(endpoint_id, failed)


def run_prefix_count(endpoint_id: int, bucket: str, prefix: str) -> UsageState:
    """The worker's side: list the whole prefix, keeping the running totals in the cache so
    pages can show them, and store the result (or why it failed)."""
    state = _load(endpoint_id, bucket, prefix)
    if not state.counting:
        state = UsageState(bucket, prefix, UsageState.COUNTING, 0, 0, timezone.now())
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        result = replace(state, state=UsageState.FAILED, message="The endpoint was deleted.")
    else:

        def progress(so_far: Usage) -> None:
            _store(endpoint_id, replace(state, objects=so_far.objects, bytes=so_far.bytes))

        try:
            usage = prefix_usage(
                endpoint_config(endpoint),
                bucket,
                prefix,
                on_page=progress,
                allow_private_networks=_allow_private(),
            )
        except BrowseError as exc:
            result = replace(state, state=UsageState.FAILED, message=str(exc))
        else:
            result = replace(state, state=UsageState.DONE, objects=usage.objects, bytes=usage.bytes)
    result = replace(result, finished_at=timezone.now())
    _store(endpoint_id, result)
    return result
