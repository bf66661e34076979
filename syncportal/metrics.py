"""Prometheus metrics at `/metrics`, computed from the system of record at scrape time.

Every web replica answers with the same numbers because they come from PostgreSQL and Redis,
not from per-process counters: no multiprocess bookkeeping, nothing lost when a pod restarts.

Access: with `METRICS_TOKEN` set, scrapers send `Authorization: Bearer <token>`; without it,
only clients on loopback or private networks are answered.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from syncportal.logging import OutageLog

DURATION_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600)
THROUGHPUT_WINDOW = timedelta(seconds=15)
WORKER_HEARTBEATS_KEY = "syncportal:worker-heartbeats"
HEARTBEAT_INTERVAL_SECONDS = 10

logger = logging.getLogger(__name__)
_heartbeat: dict[str, object] = {}


def redis_client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def queue_names() -> list[str]:
    names = {"celery", getattr(settings, "TRANSFER_QUEUE", "celery")}
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def start_worker_heartbeat(worker: str, interval: float = HEARTBEAT_INTERVAL_SECONDS) -> None:
    """Record in Redis, every `interval` seconds, that this worker process is alive."""
    stop = threading.Event()
    outage = OutageLog(logger, "the worker heartbeat's Redis")

    def beat() -> None:
        while True:
            try:
                client = redis_client()
                try:
                    client.hset(WORKER_HEARTBEATS_KEY, worker, f"{time.time():.3f}")
                finally:
                    client.close()
            except Exception as exc:  # a missed beat is what the metric is for
                outage.failed(exc, "the worker looks gone to /metrics meanwhile")
            else:
                outage.succeeded()
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
    _heartbeat.update(worker=worker, stop=stop, thread=thread)
    thread.start()


def stop_worker_heartbeat() -> None:
    stop = _heartbeat.get("stop")
    if stop is None:
        return
    stop.set()
    with contextlib.suppress(Exception):
        client = redis_client()
        client.hdel(WORKER_HEARTBEATS_KEY, _heartbeat["worker"])
        client.close()


class PortalCollector:
    """Reads jobs, samples, the broker's queues and worker heartbeats when scraped."""

    def collect(self):
        from transfers.models import Job, JobSample

        jobs = GaugeMetricFamily("syncportal_jobs", "Jobs by state.", labels=["state"])
        counts = dict(Job.objects.values_list("state").annotate(n=Count("id")).order_by())
        for state in Job.State.values:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs

        totals = Job.objects.aggregate(bytes=Sum("bytes_done"), objects=Sum("objects_done"))
        yield CounterMetricFamily(
            "syncportal_transferred_bytes", "Bytes transferred by all jobs.", totals["bytes"] or 0
        )
        yield CounterMetricFamily(
            "syncportal_transferred_objects",
            "Objects transferred by all jobs.",
            totals["objects"] or 0,
        )

        # Current throughput: for each active job, its progress over the last few seconds.
        since = timezone.now() - THROUGHPUT_WINDOW
        rate = 0.0
        windows = (
            JobSample.objects.filter(job__state__in=Job.ACTIVE_STATES, t__gte=since)
            .values("job")
            .annotate(b0=Min("bytes_done"), b1=Max("bytes_done"), t0=Min("t"), t1=Max("t"))
            .order_by()
        )
        for window in windows:
            seconds = (window["t1"] - window["t0"]).total_seconds()
            if seconds > 0:
                rate += (window["b1"] - window["b0"]) / seconds
        yield GaugeMetricFamily(
            "syncportal_throughput_bytes_per_second", "Current aggregate throughput.", rate
        )

        yield self._durations(Job)
        yield from self._operations()
        yield from self._redis_metrics()

    def _operations(self):
        """Freshness of the profiles that have a target, skipped scheduled runs, deliveries."""
        from transfers.models import Delivery, Notification, SkippedRun, SyncProfile
        from transfers.services.freshness import freshness

        labels = ["profile", "team"]
        breached = GaugeMetricFamily(
            "syncportal_profile_freshness_breached",
            "1 when a profile's last successful run is older than its freshness target.",
            labels=labels,
        )
        behind = GaugeMetricFamily(
            "syncportal_profile_seconds_since_success",
            "Seconds since the latest successful run of a profile with a freshness target began.",
            labels=labels,
        )
        target = GaugeMetricFamily(
            "syncportal_profile_freshness_target_seconds",
            "How far behind a profile's destination may be.",
            labels=labels,
        )
        now = timezone.now()
        tracked = (
            SyncProfile.objects.filter(max_staleness_minutes__isnull=False)
            .with_last_success()
            .select_related("team")
        )
        for profile in tracked:
            state = freshness(profile, now)
            names = [profile.name, profile.team.slug]
            breached.add_metric(names, int(state.breached))
            target.add_metric(names, state.max_staleness.total_seconds())
            if state.behind is not None:
                behind.add_metric(names, state.behind.total_seconds())
        yield breached
        yield behind
        yield target

        yield CounterMetricFamily(
            "syncportal_scheduled_runs_skipped",
            "Scheduled runs not started because the profile's previous run was still going.",
            SkippedRun.objects.count(),
        )
        deliveries = GaugeMetricFamily(
            "syncportal_notification_deliveries",
            "Notification deliveries by channel and state.",
            labels=["channel", "state"],
        )
        counts = {
            (row["notification__channel"], row["state"]): row["n"]
            for row in Delivery.objects.values("notification__channel", "state")
            .annotate(n=Count("id"))
            .order_by()
        }
        for channel in Notification.Channel.values:
            for state in Delivery.State.values:
                deliveries.add_metric([channel, state], counts.get((channel, state), 0))
        yield deliveries

    def _durations(self, job_model) -> HistogramMetricFamily:
        finished = job_model.objects.filter(
            state__in=job_model.FINISHED_STATES, started_at__isnull=False, finished_at__isnull=False
        ).annotate(
            duration=ExpressionWrapper(
                F("finished_at") - F("started_at"), output_field=DurationField()
            )
        )
        aggregates = {
            f"le_{bucket}": Count("id", filter=Q(duration__lte=timedelta(seconds=bucket)))
            for bucket in DURATION_BUCKETS
        }
        row = finished.aggregate(total=Count("id"), seconds=Sum("duration"), **aggregates)
        buckets = [(str(float(b)), row[f"le_{b}"]) for b in DURATION_BUCKETS]
        buckets.append(("+Inf", row["total"]))
        total_seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
        return HistogramMetricFamily(
            "syncportal_job_duration_seconds",
            "Duration of finished jobs, from start to finish.",
            buckets=buckets,
            sum_value=total_seconds,
        )

    def _redis_metrics(self):
        depth = GaugeMetricFamily(
            "syncportal_queue_depth", "Tasks waiting in the broker.", labels=["queue"]
        )
        heartbeats = GaugeMetricFamily(
            "syncportal_worker_last_heartbeat_timestamp_seconds",
            "When each worker last reported in (Unix time).",
            labels=["worker"],
        )
        up = GaugeMetricFamily("syncportal_redis_up", "Whether Redis answered the scrape.")
        try:
            client = redis_client()
            try:
                for queue in queue_names():
                    # Celery's Redis transport keeps one list per queue and priority step.
                    keys = [queue, *(f"{queue}\x06\x16{p}" for p in range(1, 10))]
                    pipe = client.pipeline()
                    for key in keys:
                        pipe.llen(key)
                    depth.add_metric([queue], sum(pipe.execute()))
                now = time.time()
                for worker, seen in client.hgetall(WORKER_HEARTBEATS_KEY).items():
                    seen_at = float(seen)
                    if now - seen_at < 24 * 3600:
                        heartbeats.add_metric([worker.decode()], seen_at)
            finally:
                client.close()
        except Exception:  # a scrape must answer even when Redis does not
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
        yield depth
        yield heartbeats
        yield up


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(supplied.encode(), token.encode())
    if any(name in request.headers for name in ("X-Forwarded-For", "X-Real-IP", "Forwarded")):
        # Relayed by a proxy (an Ingress, whose own address is private), or pretending to be:
        # not a scraper on the pod network. The web server never rewrites the peer address.
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        raise Http404  # do not advertise the endpoint to strangers
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
