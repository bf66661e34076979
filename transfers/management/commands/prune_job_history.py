"""Delete the throughput samples of jobs that finished before the retention period, and the
expired previews (what the daily beat task does; see transfers.retention)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from transfers.retention import prune_job_history, prune_previews


class Command(BaseCommand):
    help = "Delete JobSample rows of jobs finished more than JOB_SAMPLE_RETENTION_DAYS ago."

    def handle(self, *args, **options) -> None:
        deleted = prune_job_history()
        days = settings.JOB_SAMPLE_RETENTION_DAYS
        kept = f"finished in the last {days} days" if days else "of every job (retention off)"
        self.stdout.write(f"Deleted {deleted} samples; kept those {kept}.")
        previews = prune_previews()
        self.stdout.write(f"Deleted {previews} expired previews.")
