"""Handing queued jobs to the workers through the broker, without depending on it keeping them.

PostgreSQL says which jobs are queued; a broker message only wakes a worker up. The message
can be lost: Redis restarted without persistence or failed over, or was down when the job
was queued. So each dispatch also leaves a record next to the messages, in the broker's
Redis, which goes wherever they go; the reaper (beat) dispatches again every queued job that
has been waiting a while with no such record, and, whatever the record says, every job still
unclaimed `TRANSFER_REDISPATCH_SECONDS` after its last dispatch. A duplicate message is
harmless: the claim is one conditional UPDATE (queued -> planning), so only one message runs
a job, and the others find it no longer queued.

Every task the portal queues from its own code goes through `send()`, by the task's name: this
module imports no tasks, so the services, the execution layer and the notifications can all
queue work without importing `transfers.tasks` (which imports them).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import timedelta

import redis
from celery import current_app
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from syncportal.logging import OutageLog
from transfers.models import Job

logger = logging.getLogger(__name__)

# A job queued this recently may still have its dispatch under way (the commit that queued
# it, then the publish, then the record): leave it to that dispatch.
DISPATCH_GRACE_SECONDS = 5
# Bounds every call to the broker's Redis from here; the web answers within a few seconds
# even when Redis does not.
REDIS_TIMEOUT_SECONDS = 2
_BATCH = 500

broker_outage = OutageLog(logger, "the job queue (Redis broker)")
# What a publish raises when the broker cannot be reached (kombu wraps most in the first).
BROKER_ERRORS = (OperationalError, redis.RedisError, OSError)


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def _client() -> redis.Redis:
    return _redis(settings.CELERY_BROKER_URL)


def record_key(job_id: int, kind: str = "") -> str:
    """The record of a dispatch: of a job, or of another kind of task row (a "shard")."""
    return f"syncportal:dispatched:{kind}{':' if kind else ''}{job_id}"


def leave_record(pk: int, kind: str = "") -> None:
    """Note, next to the broker's messages, that a message for this row was sent (best effort:
    without it the reaper sends a second message, which does nothing)."""
    with contextlib.suppress(redis.RedisError):
        _client().set(
            record_key(pk, kind),
            timezone.now().isoformat(),
            ex=settings.TRANSFER_REDISPATCH_SECONDS,
        )


def without_record(pks: list[int], kind: str = "") -> list[int]:
    """Those of `pks` whose message the broker has no record of (none if it cannot be asked:
    the next round asks again)."""
    lost = []
    for start in range(0, len(pks), _BATCH):
        batch = pks[start : start + _BATCH]
        try:
            records = _client().mget([record_key(pk, kind) for pk in batch])
        except redis.RedisError as exc:
            broker_outage.failed(exc, "queued work is sent again once it is back")
            return lost
        lost += [pk for pk, record in zip(batch, records, strict=True) if record is None]
    return lost


def send(
    task: str, args: tuple, *, meanwhile: str, queue: str | None = None, countdown=None
) -> bool:
    """Queue the task named `task` (see `transfers.tasks`). When the broker cannot be reached,
    log it once per outage, with `meanwhile` saying what waits, and return False: callers run
    after their commit and must not fail for it; each has a way to send again later."""
    try:
        current_app.send_task(task, args, queue=queue, countdown=countdown)
    except BROKER_ERRORS as exc:
        broker_outage.failed(exc, meanwhile)
        return False
    broker_outage.succeeded()
    return True


def dispatch(job_id: int) -> bool:
    """Send the job's task to the workers and record that it was sent. When the broker cannot
    be reached, log it (once per outage) and return False: the job stays queued and the reaper
    dispatches it again once the broker is back."""
    if not send(
        "transfers.run_job",
        (job_id,),
        queue=settings.TRANSFER_QUEUE,
        meanwhile=f"job {job_id} stays queued until it is back",
    ):
        return False
    leave_record(job_id)
    return True


def schedule_late_sweeps(job_id: int) -> None:
    """A request s5cmd sent just before it was stopped can still create an upload after the
    run's abort passes, however long they wait; look again later (a bucket lifecycle rule
    that aborts incomplete uploads is the backstop, see docs/engine.md, "Cancel")."""
    delay = settings.TRANSFER_LATE_SWEEP_SECONDS
    for countdown in (delay, 10 * delay):
        # The outcome is stored already; a broker outage here must not fail the task after it.
        if not send(
            "transfers.sweep_uploads",
            (job_id,),
            countdown=countdown,
            queue=settings.TRANSFER_QUEUE,
            meanwhile=f"job {job_id}'s late upload sweeps are skipped",
        ):
            return


def forget(job_id: int, kind: str = "") -> None:
    """The job (or shard) was claimed: its record has served (best effort, it expires)."""
    with contextlib.suppress(redis.RedisError):
        _client().delete(record_key(job_id, kind))


def redispatch_lost() -> list[int]:
    """Dispatch again the queued jobs whose message the broker may have lost; their ids."""
    waiting = list(
        Job.objects.filter(
            state=Job.State.QUEUED,
            cancel_requested_at=None,
            created_at__lt=timezone.now() - timedelta(seconds=DISPATCH_GRACE_SECONDS),
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    lost = without_record(waiting)
    redispatched = []
    for pk in lost:
        if not dispatch(pk):
            break
        redispatched.append(pk)
    if redispatched:
        logger.warning(
            "dispatched again %s queued job(s) that the broker had no message for: %s",
            len(redispatched),
            ", ".join(f"#{pk}" for pk in redispatched),
        )
    return redispatched
