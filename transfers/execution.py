"""Running a job in a worker, and reaping the jobs of dead workers.

PostgreSQL is the truth. A worker claims a job with one conditional UPDATE (queued -> planning,
with a lease in its name), renews the lease while it runs, polls for a cancel request, and
writes the outcome only if it still holds the lease. The reaper (a beat task) finds leases
that expired — the worker died or lost the database — and re-queues the job (a new claim,
with the old attempt's incomplete uploads aborted) or fails it after TRANSFER_MAX_ATTEMPTS.
A worker that cannot renew its lease stops its own run before the lease can expire, so two
runs of one job never overlap.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import audit
from syncportal import logging as log_context
from syncportal.crypto import DecryptionError
from transfers import dispatch, notifications, prediction, shards
from transfers.counters import Counters
from transfers.engine import (
    EngineError,
    KeySet,
    Outcome,
    Phase,
    Result,
    run_transfer,
    sweep_uploads,
)
from transfers.engine.progress import ProgressTracker
from transfers.errors import Unavailable
from transfers.leases import FailureRecorder, LeaseKeeper, lease_owner_name
from transfers.manifests import ManifestWriter
from transfers.models import Job, JobFailure, JobSample
from transfers.progress import ProgressPublisher, broadcast_job
from transfers.specs import spec_for_job
from transfers.states import LEASED_STATES, STATE_FOR_OUTCOME

logger = logging.getLogger(__name__)


def claim(job_id: int, owner: str) -> Job | None:
    """Take a queued job for this worker, or None if it is not queued (any more)."""
    now = timezone.now()
    claimed = Job.objects.filter(
        pk=job_id, state=Job.State.QUEUED, cancel_requested_at=None
    ).update(
        state=Job.State.PLANNING,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=settings.TRANSFER_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
    )
    if not claimed:
        return None
    dispatch.forget(job_id)
    return Job.objects.select_related("team").get(pk=job_id)


def run_job(job_id: int) -> str:
    """The body of the `transfers.run_job` task; returns what happened, for the task result.

    Everything logged while it runs carries the job's id (`job_id` in JSON logs)."""
    token = log_context.job_id.set(str(job_id))
    try:
        return _run_job(job_id)
    finally:
        log_context.job_id.reset(token)


def _run_job(job_id: int) -> str:
    owner = lease_owner_name()
    job = claim(job_id, owner)
    if job is None:
        logger.info("job %s: not queued any more, nothing to do", job_id)
        return "not claimed"
    logger.info("job %s: claimed by %s (attempt %s)", job.pk, owner, job.attempts)
    rates = prediction.rates_for(
        profile_id=job.profile_id,
        team_id=job.team_id,
        endpoints=prediction.endpoints_of(job.options),
    )
    if rates is not None:
        Job.objects.filter(pk=job.pk).update(prediction_basis=rates.describe())
    # What an earlier attempt stored of its failures: this run finds its own. (A sharded
    # job's failures are its shards', each replaced by the shard's next attempt.)
    JobFailure.objects.filter(job_id=job.pk, shard=None).delete()
    cancel = threading.Event()
    keeper = LeaseKeeper(job.pk, owner, cancel)
    publisher = ProgressPublisher(
        job.pk, job.team_id, owner, forecast=partial(prediction.predict, rates)
    )
    recorder = FailureRecorder(job.pk)
    keeper.start()
    publisher.start()
    recorder.start()
    spec = None
    cut = None
    try:
        try:
            spec = spec_for_job(job)
            # A job larger than one shard is cut into shards that any worker runs; a small
            # one (the cut's listing ended first) runs here. While the cut lists, the job
            # reports itself planning about once a second, as a run does.
            listing = ProgressTracker(publisher, interval=spec.runtime.progress_interval)
            listing.run_ticker()
            try:
                cut = shards.cut(job, spec, owner, cancel, keeper)
            finally:
                listing.finish(Phase.PLANNING)  # (a final snapshot: the publisher drops it)
        except (Unavailable, EngineError) as exc:
            result = Result(outcome=Outcome.FAILED, error=str(exc))
        except DecryptionError as exc:
            result = Result(
                outcome=Outcome.FAILED, error=f"The endpoint's credentials cannot be read: {exc}"
            )
        else:
            if cut.result is not None:
                result = cut.result
            elif cut.small:
                # In this thread: s5cmd is tied (PR_SET_PDEATHSIG) to the thread that starts it.
                result = run_transfer(
                    spec,
                    on_progress=publisher,
                    cancel=cancel,
                    cleanup_previous=job.attempts > 1,
                    on_failure=recorder,
                    source_items=cut.source,
                )
    except Exception as exc:
        logger.exception("job %s crashed", job_id)
        result = Result(outcome=Outcome.FAILED, error=f"Internal error: {exc.__class__.__name__}")
    finally:
        recorder.close()
        keeper.stop()
        publisher.close()
        if spec is not None and isinstance(spec.options.only_keys, KeySet):
            spec.options.only_keys.close()
        if cut is not None and cut.source is not None:
            cut.source.close()
    if cut is not None and cut.shards:
        return f"cut into {cut.shards} shards"  # (its lease released: the keeper saw it go)
    if keeper.lost or (cut is not None and cut.lost):
        return "lease lost"
    state = finish(job, owner, result, rates=rates)
    logger.info("job %s: %s", job.pk, state)
    return state


