"""The portal under test, run the way production runs it: DEBUG off, PostgreSQL, Redis, the ASGI
server with two worker processes (`python -m syncportal.server`, as in deploy/), a Celery
worker (prefork pool), JSON logs at WARNING. Jobs are started and watched through the public
API with a personal token.

The harness process configures Django with the same settings, to seed users, endpoints and
profiles through the services (as the pages and the API would) and to read results.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import (
    ACCESS_KEY,
    SECRET_KEY,
    Processes,
    free_port,
    http_ok,
    split_s3_url,
    wait_until,
)

BASE_DIR = Path(__file__).resolve().parent.parent
FINISHED = {"succeeded", "partial", "failed", "cancelled"}


def recreate_database(url: str) -> None:
    """Drop and create the benchmark's own PostgreSQL database (never `test` or `postgres`)."""
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    if name in {"", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to recreate database {name!r}: give the bench its own")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def portal_env(*, database_url: str, redis_url: str, var_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="syncportal.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS="k1:" + base64.b64encode(os.urandom(32)).decode(),
        AUDIT_HMAC_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        VAR_DIR=str(var_dir),
        # Plain HTTP on loopback: no TLS redirect, cookies without the Secure flag.
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        STATIC_MANIFEST="0",
        MFA_REQUIRED="0",
        ENDPOINT_ALLOW_PRIVATE_NETWORKS="1",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
        # The reference route the API scenario measures its routes against.
        BENCH_ROUTES="1",
    )
    return env


@dataclass
class JobRun:
    job: dict
    seconds: float  # API call to the job seen finished


