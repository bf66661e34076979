"""Pagination of the API's lists, and of the long lists the pages show (`browse_page`).

Every list takes `limit` and `offset` and answers `{"items": [...], "count": N}` (ninja's
`LimitOffsetPagination`, the default of `@paginate`). Jobs and the audit trail also take a
`cursor` (`KeysetPagination`): both grow while a client walks them, newest first, and with an
offset alone every new row would shift the next page by one (the client sees a row twice);
deep offsets also make the database skip ever more rows. A cursor names the last row seen, so
the next page starts right after it, however many rows arrived meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest, QueryDict
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination as NinjaLimitOffsetPagination
from ninja.pagination import PaginationBase

from syncportal.errors import Invalid

# Far beyond any list here; unbounded, an offset past 2**63 is a database error, not a page.
MAX_OFFSET = 10**9


class LimitOffsetPagination(NinjaLimitOffsetPagination):
    """Ninja's, with a bounded offset (the default of `@paginate`: NINJA_PAGINATION_CLASS)."""

    class Input(Schema):
        limit: int = Field(
            settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=settings.NINJA_PAGINATION_MAX_LIMIT
        )
        offset: int = Field(0, ge=0, le=MAX_OFFSET)


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(f"id<{pk}".encode()).decode().rstrip("=")


def _decode(cursor: str, direction: str = "<") -> int:
    """The id of an `id<pk` cursor (or `id>pk`, with that `direction`)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        marker, _, pk = text.partition(direction)
        if marker != "id" or not pk.isdigit() or len(pk) > 19:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("This cursor is not one the API gave out.", field="cursor") from None
    return int(pk)


def _encode_at(created_at: datetime, pk: int) -> str:
    """A cursor after (created_at, pk): the job list's order."""
    micros = round(created_at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"at<{micros}<{pk}".encode()).decode().rstrip("=")


def _decode_at(cursor: str) -> tuple[datetime | None, int]:
    """(created_at, pk) of an `_encode_at` cursor; (None, pk) for an `id<pk` one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    marker, _, rest = text.partition("<")
    if marker != "at":
        return None, _decode(cursor)
    micros, _, pk = rest.partition("<")
    if not (micros.isdigit() and pk.isdigit() and len(micros) <= 19 and len(pk) <= 19):
        raise Invalid("This cursor is not one the API gave out.", field="cursor")
    try:
        created_at = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise Invalid("This cursor is not one the API gave out.", field="cursor") from None
    return created_at.replace(microsecond=int(micros) % 1_000_000), int(pk)


class KeysetPagination(PaginationBase):
    """Newest first (by id, which is creation order); `cursor` = the `next_cursor` of the page
    before. `count` is the size of the whole filtered list, wherever the cursor is."""

    class Input(Schema):
        limit: int = Field(
            settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=settings.NINJA_PAGINATION_MAX_LIMIT
        )
        offset: int = Field(
            0, ge=0, le=MAX_OFFSET, description="Rows to skip (after the cursor, if any)."
        )
        cursor: str | None = Field(
            None,
            max_length=64,
            description="`next_cursor` of the previous page: continue right after it.",
        )

    class Output(Schema):
        items: list[Any]
        count: int
        next_cursor: str | None = Field(
            None, description="Pass as `cursor` for the next page; null on the last page."
        )

    def paginate_queryset(
        self, queryset: QuerySet, pagination: Input, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        count = queryset.count()
        queryset = queryset.order_by("-pk")
        if pagination.cursor:
            queryset = queryset.filter(pk__lt=_decode(pagination.cursor))
        start, limit = pagination.offset, pagination.limit
        rows = list(queryset[start : start + limit + 1])
        items = rows[:limit]
        more = len(rows) > limit
        return {
            "items": items,
            "count": count,
            "next_cursor": _encode(items[-1].pk) if more and items else None,
        }


def _encode_after(pk: int) -> str:
    return base64.urlsafe_b64encode(f"id>{pk}".encode()).decode().rstrip("=")


class OldestFirstKeysetPagination(KeysetPagination):
    """Oldest first (by id), for lists read in the order their rows were written (a job's
    failures: up to millions, appended while the job runs). Each page is an index range after
    the cursor; `count` is counted only when the whole list is not on the first page."""

    key = "pk"  # a unique column of the list, in the order it is read

    def paginate_queryset(
        self, queryset: QuerySet, pagination: KeysetPagination.Input, request: HttpRequest, **params
    ) -> dict[str, Any]:
        ordered = queryset.order_by(self.key)
        if pagination.cursor:
            ordered = ordered.filter(**{f"{self.key}__gt": _decode(pagination.cursor, ">")})
        start, limit = pagination.offset, pagination.limit
        rows = list(ordered[start : start + limit + 1])
        items = rows[:limit]
        more = len(rows) > limit
        first_and_only = not more and not pagination.cursor and not start
        return {
            "items": items,
            "count": len(items) if first_and_only else queryset.count(),
            "next_cursor": _encode_after(getattr(items[-1], self.key)) if more and items else None,
        }


class SeqKeysetPagination(OldestFirstKeysetPagination):
    """In `seq` order, for one job's shards (unique per job: the list is of one job)."""

    key = "seq"


