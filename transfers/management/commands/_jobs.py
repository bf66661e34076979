"""Shared by the job commands: finding the actor, and following a job until it settles."""

from __future__ import annotations

import time

from django.core.management.base import CommandError

from accounts.models import User
from transfers.models import Job


def actor_for(username: str | None) -> User | None:
    """The person the audit trail names; None: the command runs as the system."""
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"No active user named {username!r}.")
    return user


def describe(job: Job) -> str:
    parts = [f"job #{job.pk} {job.state}"]
    if job.objects_total is not None:
        parts.append(f"{job.objects_done}/{job.objects_total} objects")
    if job.bytes_total:
        parts.append(f"{job.bytes_done}/{job.bytes_total} bytes")
    if job.objects_skipped:
        parts.append(f"{job.objects_skipped} unchanged")
    if job.objects_deleted:
        parts.append(f"{job.objects_deleted} deleted")
    if job.objects_failed:
        parts.append(f"{job.objects_failed} failed")
    if job.throughput_bps:
        parts.append(f"{job.throughput_bps / 1e6:.1f} MB/s")
    return ", ".join(parts)


def follow(job: Job, write, *, timeout: float) -> Job:
    """Print the job's progress as it changes, until it finishes or waits for approval."""
    deadline = time.monotonic() + timeout
    last = ""
    settled = (*Job.FINISHED_STATES, Job.State.AWAITING_APPROVAL)
    while True:
        job.refresh_from_db()
        line = describe(job)
        if line != last:
            write(line)
            last = line
        if job.state in settled:
            return job
        if time.monotonic() > deadline:
            raise CommandError(f"Job #{job.pk} is still {job.state} after {timeout:.0f}s.")
        time.sleep(0.5)
