"""Live progress: the messages sent to the Channels groups of a job and of its team, and the
worker-side publisher that turns engine snapshots into messages, JobSamples and job counters.

Every message has the shape documented in docs/websockets.md. `seq` comes from
one Redis counter per job, so it grows across the services, the workers and the attempts that
send messages about the same job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from syncportal import logging as log_context
from transfers.counters import Counters
from transfers.engine import Progress
from transfers.models import Job, JobSample
from transfers.states import PHASE_FOR_STATE, STATE_FOR_PHASE

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "job.update"
SEQ_TTL_SECONDS = 7 * 24 * 3600
SAMPLE_INTERVAL = 1.0


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


# Live updates are a convenience, the database is the truth: while Redis is down jobs go on
# and this process logs the outage once (then a reminder a minute), not each failed message.
channel_outage = log_context.OutageLog(logger, "live updates (Redis channel layer)")
_REDIS_ERRORS = (redis.RedisError, OSError)


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, **settings.REDIS_SOCKET_TIMEOUTS)


def _seq_key(job_id: int) -> str:
    return f"syncportal:job-seq:{job_id}"


def next_seq(job_id: int) -> int:
    client = _redis(settings.REDIS_URL)
    with client.pipeline() as pipe:
        pipe.incr(_seq_key(job_id))
        pipe.expire(_seq_key(job_id), SEQ_TTL_SECONDS)
        return int(pipe.execute()[0])


def current_seq(job_id: int) -> int:
    return int(_redis(settings.REDIS_URL).get(_seq_key(job_id)) or 0)


def message(
    *,
    job_id: int,
    team_id: int,
    state: str,
    phase: str,
    counters: dict[str, Any],
    throughput_bps: int | None = None,
    eta_seconds: float | None = None,
    objects_per_second: float | None = None,
    error: str = "",
    seq: int | None = None,
    completed_between: tuple[float, float] | None = None,
) -> dict[str, Any]:
    first, last = (_iso(at) for at in completed_between or (None, None))
    return {
        "type": MESSAGE_TYPE,
        "seq": next_seq(job_id) if seq is None else seq,
        "job": job_id,
        "team": team_id,
        "state": state,
        "phase": phase,
        **counters,
        "throughput_bps": throughput_bps,
        "eta_seconds": eta_seconds,
        "objects_per_second": objects_per_second,
        "final": state in Job.FINISHED_STATES,
        "error": error,
        "first_completed_at": first,
        "last_completed_at": last,
        "at": timezone.now().isoformat(),
    }


def _iso(unix_seconds: float | None) -> str | None:
    if unix_seconds is None:
        return None
    return datetime.datetime.fromtimestamp(unix_seconds, tz=datetime.UTC).isoformat()


def message_for_job(job: Job, *, seq: int | None = None) -> dict[str, Any]:
    """The message describing a job as stored (after a state change, or for a new socket)."""
    return message(
        job_id=job.pk,
        team_id=job.team_id,
        state=job.state,
        phase=PHASE_FOR_STATE[job.state],
        counters=Counters.of(job).as_dict(),
        throughput_bps=job.throughput_bps,
        error=job.error,
        seq=seq,
    )


async def _send(layer, payload: dict[str, Any]) -> None:
    await layer.group_send(job_group(payload["job"]), payload)
    await layer.group_send(team_group(payload["team"]), payload)


def broadcast_job(job: Job) -> None:
    """Tell the job's and the team's sockets about the job as stored."""
    publish(
        lambda: message_for_job(job), [job_group(job.pk), team_group(job.team_id)], f"job {job.pk}"
    )


def publish(payload: Callable[[], dict[str, Any]], groups: list[str], about: str) -> None:
    """Send the message `payload()` makes (it may read Redis too) to `groups`. Never raises: a
    live view is a convenience, the database is the truth."""

    async def send(message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        for group in groups:
            await layer.group_send(group, message)

    try:
        async_to_sync(send)(payload())
    except _REDIS_ERRORS as exc:
        channel_outage.failed(exc, "sockets miss changes meanwhile, the jobs go on")
    except Exception:
        logger.exception("could not broadcast %s", about)
    else:
        channel_outage.succeeded()


class ProgressPublisher:
    """The engine's progress callback in a worker.

    The callback only stores the latest snapshot (it is called from s5cmd's reader threads and
    must not block them); a thread of its own sends each snapshot to Channels and, about once
    a second, stores a JobSample and the job's counters and state, as long as this worker
    holds the job's lease. With a `forecast` (objects, bytes -> seconds), the first stored
    snapshot that knows the plan's totals also stores the job's predicted duration.
    """

    def __init__(
        self,
        job_id: int,
        team_id: int,
        lease_owner: str,
        *,
        forecast: Callable[[int | None, int | None], float | None] | None = None,
    ):
        self.job_id, self.team_id, self.lease_owner = job_id, team_id, lease_owner
        self._forecast = forecast
        self._latest: Progress | None = None
        self._condition = threading.Condition()
        self._closing = False
        self._last_sample = float("-inf")
        self._state: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"progress-{job_id}", daemon=True)

    def start(self) -> ProgressPublisher:
        self._thread.start()
        return self

    def __call__(self, progress: Progress) -> None:
        if progress.final:
            return  # the task sends the final message once the outcome is stored
        with self._condition:
            pending = self._latest
            if pending is not None and pending.first_completed_at is not None:
                # The pending snapshot is replaced unsent: its completions count in this one.
                progress = dataclasses.replace(
                    progress,
                    first_completed_at=pending.first_completed_at,
                    last_completed_at=progress.last_completed_at or pending.last_completed_at,
                )
            self._latest = progress
            self._condition.notify()

    def close(self) -> None:
        """Send what is pending, then stop."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join()

    def _run(self) -> None:
        log_context.job_id.set(str(self.job_id))  # a new thread starts with an empty context
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        try:
            while True:
                with self._condition:
                    while self._latest is None and not self._closing:
                        self._condition.wait()
                    progress, self._latest = self._latest, None
                if progress is None:
                    return
                try:
                    self._publish(progress, loop, layer)
                except Exception:
                    logger.exception("could not publish progress of job %s", self.job_id)
        finally:
            loop.close()
            connection.close()

    def _publish(self, progress: Progress, loop, layer) -> None:
        state = STATE_FOR_PHASE.get(progress.phase)
        now = time.monotonic()
        if state != self._state or now - self._last_sample >= SAMPLE_INTERVAL:
            self._store(progress, state)
            self._last_sample, self._state = now, state
        try:
            self._broadcast(progress, state, loop, layer)
        except _REDIS_ERRORS as exc:
            channel_outage.failed(exc, "live progress is not sent meanwhile, the jobs go on")
        else:
            channel_outage.succeeded()

    def _broadcast(self, progress: Progress, state: str | None, loop, layer) -> None:
        payload = message(
            job_id=self.job_id,
            team_id=self.team_id,
            state=state or "",
            phase=progress.phase,
            counters=Counters.of(progress).as_dict(),
            throughput_bps=progress.throughput_bps,
            eta_seconds=progress.eta_seconds,
            objects_per_second=progress.objects_per_second,
            completed_between=(
                (progress.first_completed_at, progress.last_completed_at)
                if progress.first_completed_at is not None
                else None
            ),
        )
        loop.run_until_complete(_send(layer, payload))

    def _store(self, progress: Progress, state: str | None) -> None:
        fields = Counters.of(progress).as_dict()
        fields["throughput_bps"] = progress.throughput_bps
        if state is not None:
            fields["state"] = state
        if self._forecast is not None and progress.objects_total is not None:
            fields["predicted_seconds"] = self._forecast(
                progress.objects_total, progress.bytes_total
            )
            self._forecast = None
        held = Job.objects.filter(pk=self.job_id, lease_owner=self.lease_owner).update(**fields)
        if held:
            JobSample.objects.create(
                job_id=self.job_id,
                t=timezone.now(),
                objects_done=progress.objects_done,
                bytes_done=progress.bytes_done,
            )
