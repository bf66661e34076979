"""Celery tasks of the transfers app: thin wrappers that take ids and call the execution layer."""

from celery import shared_task

from transfers import dispatch, execution, notifications, previews, retention, shards
from transfers.models import SkippedRun
from transfers.services import browse, freshness, schedules


@shared_task(name="syncportal.ping")
def ping(payload: str = "pong") -> str:
    """Round-trips through the broker and a worker; used by health checks and tests."""
    return payload


@shared_task(name="transfers.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int) -> str:
    """Claim and run one job. A redelivered message for a job that is no longer queued (already
    run, running elsewhere, cancelled) does nothing."""
    return execution.run_job(job_id)


@shared_task(bind=True, name="transfers.run_shard", acks_late=True, reject_on_worker_lost=True)
def run_shard(self, shard_id: int) -> str:
    """Claim and run one shard of a large job (transfers.shards). A message for a shard that
    is no longer queued does nothing."""
    return shards.run_shard(shard_id, worker=self.request.hostname or "")


@shared_task(name="transfers.finish_job")
def finish_job(job_id: int) -> str:
    """Store a sharded job's outcome once its cut is done and all its shards have finished
    (e.g. after a cancel stopped the shards that had not started)."""
    return shards.maybe_finish_job(job_id) or "not finished"


@shared_task(name="transfers.count_prefix_usage")
def count_prefix_usage(endpoint_id: int, bucket: str, prefix: str) -> str:
    """List a whole prefix of an endpoint for its object count and total size; the result goes
    to the cache, where the browse pages and the API read it."""
    return browse.run_prefix_count(endpoint_id, bucket, prefix).state


@shared_task(name="transfers.run_preview", acks_late=True, reject_on_worker_lost=True)
def run_preview(preview_id: int) -> str:
    """List and plan one preview, reporting its progress. A message for a preview that is no
    longer queued (cancelled, or already taken) does nothing."""
    return previews.run_preview(preview_id)


@shared_task(name="transfers.reap_jobs")
def reap_jobs() -> dict[str, list[int]]:
    """Periodic (beat): re-queue or fail the jobs of workers whose lease expired, dispatch
    again the queued jobs whose broker message may be lost, and fail the previews whose worker
    stopped."""
    return {
        "reaped": execution.reap_expired_leases(),
        "shards_reaped": shards.reap_shards(),
        "redispatched": dispatch.redispatch_lost(),
        "previews_failed": previews.reap_stale(),
    }


@shared_task(name="transfers.sweep_uploads")
def sweep_uploads(job_id: int) -> int:
    """Some time after a cancel or a worker's death: abort incomplete uploads of the job's
    keys that landed late or that no abort pass saw."""
    return execution.sweep_abandoned_uploads(job_id)


@shared_task(name="transfers.prune_job_history")
def prune_job_history() -> int:
    """Periodic (beat, daily): delete the samples of jobs past JOB_SAMPLE_RETENTION_DAYS and
    the previews past PREVIEW_RESULT_HOURS."""
    return retention.prune_job_history() + retention.prune_previews()


@shared_task(name="transfers.run_scheduled")
def run_scheduled(profile_id: int) -> str:
    """Fired by beat on a profile's schedule: start a job, or record why it was skipped."""
    outcome = schedules.run_scheduled(profile_id)
    if outcome is None:
        return "no schedule"
    if isinstance(outcome, SkippedRun):
        return f"skipped: {outcome.reason}"
    return f"job {outcome.pk}"


@shared_task(name="transfers.check_freshness")
def check_freshness() -> dict[str, list[int]]:
    """Periodic (beat): flag profiles that missed their freshness target, once per breach."""
    return freshness.check_freshness()


@shared_task(bind=True, name="transfers.deliver_notification", acks_late=True, max_retries=None)
def deliver_notification(self, delivery_id: int, attempt: int = 1) -> str:
    """One attempt at an email or webhook; a failed one is retried later as the next attempt."""
    wait = notifications.deliver(delivery_id, attempt)
    if wait is not None:
        raise self.retry(args=(delivery_id, attempt + 1), countdown=wait)
    return f"attempt {attempt} done"


@shared_task(name="transfers.resume_deliveries")
def resume_deliveries() -> list[int]:
    """Periodic (beat): re-queue notification deliveries whose retry was lost with a worker."""
    return notifications.resume_stuck_deliveries()
