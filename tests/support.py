"""Helpers for tests that run real processes: Redis, Celery workers, the ASGI server."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from syncportal.processes import (
    free_port,
    redis_server_binary,
    start_group,
    stop_groups,
    tcp_open,
    wait_for,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def wait_until(check: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """Poll `check` until it returns something truthy; fail the test with `what` otherwise."""
    return wait_for(check, what, timeout, failure=AssertionError)


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database the test run uses, for child processes."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class ChildProcess:
    """A child in its own process group, stopped with its whole group."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = start_group(
            argv, cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(
        self, text: str, what: str, timeout: float = 30.0, *, after: int = 0
    ) -> str:
        """Wait until `text` appears in the output past offset `after`; returns the output.
        (Celery keeps no task results: tests read what a worker did from its log.)"""

        def seen():
            if not self.alive():
                raise AssertionError(f"{what}: the process died:\n{self.output()[-3000:]}")
            output = self.output()
            return output if text in output[after:] else None

        return wait_until(seen, what, timeout=timeout)

    def stop(self, grace: float = 10.0) -> None:
        stop_groups([self.process], grace)
        self.log.close()


class RedisServer:
    """A redis-server of a test's own, without persistence, that the test stops and starts
    again (empty, as after a restart or a failover that lost its data)."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.starts = 0
        self.process: ChildProcess | None = None
        self.start()

    def start(self) -> None:
        self.starts += 1
        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        log = self.log_dir / f"redis-{self.starts}.log"
        self.process = ChildProcess(argv, dict(os.environ), log)
        wait_until(lambda: tcp_open(self.port), "the test's Redis to start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        wait_until(lambda: not tcp_open(self.port), "the test's Redis to stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker. The app's pools are looked up again
    (kombu keeps one per broker URL, reused when the test points back)."""
    from syncportal.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_celery_worker(
    env: dict[str, str],
    log_path: Path,
    *,
    name: str = "test",
    concurrency: int = 2,
    queue: str | None = None,
) -> ChildProcess:
    return ChildProcess(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "syncportal",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            str(concurrency),
            *(["-Q", queue] if queue else []),
            "-n",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        log_path,
    )


def start_celery_beat(env: dict[str, str], log_path: Path) -> ChildProcess:
    """`celery beat` with the settings' scheduler (django-celery-beat's DatabaseScheduler)."""
    return ChildProcess(
        [sys.executable, "-m", "celery", "-A", "syncportal", "beat", "-l", "INFO"],
        env,
        log_path,
    )


def start_web_server(env: dict[str, str], log_path: Path, port: int) -> ChildProcess:
    return ChildProcess(
        [
            sys.executable,
            "-m",
            "syncportal.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env,
        log_path,
    )


# --- Jobs on the loopback S3 server ---------------------------------------------------------


def loopback_profile(team, s3, objects: dict[str, bytes], **fields):
    """A server-side copy profile on the `s3` fixture's server: `objects` (keys under `in/`)
    are put in a new bucket and copied to `out/` by a run."""
    import uuid

    from transfers import services
    from transfers.models import Endpoint

    bucket = f"loop-{uuid.uuid4().hex[:12]}"
    client = s3.client()
    client.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=f"in/{key}", Body=body)
    endpoint, _ = Endpoint.objects.get_or_create(
        team=team,
        name="loopback",
        defaults={
            "url": s3.url,
            "addressing_style": Endpoint.Addressing.PATH,
            "access_key_id": "test-access",
            "secret_access_key": "test-secret",
        },
    )
    values = {
        "name": "loopback",
        "source_endpoint": endpoint,
        "source_bucket": bucket,
        "source_prefix": "in/",
        "destination_endpoint": endpoint,
        "destination_bucket": bucket,
        "destination_prefix": "out/",
        **fields,
    }
    return services.create_profile(team, actor=None, **values)


def run_to_the_end(job, timeout: float = 180.0):
    """Poll until the job has finished; returns it as stored."""
    from transfers.models import Job

    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state__in=Job.FINISHED_STATES).exists(),
        f"job #{job.pk} to finish",
        timeout=timeout,
    )
    job.refresh_from_db()
    return job


# --- Second factors ---------------------------------------------------------------------------


def totp_code(secret_b32: str, at: float | None = None, period: int = 30) -> str:
    """The RFC 6238 code an authenticator app shows (written here, independent of allauth)."""
    import base64
    import hashlib
    import hmac
    import struct

    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // period)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**6:06d}"


def enrol_totp(user) -> str:
    """Give `user` an authenticator app, as the enrolment page does; returns its secret."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def clear_app_cache() -> None:
    """Forget the portal's cache entries (rate-limit counters, used TOTP codes) between tests.

    Only keys under the cache's prefix: Celery's queues and the channel layer share the Redis.
    """
    import redis
    from django.conf import settings

    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def pager_link(page: str, rel: str) -> str | None:
    """The query (`?...`) of a list page's pager link (`rel` next, prev or first), unescaped."""
    found = re.search(rf'<a [^>]*href="(\?[^"]*)" rel="{rel}"', page)
    return html.unescape(found.group(1)) if found else None