class Portal:
    def __init__(self, processes: Processes, *, database_url: str, redis_url: str, var_dir: Path):
        self.processes = processes
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.var_dir = var_dir
        var_dir.mkdir(parents=True, exist_ok=True)
        self.env = portal_env(
            database_url=database_url, redis_url=redis_url, var_dir=var_dir, port=self.port
        )
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.token = ""
        self.user = self.team = None

    # --- processes --------------------------------------------------------------------------

    def setup(self) -> None:
        """Migrate, then configure Django in this process with the portal's settings."""
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
        )
        os.environ.update(self.env)
        import django

        django.setup()
        self._seed_identity()

    def _log(self, name: str):
        return open(self.var_dir / f"{name}.log", "ab")

    def start_web(self, workers: int = 2, timeout: float = 180) -> None:
        # As deploy/ starts it; warning level leaves out the per-request access log.
        argv = [sys.executable, "-m", "syncportal.server", "--log-level", "warning"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        log = self._log("web")
        self.web = self.processes.start(
            "web", argv, cwd=BASE_DIR, env=self.env, stdout=log, stderr=log
        )
        # Generous: on a loaded machine two ASGI processes take a while to import Django.
        wait_until(lambda: http_ok(f"{self.url}/healthz"), "portal web server", timeout=timeout)

    def start_worker(self, concurrency: int) -> subprocess.Popen:
        """(Re)start the Celery worker with a prefork pool of `concurrency` processes."""
        if self.worker is not None:
            self.processes.stop(self.worker, grace=30)
        argv = [sys.executable, "-m", "celery", "-A", "syncportal", "worker", "-l", "WARNING"]
        argv += ["--concurrency", str(concurrency), "-n", f"bench-{concurrency}@%h"]
        log = self._log("worker")
        self.worker = self.processes.start(
            "worker", argv, cwd=BASE_DIR, env=self.env, stdout=log, stderr=log
        )
        self._wait_for_pool(concurrency)
        return self.worker

    def _wait_for_pool(self, concurrency: int) -> None:
        import psutil

        def ready() -> bool:
            children = psutil.Process(self.worker.pid).children()
            return len(children) >= concurrency and self._ping()

        wait_until(ready, "Celery worker", timeout=90)

    def _ping(self) -> bool:
        from syncportal.celery import app

        return bool(app.control.ping(timeout=1.0))

    # --- seeding ------------------------------------------------------------------------------

    def _seed_identity(self) -> None:
        from accounts import services as accounts
        from accounts.access import Role
        from accounts.models import ApiToken, User

        self.user = User.objects.create_user("bench", "bench@example.com", secrets.token_hex(16))
        self.team = accounts.create_team(name="Bench")
        accounts.add_member(self.team, self.user, Role.ADMIN)
        _, self.token = accounts.create_api_token(
            self.user,
            name="bench",
            scope=ApiToken.Scope.WRITE,
            teams=[self.team],
            expires_in_days=7,
        )

    def endpoint(self, name: str, url: str):
        from transfers import services

        return services.create_endpoint(
            self.team,
            actor=self.user,
            name=name,
            url=url,
            addressing_style="path",
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
        )

    def profile(self, name: str, source, src: str, destination, dst: str, **options):
        """A profile from `s3://bucket/prefix/` on `source` to the same on `destination`."""
        from transfers import services

        src_bucket, src_prefix = split_s3_url(src)
        dst_bucket, dst_prefix = split_s3_url(dst)
        return services.create_profile(
            self.team,
            actor=self.user,
            name=name,
            mode=options.pop("mode", "copy"),
            source_endpoint=source,
            source_bucket=src_bucket,
            source_prefix=src_prefix,
            destination_endpoint=destination,
            destination_bucket=dst_bucket,
            destination_prefix=dst_prefix,
            **options,
        )

    def session_cookie(self) -> str:
        """A signed-in browser session for the WebSocket (as the login page would create)."""
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(self.user)
        name = settings.SESSION_COOKIE_NAME
        return f"{name}={client.cookies[name].value}"

    def dashboard_socket(self):
        """`/ws/dashboard/` opened as the signed-in bench user, as the browser opens it."""
        from websockets.sync.client import connect

        url = self.url.replace("http://", "ws://") + "/ws/dashboard/"
        headers = {"Cookie": self.session_cookie(), "Origin": self.url}
        return connect(url, additional_headers=headers, open_timeout=10)

    # --- the API ------------------------------------------------------------------------------

    def client(self, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": "syncportal-bench"}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=60, **kwargs)

    def start_job(self, api: httpx.Client, profile_id: int) -> dict:
        response = api.post(f"/profiles/{profile_id}/run")
        if response.status_code != 201:
            raise RuntimeError(f"run profile {profile_id}: {response.status_code} {response.text}")
        return response.json()

    def _follow(self, api: httpx.Client, socket, job_id: int, timeout: float = 3600) -> dict:
        deadline = time.monotonic() + timeout
        polled = time.monotonic()
        while time.monotonic() < deadline:
            try:
                message = json.loads(socket.recv(timeout=1))
            except TimeoutError:
                message = {}
            final = message.get("job") == job_id and message.get("final")
            if not final and time.monotonic() - polled < 1:
                continue
            polled = time.monotonic()
            job = api.get(f"/jobs/{job_id}").json()  # the final message, or a second passed
            if job["state"] in FINISHED:
                return job
        raise RuntimeError(f"job {job_id} did not finish within {timeout:.0f} s")

    def wait_job(self, api: httpx.Client, job_id: int, timeout: float = 3600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = api.get(f"/jobs/{job_id}").json()
            if job["state"] in FINISHED:
                return job
            time.sleep(0.05)
        raise RuntimeError(f"job {job_id} did not finish within {timeout:.0f} s")

    def run(self, profile_id: int) -> JobRun:
        """API call to job finished: the job's final message on the dashboard socket, as the
        browser learns it, then the API's answer (checked). Polling the API every 50 ms for
        it cost the web tier and PostgreSQL a few ms of CPU a poll, on the two cores the job
        and the S3 server share: a load raw s5cmd's runs did not carry. The API is still asked
        once a second, in case a message is lost."""
        with self.client() as api, self.dashboard_socket() as socket:
            started = time.perf_counter()
            job = self.start_job(api, profile_id)
            job = self._follow(api, socket, job["id"])
            seconds = time.perf_counter() - started
        if job["state"] != "succeeded":
            raise RuntimeError(f"job {job['id']} {job['state']}: {job.get('error')}")
        return JobRun(job, seconds)
