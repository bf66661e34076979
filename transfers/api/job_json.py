"""Jobs as the API shows them (`JobOut`), rendered to JSON text by the database.

The job list and detail are what dashboards and scripts poll all day. Reading 33 columns into
Python (five timestamps and three JSON documents a row to parse) and writing them out again
was most of their cost; on PostgreSQL each row arrives here as the JSON text of its `JobOut`
fields, except the three doubles, written here from their columns; the result is byte for byte
what `json.dumps(..., cls=NinjaJSONEncoder)` writes (non-ASCII text aside, which PostgreSQL
leaves unescaped), and a page is those texts joined. Other databases (SQLite in development
and tests) take the Python path. tests/transfers/test_jobs_api_rendering.py holds both to
`JobOut`'s own rendering.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL
from ninja.responses import NinjaJSONEncoder

from transfers import shard_status
from transfers.models import Job, JobManifest


class RenderedJob(NamedTuple):
    """A job's JSON text, with what a cursor after it needs."""

    created_at: datetime
    id: int
    json: str


# What `JobOut` shows that is not a column of the same name.
_COMPUTED = {"triggered_by", "approved_by", "retry_of", "percent", "duration_seconds", "shards"}
_EXTRA = {"manifest_sha256"}  # a column of the job's manifest


def _fields() -> tuple[str, ...]:
    from transfers.api.jobs import JobOut  # the schema this module renders

    return tuple(JobOut.model_fields)


def _instant(sql: str) -> str:
    """A timestamptz as DjangoJSONEncoder writes it: ISO 8601 in UTC, milliseconds only when
    the microseconds are not zero (truncated, not rounded), `Z` for the zone. From its JSON
    text (`"2026-01-02T03:04:05.2345"`: ISO whatever DateStyle says, trailing zeros dropped),
    which costs PostgreSQL far less than to_char."""
    text = f"to_json(({sql}) AT TIME ZONE 'UTC')::text"
    return (
        f"CASE WHEN {sql} IS NULL THEN 'null' ELSE substr({text}, 1, 20) || "
        f"CASE WHEN length({text}) > 21 THEN rpad(substr({text}, 21, 4), 4, '0') ELSE '' END "
        f"|| 'Z\"' END"
    )


def _number(sql: str) -> str:
    return f"COALESCE(({sql})::text, 'null')"


def _text(sql: str) -> str:
    return f"COALESCE(to_json({sql})::text, 'null')"


def _document(sql: str) -> str:
    """A jsonb column: its text is what Python writes for the document it parses from it (the
    same key order, `, ` and `: `)."""
    return f"COALESCE(({sql})::text, 'null')"


# Doubles are written here, from their columns: Python's repr of a double and PostgreSQL's text
# differ (`100.0` and `100`), and computing percent and duration there cost it more than the
# rest of the row together. In `JobOut`'s order.
_DOUBLES = ("percent", "predicted_seconds", "duration_seconds")
_DOUBLE_COLUMNS = (
    "objects_done",
    "objects_total",
    "bytes_done",
    "bytes_total",
    "predicted_seconds",
    "started_at",
    "finished_at",
)


@cache
def job_json_sql() -> tuple[str, ...]:
    """SQL expressions over `transfers_job` (unaliased, as the ORM names the base table): the
    JSON text of the job's `JobOut` fields between its doubles (`"id": 1, "team_id": 2, ...`),
    one run each. Built once, from the models' own names."""
    job = Job._meta
    table = connections["default"].ops.quote_name(job.db_table)

    def column(name: str) -> str:
        return f"{table}.{connections['default'].ops.quote_name(job.get_field(name).column)}"

    user_model = get_user_model()
    users = user_model._meta.db_table
    username = user_model._meta.get_field(user_model.USERNAME_FIELD).column
    user_pk = user_model._meta.pk.column
    manifest = JobManifest._meta

    def username_of(field: str) -> str:
        # Names from the models' metadata only; no input reaches this text.
        match = f'u."{user_pk}" = {column(field)}'
        return f'(SELECT u."{username}" FROM "{users}" u WHERE {match})'  # noqa: S608

    values = {
        "triggered_by": _text(username_of("triggered_by")),
        "approved_by": _text(username_of("approved_by")),
        "retry_of": _number(column("retry_of")),
        "manifest_sha256": _text(
            f'(SELECT m."sha256" FROM "{manifest.db_table}" m '  # noqa: S608
            f'WHERE m."{manifest.get_field("job").column}" = {column("id")})'
        ),
        # Counted over the shards' (job, state) index; null for a job without shards.
        "shards": shard_status.summary_sql(column("id")),
    }
    runs: list[list[str]] = [[]]  # the fields between two doubles, each run one SQL text
    for name in _fields():
        if name in _DOUBLES:
            runs.append([])
            continue
        if name not in values:
            field = job.get_field(name)
            kind = field.get_internal_type()
            if kind == "DateTimeField":
                values[name] = _instant(column(name))
            elif kind == "JSONField":
                values[name] = _document(column(name))
            elif kind in {"CharField", "TextField"}:
                values[name] = _text(column(name))
            else:  # integers and keys
                values[name] = _number(column(name))
        runs[-1].append(f"'{json.dumps(name)}: ' || {values[name]}")
    return tuple(" || ', ' || ".join(run) if run else "''" for run in runs)


