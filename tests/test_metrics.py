"""/metrics: Prometheus text computed from jobs, samples, the broker and worker heartbeats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from syncportal.metrics import WORKER_HEARTBEATS_KEY, redis_client
from tests.support import wait_until
from transfers.models import Job, JobSample


def scrape(client, **headers) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


@pytest.fixture
def finished_and_running_jobs(team):
    now = timezone.now()
    Job.objects.create(
        team=team,
        profile_name="nightly",
        state=Job.State.SUCCEEDED,
        objects_done=10,
        bytes_done=4000,
        started_at=now - timedelta(seconds=45),
        finished_at=now,
    )
    Job.objects.create(
        team=team,
        profile_name="nightly",
        state=Job.State.FAILED,
        objects_done=1,
        bytes_done=1000,
        started_at=now - timedelta(seconds=400),
        finished_at=now,
    )
    running = Job.objects.create(
        team=team,
        profile_name="hourly",
        state=Job.State.RUNNING,
        objects_done=5,
        bytes_done=3000,
        started_at=now - timedelta(seconds=10),
    )
    JobSample.objects.create(
        job=running, t=now - timedelta(seconds=4), objects_done=1, bytes_done=1000
    )
    JobSample.objects.create(job=running, t=now, objects_done=5, bytes_done=3000)
    return running


def test_it_exposes_jobs_bytes_throughput_and_durations(client, finished_and_running_jobs):
    metrics = scrape(client)
    jobs = metrics["syncportal_jobs"]
    assert jobs[(("state", "succeeded"),)] == 1
    assert jobs[(("state", "failed"),)] == 1
    assert jobs[(("state", "running"),)] == 1
    assert jobs[(("state", "cancelled"),)] == 0
    assert metrics["syncportal_transferred_bytes_total"][()] == 8000
    assert metrics["syncportal_transferred_objects_total"][()] == 16
    assert metrics["syncportal_throughput_bytes_per_second"][()] == pytest.approx(500, rel=0.01)
    durations = metrics["syncportal_job_duration_seconds_bucket"]
    assert durations[(("le", "30.0"),)] == 0
    assert durations[(("le", "60.0"),)] == 1
    assert durations[(("le", "900.0"),)] == 2
    assert durations[(("le", "+Inf"),)] == 2
    assert metrics["syncportal_job_duration_seconds_sum"][()] == pytest.approx(445, abs=1)
    assert metrics["syncportal_redis_up"][()] == 1


def test_it_counts_tasks_waiting_in_the_broker(client, db):
    redis = redis_client()
    redis.delete("celery")
    redis.lpush("celery", "a", "b", "c")
    try:
        metrics = scrape(client)
    finally:
        redis.delete("celery")
    assert metrics["syncportal_queue_depth"][(("queue", "celery"),)] == 3


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_shows_worker_heartbeats(client, celery_worker):
    def heartbeat():
        metrics = scrape(client)
        return metrics.get("syncportal_worker_last_heartbeat_timestamp_seconds")

    beats = wait_until(heartbeat, "a worker heartbeat in /metrics", timeout=30)
    [(labels, seen_at)] = [(k, v) for k, v in beats.items() if "test@" in dict(k)["worker"]]
    assert seen_at == pytest.approx(timezone.now().timestamp(), abs=30)
    assert redis_client().hexists(WORKER_HEARTBEATS_KEY, dict(labels)["worker"])


def test_it_requires_the_token_when_one_is_set(client, db, settings):
    settings.METRICS_TOKEN = "scrape-token-123"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200


def test_without_a_token_it_answers_only_private_networks(client, db):
    assert client.get("/metrics", REMOTE_ADDR="10.0.3.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="8.8.8.8").status_code == 404
