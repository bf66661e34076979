"""/metrics: Prometheus text computed from jobs, samples, the broker and worker heartbeats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from syncportal.metrics import WORKER_HEARTBEATS_KEY, redis_client
from tests.support import loopback_profile, run_to_the_end, wait_until
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


def test_it_counts_tasks_waiting_in_the_broker(client, db, settings):
    # A queue of a routed task that no worker of the suite consumes: a worker reading these
    # stand-ins for messages would stop on the first (they are not Celery's JSON).
    settings.CELERY_TASK_ROUTES = {"reports.nightly": {"queue": "reports"}}
    redis = redis_client()
    redis.delete("reports")
    redis.lpush("reports", "a", "b", "c")
    try:
        metrics = scrape(client)
    finally:
        redis.delete("reports")
    assert metrics["syncportal_queue_depth"][(("queue", "reports"),)] == 3
    assert (("queue", "celery"),) in metrics["syncportal_queue_depth"]  # the default queue too


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


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"])
def test_without_a_token_it_refuses_what_a_proxy_relayed(client, db, header):
    # An Ingress has a private address: what it relays must not pass for a scrape.
    assert client.get("/metrics", REMOTE_ADDR="10.0.3.7", **{header: "8.8.8.8"}).status_code == 404


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_job_shows_up_in_the_counters(client, team, s3, celery_worker):
    """A job run by the real worker against a real S3 server, then a scrape."""
    from transfers import services

    objects = {f"part-{n}.bin": bytes([n]) * (1000 + n) for n in range(5)}
    profile = loopback_profile(team, s3, objects, name="metered", max_staleness_minutes=60)
    before = scrape(client)

    job = run_to_the_end(services.start_job(profile, actor=None))
    metrics = scrape(client)

    assert job.state == Job.State.SUCCEEDED, job.error
    size = sum(len(body) for body in objects.values())
    assert metrics["syncportal_jobs"][(("state", "succeeded"),)] == 1
    assert metrics["syncportal_transferred_bytes_total"][()] == size
    assert metrics["syncportal_transferred_objects_total"][()] == 5
    assert metrics["syncportal_job_duration_seconds_count"][()] == 1
    assert metrics["syncportal_job_duration_seconds_sum"][()] == pytest.approx(
        (job.finished_at - job.started_at).total_seconds(), abs=0.01
    )
    labels = (("profile", "metered"), ("team", "data-platform"))
    assert before["syncportal_profile_freshness_breached"][labels] == 0  # new: not yet due
    assert metrics["syncportal_profile_freshness_breached"][labels] == 0
    assert metrics["syncportal_profile_seconds_since_success"][labels] < 60
    assert labels not in before.get("syncportal_profile_seconds_since_success", {})


def test_it_exposes_freshness_skips_and_deliveries(client, team, finished_and_running_jobs):
    from transfers.models import Delivery, Endpoint, Notification, SkippedRun, SyncProfile

    endpoint = Endpoint.objects.create(
        team=team, name="s3", access_key_id="a", secret_access_key="s"
    )
    profile = SyncProfile.objects.create(
        team=team,
        name="nightly",
        source_endpoint=endpoint,
        source_bucket="source-bucket",
        destination_endpoint=endpoint,
        destination_bucket="target-bucket",
        max_staleness_minutes=30,
    )
    # The succeeded "nightly" job of the fixture started 45 s ago; give it to this profile,
    # then make it older than the target.
    Job.objects.filter(state=Job.State.SUCCEEDED).update(
        profile=profile, started_at=timezone.now() - timedelta(minutes=45)
    )
    SkippedRun.objects.create(team=team, profile=profile, reason="busy")
    notification = Notification.objects.create(
        profile=profile, channel="webhook", target="https://hooks.example.com/x", events=[]
    )
    Delivery.objects.create(notification=notification, event="job.failed", payload={})

    metrics = scrape(client)

    labels = (("profile", "nightly"), ("team", "data-platform"))
    assert metrics["syncportal_profile_freshness_breached"][labels] == 1
    assert metrics["syncportal_profile_freshness_target_seconds"][labels] == 1800
    assert metrics["syncportal_profile_seconds_since_success"][labels] == pytest.approx(2700, abs=5)
    assert metrics["syncportal_scheduled_runs_skipped_total"][()] == 1
    deliveries = metrics["syncportal_notification_deliveries"]
    assert deliveries[(("channel", "webhook"), ("state", "pending"))] == 1
    assert deliveries[(("channel", "email"), ("state", "failed"))] == 0
