"""How the job history stays in bounds.

A job stores about one JobSample a second while it runs (the throughput chart): a ten-minute
job leaves 600 rows, far more than the job row itself. Samples of jobs that finished more than
JOB_SAMPLE_RETENTION_DAYS ago are deleted (daily, by beat, or `manage.py prune_job_history`);
the job keeps its counters, timings, average throughput, failures and manifest, so only the
chart of an old run goes. Job rows themselves are kept: a few hundred bytes each (see
bench/README.md for the measured size per 10,000 jobs).

Previews are kept PREVIEW_RESULT_HOURS after they finish (pages and the API stop showing them
then), and deleted by the same daily pass.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from transfers.models import Job, JobSample, Preview

logger = logging.getLogger(__name__)

BATCH = 10_000  # rows per DELETE: short transactions, no long lock on a busy table


def prune_job_history(*, now: datetime | None = None) -> int:
    """Delete the samples of jobs finished more than JOB_SAMPLE_RETENTION_DAYS ago; returns
    how many. 0 days keeps every sample."""
    days = settings.JOB_SAMPLE_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old_jobs = Job.objects.filter(state__in=Job.FINISHED_STATES, finished_at__lt=cutoff)
    deleted = _delete_in_batches(JobSample.objects.filter(job__in=old_jobs.values("pk")))
    if deleted:
        logger.info("pruned job samples", extra={"samples": deleted, "finished_before": cutoff})
    return deleted


def prune_previews(*, now: datetime | None = None) -> int:
    """Delete the previews whose result has expired; returns how many."""
    deleted = _delete_in_batches(Preview.objects.filter(expires_at__lte=now or timezone.now()))
    if deleted:
        logger.info("pruned previews", extra={"previews": deleted})
    return deleted


def _delete_in_batches(rows) -> int:
    deleted = 0
    while batch := list(rows.values_list("pk", flat=True)[:BATCH]):
        deleted += rows.model.objects.filter(pk__in=batch).delete()[0]
    return deleted
