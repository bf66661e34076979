"""/healthz and /readyz: probes get a truthful answer, whatever the Host header."""

from __future__ import annotations

import pytest
from django.test import override_settings

from syncportal.processes import redis_server_binary
from tests.support import ChildProcess, free_port, tcp_open, wait_until


def test_it_says_the_process_is_up(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_is_ready_when_database_redis_and_broker_answer(client):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "broker": True,
    }


@pytest.fixture
def doomed_redis(tmp_path):
    """A Redis of our own that the test can stop."""
    port = free_port()
    server = ChildProcess(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        {},
        tmp_path / "redis.log",
    )
    wait_until(lambda: tcp_open(port), "the test Redis")
    yield server, f"redis://127.0.0.1:{port}/0"
    server.stop()


@pytest.mark.django_db
def test_it_is_not_ready_when_redis_is_down(client, doomed_redis):
    server, url = doomed_redis
    with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url):
        assert client.get("/readyz").status_code == 200
        server.stop()
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert "127.0.0.1" not in response.content.decode()  # no URLs or hosts leak


def test_probes_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
