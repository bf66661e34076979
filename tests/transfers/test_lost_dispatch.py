"""Nothing depends on a broker message surviving: a queued job whose message Redis lost (a
restart without persistence, a failover, or Redis down when the job was queued) is dispatched
again by the reaper, and however many messages a job gets, it runs once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support import start_celery_beat, start_celery_worker, wait_until
from tests.transfers.support import put_objects, s3_keys, same_bucket_profile, wait_for_job
from transfers import dispatch, services, shards
from transfers.models import Job, JobShard

pytestmark = pytest.mark.django_db(transaction=True)


def copy_profile(team, operator, s3_a, endpoint_a, name: str = "copy"):
    bucket = s3_a.bucket("lost")
    put_objects(s3_a.client(), bucket, {"a.txt": b"alpha", "b/c.txt": b"gamma"}, prefix="src/")
    return same_bucket_profile(team, operator, endpoint_a, bucket, name=name), bucket


@pytest.fixture
def idle_queue(settings):
    """A transfer queue no worker reads: messages sent there stay, to be counted."""
    settings.TRANSFER_QUEUE = f"nobody-{uuid.uuid4().hex[:8]}"
    client = dispatch._client()
    yield lambda: client.llen(settings.TRANSFER_QUEUE)
    client.delete(settings.TRANSFER_QUEUE)


def queued(team, *, waited: float = 60, **fields) -> Job:
    job = Job.objects.create(team=team, profile_name="p", **fields)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=waited))
    return job


def test_it_dispatches_again_only_the_waiting_jobs_the_broker_has_no_record_of(team, idle_queue):
    lost = queued(team)
    recorded = queued(team)
    dispatch.dispatch(recorded.pk)
    just_queued = queued(team, waited=0)
    cancelling = queued(team, cancel_requested_at=timezone.now())
    running = queued(team, state=Job.State.RUNNING)
    assert idle_queue() == 1

    assert dispatch.redispatch_lost() == [lost.pk]

    assert idle_queue() == 2
    client = dispatch._client()
    assert client.exists(dispatch.record_key(lost.pk))  # dispatched once, not every period
    assert dispatch.redispatch_lost() == []
    for job in (just_queued, cancelling, running):
        assert not client.exists(dispatch.record_key(job.pk))


def test_a_record_outlives_no_claim_and_expires_after_the_redispatch_period(
    settings, team, idle_queue
):
    settings.TRANSFER_REDISPATCH_SECONDS = 600
    job = queued(team)
    dispatch.dispatch(job.pk)
    client = dispatch._client()
    assert 590 <= client.ttl(dispatch.record_key(job.pk)) <= 600

    from transfers.execution import claim

    assert claim(job.pk, "host:1:test") is not None
    assert not client.exists(dispatch.record_key(job.pk))


@pytest.mark.worker
def test_a_job_whose_message_redis_lost_runs_after_the_reapers_period(
    own_redis, process_env, tmp_path, team, operator, s3_a, endpoint_a
):
    profile, bucket = copy_profile(team, operator, s3_a, endpoint_a)
    job = services.start_job(profile, actor=operator)
    assert own_redis.client().llen("celery") == 1  # its message, before any worker runs

    own_redis.restart()  # without persistence: the message is gone
    assert own_redis.client().llen("celery") == 0

    env = {**process_env, "REDIS_URL": own_redis.url, "TRANSFER_REAPER_INTERVAL": "1"}
    worker = start_celery_worker(env, tmp_path / "worker.log", name="lost", concurrency=1)
    beat = start_celery_beat(env, tmp_path / "beat.log")
    try:
        job = wait_for_job(job, timeout=120)
        log = worker.output()
    finally:
        beat.stop()
        worker.stop()

    assert job.state == Job.State.SUCCEEDED, (job.error, log[-3000:])
    assert job.attempts == 1
    assert f"dispatched again 1 queued job(s) that the broker had no message for: #{job.pk}" in log
    assert s3_keys(s3_a.client(), bucket, "dst/") == {"a.txt", "b/c.txt"}


@pytest.mark.worker
def test_duplicate_messages_run_a_job_once(celery_worker, team, operator, s3_a, endpoint_a):
    profile, bucket = copy_profile(team, operator, s3_a, endpoint_a, name="dup")
    offset = len(celery_worker.output())
    job = services.start_job(profile, actor=operator)
    assert dispatch.dispatch(job.pk) and dispatch.dispatch(job.pk)  # three messages in all

    job = wait_for_job(job)
    late = f"job {job.pk}: not queued any more"
    wait_until(
        lambda: celery_worker.output()[offset:].count(late) == 2, "both duplicates to be read"
    )

    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.attempts == 1
    assert celery_worker.output()[offset:].count(f"job {job.pk}: claimed by") == 1
    assert s3_keys(s3_a.client(), bucket, "dst/") == {"a.txt", "b/c.txt"}


def test_queued_shards_the_broker_has_no_record_of_are_sent_again(team, idle_queue):
    """A large job's shards are queued through the broker too: after a Redis restart the
    reaper sends again those it has no record of, once, not 30 minutes later."""
    job = queued(team, state=Job.State.RUNNING, shards_cut_at=timezone.now())
    sent = timezone.now() - timedelta(seconds=60)
    lost, recorded = (
        JobShard.objects.create(
            job=job, seq=seq, after_key=after, upto_key=upto, state="queued", dispatched_at=sent
        )
        for seq, after, upto in ((0, "", "k"), (1, "k", "m"))
    )
    dispatch.leave_record(recorded.pk, shards.SHARD_RECORD)
    just_sent = JobShard.objects.create(
        job=job, seq=2, after_key="m", state="queued", dispatched_at=timezone.now()
    )

    shards.reap_shards()

    assert idle_queue() == 1  # the lost shard's message, and no other
    client = dispatch._client()
    assert client.exists(dispatch.record_key(lost.pk, shards.SHARD_RECORD))
    assert not client.exists(dispatch.record_key(just_sent.pk, shards.SHARD_RECORD))
    assert not client.exists(dispatch.record_key(job.pk))  # a shard's record is its own
    shards.reap_shards()
    assert idle_queue() == 1  # sent again once, not every period