def _double(value: float | None) -> str:
    return "null" if value is None else float.__repr__(value)


def _assemble(runs: Iterable[str], doubles: Iterable[float | None]) -> str:
    """One job's JSON from the database's runs of fields and the doubles between them."""
    pieces = []
    between = [*zip(_DOUBLES, doubles, strict=True), None]
    for run, double in zip(runs, between, strict=True):
        if run:
            pieces.append(run)
        if double is not None:
            pieces.append(f'"{double[0]}": {_double(double[1])}')
    return "{" + ", ".join(pieces) + "}"


def _python_rows(queryset: QuerySet) -> list[RenderedJob]:
    """The same, rendered here: for databases other than PostgreSQL."""
    fields = _fields()
    columns = [name for name in fields if name not in _COMPUTED | _EXTRA]
    username = get_user_model().USERNAME_FIELD
    rows = queryset.values(
        *columns,
        "retry_of_id",
        triggered_by_name=F(f"triggered_by__{username}"),
        approved_by_name=F(f"approved_by__{username}"),
        manifest_digest=F("manifest__sha256"),
        shard_counts=shard_status.counts_subquery(),
    )
    out = []
    for row in rows:
        job = SimpleNamespace(**row)  # enough of a Job for its computed properties
        row["triggered_by"] = row.pop("triggered_by_name")
        row["approved_by"] = row.pop("approved_by_name")
        row["manifest_sha256"] = row.pop("manifest_digest")
        row["retry_of"] = row.pop("retry_of_id")
        row["shards"] = shard_status.summary_from_text(row.pop("shard_counts"))
        row["percent"] = Job.percent.fget(job)
        row["duration_seconds"] = Job.duration_seconds.fget(job)
        text = json.dumps({name: row[name] for name in fields}, cls=NinjaJSONEncoder)
        out.append(RenderedJob(row["created_at"], row["id"], text))
    return out


def rendered_jobs(queryset: QuerySet) -> list[RenderedJob]:
    """The jobs of `queryset` (ordered and sliced as wanted) as `JobOut` JSON, in one query."""
    if connections[queryset.db].vendor != "postgresql":
        return _python_rows(queryset)
    runs = {
        f"_json{n}": RawSQL(sql, ())  # noqa: S611 (no parameters: built from the models)
        for n, sql in enumerate(job_json_sql())
    }
    rows = queryset.annotate(**runs).values_list("created_at", "id", *runs, *_DOUBLE_COLUMNS)
    out = []
    width = len(runs)
    for row in rows:
        created_at, pk, texts, columns = row[0], row[1], row[2 : 2 + width], row[2 + width :]
        job = SimpleNamespace(**dict(zip(_DOUBLE_COLUMNS, columns, strict=True)))
        doubles = (Job.percent.fget(job), job.predicted_seconds, Job.duration_seconds.fget(job))
        out.append(RenderedJob(created_at, pk, _assemble(texts, doubles)))
    return out


def page_json(page: dict[str, Any]) -> str:
    """A page of `keyset_page` whose items are RenderedJobs, as `json.dumps` would write it."""
    rest = json.dumps({k: v for k, v in page.items() if k != "items"}, cls=NinjaJSONEncoder)
    return '{"items": [' + ", ".join(_texts(page["items"])) + "], " + rest[1:]


def _texts(items: Iterable[RenderedJob]) -> Iterable[str]:
    return (item.json for item in items)