# A list longer than this (by the planner's estimate) answers the estimate as its `count`
# unless asked for an exact one: counting exactly reads every matching row, for every page.
EXACT_COUNT_BELOW = 1000


# The planner's statistics change only when the table is analysed (autovacuum), so an estimate
# is remembered per process for a few seconds: a list polled by many clients plans its count
# once, not on every page. Bounded like the token cache: cleared when full.
ESTIMATE_SECONDS = 10
_ESTIMATES_MAX = 1000
_estimates: dict[tuple, tuple[float, int]] = {}


def estimated_count(queryset: QuerySet, key: Hashable | None = None) -> int | None:
    """The query planner's estimate of the rows of `queryset` (PostgreSQL; None elsewhere).
    `key`: what the queryset is made of (the caller and its filters), naming the remembered
    estimate without compiling the query; by default its SQL is the key."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    now = time.monotonic()
    sql = params = None
    if key is None:
        sql, params = queryset.order_by().query.get_compiler(queryset.db).as_sql()
        key = (sql, tuple(map(repr, params)))
    key = (queryset.db, queryset.model._meta.label, key)
    remembered = _estimates.get(key)
    if remembered is not None and now < remembered[0]:
        return remembered[1]
    if sql is None:
        sql, params = queryset.order_by().query.get_compiler(queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    if len(_estimates) >= _ESTIMATES_MAX:
        _estimates.clear()
    _estimates[key] = (now + ESTIMATE_SECONDS, estimate)
    return estimate


def keyset_page(
    queryset: QuerySet,
    pagination: KeysetPagination.Input,
    *,
    rows: Callable[[QuerySet], list[Any]],
    exact_count: bool = False,
    count_key: Hashable | None = None,
) -> dict[str, Any]:
    """A page of `queryset` newest first by (`created_at`, pk), built by `rows` (items with
    `created_at` and `id` attributes, for routes that render without a schema's validation).

    Ordered by creation time, not by id alone, so that an index on (..., created_at, id) serves
    a date range in order: by id, a range deep in the history would be found by walking every
    newer row. The cursor carries both; an `id<pk` cursor (given out before) still works.

    `count` is exact when the whole list is on this page, when `exact_count` is asked, or when
    the planner expects fewer than EXACT_COUNT_BELOW rows; otherwise it is the planner's
    estimate (remembered under `count_key`, see `estimated_count`), and `count_exact` says
    which."""
    ordered = queryset.order_by("-created_at", "-pk")
    if pagination.cursor:
        ordered = _beyond(ordered, _decode_at(pagination.cursor), "<")
    start, limit = pagination.offset, pagination.limit
    items = rows(ordered[start : start + limit + 1])
    more = len(items) > limit
    items = items[:limit]
    if not more and not pagination.cursor and not start:
        count, exact = len(items), True
    else:
        estimate = None if exact_count else estimated_count(queryset, count_key)
        exact = estimate is None or estimate < EXACT_COUNT_BELOW
        count = queryset.count() if exact else estimate
    last = items[-1] if more and items else None
    return {
        "items": items,
        "count": count,
        "count_exact": exact,
        "next_cursor": _encode_at(last.created_at, last.id) if last else None,
    }


# --- Lists in the browser ---------------------------------------------------------------------


# The query parameters a list page's cursors use (and `page`, of links from before them).
CURSOR_PARAMS = ("before", "after", "page")


@dataclass
class BrowsePage:
    """One page of a list a page shows newest first (the jobs, the audit trail, a profile's
    deliveries), walked by cursors: `?before=<older>` for the next older page, `?after=<newer>`
    for the page before it. Each page is an index range wherever it is in the history, where a
    page number would make the database count the whole list and skip every row before it."""

    object_list: list
    older: str | None  # the cursor of the next older page; None on the last one
    newer: str | None  # the cursor of the page before; None on the newest one
    count: int = 0
    count_exact: bool = True  # False: `count` is the planner's estimate

    @property
    def first(self) -> bool:
        """The newest page: what a list that refreshes itself shows."""
        return self.newer is None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.older or self.newer)


def browse_page(
    queryset: QuerySet,
    query: QueryDict,
    *,
    size: int,
    by_time: bool = True,
    counted: QuerySet | None = None,
    count_key: Hashable | None = None,
) -> BrowsePage:
    """The page of `queryset` that `query`'s `before` or `after` cursor names; the newest page
    without one, with a cursor the page did not give out, or when less than a page lies beyond
    the cursor. Ordered newest first by (`created_at`, pk) or, `by_time=False`, by pk. The
    count is that of `counted` (the list without what only displays it; default `queryset`),
    exact as in `keyset_page`."""
    order = ("created_at", "pk") if by_time else ("pk",)
    newest_first = queryset.order_by(*(f"-{field}" for field in order))
    before = _row_cursor(query.get("before"), by_time)
    after = _row_cursor(query.get("after"), by_time) if before is None else None

    def cursor(row: Any) -> str:
        return _encode_at(row.created_at, row.pk) if by_time else _encode(row.pk)

    page = None
    if after is not None:
        newer = list(_beyond(queryset, after, ">").order_by(*order)[: size + 1])
        if len(newer) > size:  # a whole page, and more newer than it
            rows = newer[:size][::-1]
            page = BrowsePage(rows, older=cursor(rows[-1]), newer=cursor(rows[0]))
    elif before is not None:
        found = list(_beyond(newest_first, before, "<")[: size + 1])
        if found:
            rows = found[:size]
            older = cursor(rows[-1]) if len(found) > size else None
            page = BrowsePage(rows, older=older, newer=cursor(rows[0]))
    if page is None:
        found = list(newest_first[: size + 1])
        rows = found[:size]
        page = BrowsePage(rows, older=cursor(rows[-1]) if len(found) > size else None, newer=None)
    counted = queryset if counted is None else counted
    if page.first and page.older is None:
        page.count = len(page.object_list)
    else:
        estimate = estimated_count(counted, count_key)
        page.count_exact = estimate is None or estimate < EXACT_COUNT_BELOW
        page.count = counted.count() if page.count_exact else estimate
    return page


def filters_query(query: QueryDict) -> str:
    """`query` without its cursors, URL-encoded: what a list page's pager links carry on."""
    filters = query.copy()
    for name in CURSOR_PARAMS:
        filters.pop(name, None)
    return filters.urlencode()


def _row_cursor(text: str | None, by_time: bool) -> tuple[datetime | None, int] | None:
    """(created_at, pk) of the row a cursor names; None for none, or one not given out."""
    if not text or len(text) > 64:
        return None
    try:
        return _decode_at(text) if by_time else (None, _decode(text))
    except Invalid:
        return None


def _beyond(queryset: QuerySet, row: tuple[datetime | None, int], direction: str) -> QuerySet:
    """The rows of `queryset` older (`<`) or newer (`>`) than `row` in (created_at, pk) order."""
    created_at, pk = row
    lookup = "lt" if direction == "<" else "gt"
    if created_at is None:
        return queryset.filter(**{f"pk__{lookup}": pk})
    # The first condition alone is an index range; the second trims its first instant.
    return queryset.filter(**{f"created_at__{lookup}e": created_at}).filter(
        Q(**{f"created_at__{lookup}": created_at}) | Q(**{f"pk__{lookup}": pk})
    )
