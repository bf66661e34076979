"""Fixtures of the transfer tests: real S3 services with real credentials, endpoints and
profiles that point at them, local directories under LOCAL_ROOTS, and job helpers.

`s3_a` and `s3_b` are two moto servers in their own processes, each with its own IAM user
(INITIAL_NO_AUTH_ACTION_COUNT makes moto check signatures after the set-up calls), standing
for two providers. They are never reset (that would forget the IAM user): every test makes
its own buckets.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from tests.support import (
    ChildProcess,
    child_env,
    free_port,
    start_celery_worker,
    tcp_open,
    wait_until,
)
from tests.transfers.support import S3Service


def _start_s3_service(tmp_path_factory, name: str) -> tuple[ChildProcess, S3Service]:
    port = free_port()
    log = tmp_path_factory.mktemp(f"moto-{name}") / "moto.log"
    # The first three requests (create user, key, policy) go unsigned; every later one is checked.
    env = child_env(INITIAL_NO_AUTH_ACTION_COUNT="3")
    process = ChildProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env, log
    )
    wait_until(lambda: tcp_open(port), f"the S3 server {name}", timeout=30)
    service = S3Service.provision(f"http://127.0.0.1:{port}", user=f"syncportal-{name}")
    return process, service


@pytest.fixture(scope="session")
def s3_a(tmp_path_factory):
    process, service = _start_s3_service(tmp_path_factory, "a")
    yield service
    process.stop()


@pytest.fixture(scope="session")
def s3_b(tmp_path_factory):
    process, service = _start_s3_service(tmp_path_factory, "b")
    yield service
    process.stop()


@pytest.fixture
def proxy_a(s3_a):
    """A fault-injecting proxy in front of `s3_a` (see tests/transfers/faults.py)."""
    from tests.transfers.faults import S3Proxy

    proxy = S3Proxy(s3_a.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def endpoint_a(team, s3_a):
    return s3_a.endpoint(team, "Provider A")


@pytest.fixture
def endpoint_b(team, s3_b):
    return s3_b.endpoint(team, "Provider B")


@pytest.fixture
def local_dir():
    """A fresh directory under the first LOCAL_ROOTS entry (removed afterwards)."""
    import shutil

    from django.conf import settings

    path = Path(settings.LOCAL_ROOTS[0]) / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def transfer_worker(env: dict, log: Path, *, queue: str, name: str, lease: int) -> ChildProcess:
    """A Celery worker of its own, on its own queue, with a short job lease."""
    worker_env = {**env, "TRANSFER_LEASE_SECONDS": str(lease), "TRANSFER_QUEUE": queue}
    return start_celery_worker(worker_env, log, name=name, concurrency=1, queue=queue)


def audit_actions() -> list[str]:
    from accounts.models import AuditEvent

    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
