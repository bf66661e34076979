"""Template helpers of the portal's pages: sizes, rates, durations and times.

Times render as `<time>` in UTC; static/js/app.js rewrites the text in the browser's zone and
keeps the UTC time in the title, so pages read right without JavaScript too.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from django import template
from django.core.cache import caches
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from transfers import formatting
from transfers.engine.progress import remaining_seconds
from transfers.models import Job

register = template.Library()
_STATE_LABELS = dict(Job.State.choices)

register.filter("size", formatting.size)
register.filter("rate", formatting.rate)
register.filter("duration", formatting.duration)


@register.simple_tag
def when(value: datetime | None, empty: str = "—"):
    """`<time>` of an aware datetime: UTC text and title, local text once the script runs."""
    if value is None:
        return format_html('<span class="muted">{}</span>', empty)
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC" data-local>{} UTC</time>',
        utc.isoformat().replace("+00:00", "Z"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        utc.strftime("%Y-%m-%d %H:%M"),
    )


ROW_TEMPLATE = "transfers/_job_row.html"
ROW_SECONDS = 600


@register.simple_tag(takes_context=True)
def job_rows(context, jobs, show_profile=False):
    """The rows of a jobs table (transfers/_job_table.html). An active job's row is rendered
    afresh: js/job-list.js updates it. A finished job's row no longer changes, so it is
    rendered once per web process and kept in the local `fragments` cache under what could
    still change its text (the names it shows, its shard count); a page's cached rows are
    read with one `get_many`, where a `{% cache %}` tag a row resolved and hashed its keys
    through the template engine and read them one by one, a third of the page's rendering."""
    keys = {job.pk: _row_key(job, bool(show_profile)) for job in jobs if not job.is_active}
    cache = caches["fragments"]
    found = cache.get_many(keys.values()) if keys else {}
    row = context.template.engine.get_template(ROW_TEMPLATE)
    rows, fresh = [], {}
    for job in jobs:
        key = keys.get(job.pk)
        html = found.get(key) if key is not None else None
        if html is None:
            with context.push(job=job, show_profile=show_profile):
                html = row.render(context)
            if key is not None:
                fresh[key] = html
        rows.append(html)
    if fresh:
        cache.set_many(fresh, ROW_SECONDS)
    return mark_safe("".join(rows))  # noqa: S308 (each row rendered by the template engine)


def _row_key(job: Job, show_profile: bool) -> str:
    shown = (
        job.pk,
        job.state,
        job.profile_name,
        job.team.name,
        job.triggered_by_id,
        str(job.triggered_by) if job.triggered_by_id else "",
        show_profile,
        getattr(job, "shard_count", None),  # annotated by the jobs list
    )
    return "job_row:" + hashlib.md5(repr(shown).encode(), usedforsecurity=False).hexdigest()


@register.simple_tag
def state_badge(job):
    """A job's state as a badge; `job` is a Job or a state value ("running"). Written here, not
    by a template of its own: pages show one per job row, and an inclusion costs far more."""
    state = job if isinstance(job, str) else job.state
    return format_html(
        '<span class="badge badge-{}" data-field="state">{}</span>\n',
        state,
        _STATE_LABELS.get(state, state),
    )


@register.filter
def progress_percent(job) -> float | None:
    """How far a job is, for its progress bar: None (indeterminate) while nothing is planned;
    a finished job with nothing to do is full if it succeeded, empty otherwise."""
    if job.percent is not None:
        return job.percent
    if job.state in job.FINISHED_STATES:
        return 100.0 if job.state == job.State.SUCCEEDED else 0.0
    return None


@register.filter
def elapsed_since(end: datetime | None, start: datetime | None):
    """`end - start` as a timedelta (for `|duration`), or None when either is missing."""
    if end is None or start is None:
        return None
    return end - start


@register.filter
def eta(job) -> float | None:
    """Seconds left for a running job, the way its worker reckons it (the longer of bytes at
    the last stored throughput and objects at the run's object rate so far), or None."""
    if job.state != job.State.RUNNING or job.bytes_total is None:
        return None
    elapsed = job.duration_seconds or 0
    return remaining_seconds(
        objects_left=None if job.objects_total is None else job.objects_total - job.objects_done,
        bytes_left=job.bytes_total - job.bytes_done,
        objects_per_second=job.objects_done / elapsed if elapsed > 0 else 0.0,
        bytes_per_second=job.throughput_bps or 0,
    )


@register.filter
def percent(value: float | None) -> str:
    """A progress percentage, floored so that 100 % means done: one decimal below 10 %."""
    if value is None:
        return "—"
    if value < 10:
        return f"{math.floor(value * 10) / 10:g} %"
    return f"{math.floor(value)} %"


# How pages name a plan's route; the API keeps the raw values (transfers.engine.Route).
ROUTE_LABELS = {
    "server_side": "server-side copy",
    "relay": "relay between endpoints",
    "upload": "upload",
    "download": "download",
}


@register.filter
def route_label(value: str | None) -> str:
    """A route in words: "server_side" reads "server-side copy"."""
    if not value:
        return "—"
    return ROUTE_LABELS.get(value, value.replace("_", " "))


@register.filter
def fields_with_errors(form) -> list:
    """The bound fields of `form` that have errors, in the form's order (for the summary)."""
    return [form[name] for name in form.fields if name in form.errors]