def finish(job: Job, owner: str, result: Result, *, rates: prediction.Rates | None = None) -> str:
    """Store the outcome, the failures and a last sample, if this worker still holds the job;
    queue the notifications the outcome calls for."""
    state = STATE_FOR_OUTCOME[result.outcome]
    waiting = state == Job.State.AWAITING_APPROVAL
    now = timezone.now()
    elapsed = max(result.elapsed_seconds, 0.001)
    fields = {
        "state": state,
        **Counters.of(result).as_dict(),
        "throughput_bps": int(result.bytes_done / elapsed),
        "command": result.command,
        "exit_code": result.exit_code,
        "error": result.error,
        "verification": result.verification,
        "lease_owner": "",
        "lease_expires_at": None,
        "finished_at": None if waiting else now,
    }
    if result.plan is not None:
        fields["plan"] = result.plan.as_dict()
        # If the run was too quick for the progress publisher to store one.
        predicted = prediction.predict(rates, result.objects_total, result.bytes_total)
        if predicted is not None:
            fields["predicted_seconds"] = Coalesce(
                "predicted_seconds", Value(predicted, output_field=FloatField())
            )
    # Written, compressed and hashed before the transaction, which should stay short.
    manifest = None if waiting else ManifestWriter(job).write(result.manifest or ())
    with transaction.atomic():
        # Locked, so a cancel either comes first (and is honoured here) or sees the outcome.
        row = Job.objects.lock_if_held(job.pk, owner)
        if row is None:
            transaction.on_commit(manifest.discard if manifest is not None else lambda: None)
            return "lease lost"
        if row["cancel_requested_at"] is not None and state != Job.State.CANCELLED:
            # The cancel was answered with a 200 after the engine's last object but before
            # this write: the job ends cancelled, as promised; the counters say what it did.
            fields.update(
                state=Job.State.CANCELLED,
                finished_at=now,
                error=_cancelled_while_finishing(result),
            )
            manifest = manifest or ManifestWriter(job).write(result.manifest or ())
            state, waiting = Job.State.CANCELLED, False
        Job.objects.filter(pk=job.pk, lease_owner=owner).update(**fields)
        job.refresh_from_db()
        # The failures are stored as they happen (FailureRecorder); a job that waits for
        # approval runs again once approved and keeps none of this run's.
        if waiting:
            JobFailure.objects.filter(job=job).delete()
        JobSample.objects.create(
            job=job, t=now, objects_done=result.objects_done, bytes_done=result.bytes_done
        )
        if manifest is not None:
            manifest.save(job)
        audit.record(
            "job.awaiting_approval" if waiting else "job.finished",
            target=job,
            team=job.team,
            details={
                "state": state,
                "objects_done": result.objects_done,
                "bytes_done": result.bytes_done,
                "objects_skipped": result.objects_skipped,
                "objects_failed": result.objects_failed,
                "objects_deleted": result.objects_deleted,
                "objects_to_delete": result.plan.objects_to_delete if result.plan else None,
                "error": result.error[:500],
                "manifest": manifest.summary() if manifest is not None else None,
            },
        )
        notifications.notify_job(job)
        transaction.on_commit(lambda: broadcast_job(job))
        if state == Job.State.CANCELLED:
            transaction.on_commit(lambda: dispatch.schedule_late_sweeps(job.pk))
    return state


