"""Redis going away under a running job: the worker says so once (no traceback per progress
message), keeps running and storing the job's samples, says when Redis works again, and the
job ends as it would have."""

from __future__ import annotations

import pytest

from tests.support import start_celery_worker, wait_until
from tests.transfers.support import GatedProxy, put_objects, s3_keys, wait_for_job
from transfers import services
from transfers.models import Job, JobSample

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OUTAGE = "live updates (Redis channel layer) is unavailable"
RECOVERY = "live updates (Redis channel layer) works again"


@pytest.fixture
def gate(s3_a):
    """The S3 service behind a proxy the test holds: a job through it waits until released."""
    port = int(s3_a.url.rsplit(":", 1)[1])
    proxy = GatedProxy(port)
    yield proxy
    proxy.close()


def test_a_redis_outage_under_a_running_job_is_logged_once_and_its_end(
    own_redis, process_env, tmp_path, team, operator, s3_a, gate
):
    bucket = s3_a.bucket("held")
    put_objects(s3_a.client(), bucket, {"a.txt": b"alpha", "b/c.txt": b"gamma"}, prefix="src/")
    endpoint = s3_a.endpoint(team, "through the gate", url=gate.url)
    profile = services.create_profile(
        team,
        actor=operator,
        name="held",
        source_endpoint=endpoint,
        source_bucket=bucket,
        source_prefix="src/",
        destination_endpoint=endpoint,
        destination_bucket=bucket,
        destination_prefix="dst/",
    )
    env = {**process_env, "REDIS_URL": own_redis.url}
    worker = start_celery_worker(env, tmp_path / "worker.log", name="held", concurrency=1)
    try:
        gate.hold()
        job = services.start_job(profile, actor=operator)
        wait_until(
            lambda: gate.connections and JobSample.objects.filter(job=job).exists(),
            "the job to start and wait on S3",
            timeout=60,
        )

        own_redis.stop()
        before = len(worker.output())
        samples = JobSample.objects.filter(job=job).count()
        # Each sample (about one a second) comes with a progress message that cannot be sent.
        wait_until(
            lambda: JobSample.objects.filter(job=job).count() >= samples + 5,
            "the job to go on storing samples while Redis is down",
        )
        during = worker.output()[before:]
        assert during.count(OUTAGE) == 1, during
        assert "Traceback" not in during and "could not publish progress" not in during, during
        assert "still unavailable" not in during  # the first reminder comes after a minute

        own_redis.start()
        after = worker.wait_for_output(RECOVERY, "the worker to see Redis back", after=before)
        assert after[before:].count(OUTAGE) == 1

        gate.release()
        job = wait_for_job(job, timeout=120)
    finally:
        gate.release()
        worker.stop()
    assert job.state == Job.State.SUCCEEDED, (job.error, worker.output()[-3000:])
    assert s3_keys(s3_a.client(), bucket, "dst/") == {"a.txt", "b/c.txt"}