def sweep_abandoned_uploads(job_id: int) -> int:
    """Abort the incomplete uploads a stopped job's keys still have at its destination (a
    cancelled job, or one whose worker died), unless a later job of the profile is in
    progress (the uploads may be its own)."""
    job = Job.objects.select_related("team").filter(pk=job_id).first()
    if job is None or job.state not in (Job.State.CANCELLED, Job.State.FAILED):
        return 0
    if job.profile_id and Job.objects.active().filter(profile_id=job.profile_id).exists():
        logger.info("job %s: a later run is in progress; no late sweep", job_id)
        return 0
    try:
        aborted = sweep_uploads(spec_for_job(job, retry_keys=False))
    except (Unavailable, EngineError, DecryptionError) as exc:
        logger.warning("job %s: late sweep of incomplete uploads failed: %s", job_id, exc)
        return 0
    if aborted:
        logger.info("job %s: aborted %d incomplete uploads that landed late", job_id, aborted)
    return aborted


def _cancelled_while_finishing(result: Result) -> str:
    ended = {
        Outcome.AWAITING_APPROVAL: "stopped for approval before deleting",
        Outcome.SUCCEEDED: "had finished its work",
    }.get(result.outcome, f"had ended {result.outcome}")
    text = f"Cancelled while the run was finishing: it {ended}."
    return f"{text} {result.error}" if result.error else text


def reap_expired_leases() -> list[int]:
    """Re-queue or fail the running jobs whose lease expired; returns their ids."""
    now = timezone.now()
    reaped = []
    expired = Job.objects.filter(state__in=LEASED_STATES, lease_expires_at__lt=now)
    for job in expired.select_related("team"):
        attempt = job.attempts
        if job.cancel_requested_at is not None:
            state, error = Job.State.CANCELLED, "Cancelled; the worker stopped responding."
        elif attempt < settings.TRANSFER_MAX_ATTEMPTS:
            state = Job.State.QUEUED
            error = f"The worker of attempt {attempt} stopped responding; the job was re-queued."
        else:
            state = Job.State.FAILED
            error = (
                f"The worker stopped responding (no heartbeat for over "
                f"{settings.TRANSFER_LEASE_SECONDS} s) on attempt {attempt} of "
                f"{settings.TRANSFER_MAX_ATTEMPTS}; the job was not re-run."
            )
        with transaction.atomic():
            # Only if nobody renewed or finished it since we looked.
            taken = Job.objects.filter(
                Q(pk=job.pk, state=job.state, lease_owner=job.lease_owner),
                lease_expires_at=job.lease_expires_at,
            ).update(
                state=state,
                error=error,
                lease_owner="",
                lease_expires_at=None,
                finished_at=None if state == Job.State.QUEUED else now,
            )
            if not taken:
                continue
            job.refresh_from_db()
            audit.record(
                "job.requeued" if state == Job.State.QUEUED else "job.finished",
                target=job,
                team=job.team,
                details={"state": state, "attempt": attempt, "error": error},
            )
            notifications.notify_job(job)
            if state == Job.State.QUEUED:
                transaction.on_commit(lambda job_id=job.pk: dispatch.dispatch(job_id))
            else:  # the dead worker's s5cmd died with it, before any abort pass
                transaction.on_commit(lambda job_id=job.pk: dispatch.schedule_late_sweeps(job_id))
            transaction.on_commit(lambda job=job: broadcast_job(job))
        reaped.append(job.pk)
    return reaped
