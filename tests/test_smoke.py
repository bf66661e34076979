"""The real parts start and talk: uvicorn serves the ASGI app, Celery round-trips via Redis."""

from __future__ import annotations

import urllib.request
import uuid

import pytest

from tests.support import enrol_totp
from transfers.tasks import ping


def test_the_asgi_server_serves_the_login_page(live_server_url):
    with urllib.request.urlopen(f"{live_server_url}/accounts/login/", timeout=10) as response:
        body = response.read().decode()
        headers = response.headers
    assert response.status == 200
    assert "<h1>Sign in</h1>" in body
    assert 'name="password"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert len(headers["X-Request-ID"]) == 32


def test_the_asgi_server_serves_static_files(live_server_url):
    with urllib.request.urlopen(f"{live_server_url}/static/css/app.css", timeout=10) as response:
        assert response.status == 200
        assert b"--accent" in response.read()


def test_the_asgi_server_answers_the_favicon_with_the_logo(live_server_url):
    with urllib.request.urlopen(f"{live_server_url}/favicon.ico", timeout=10) as response:
        assert response.status == 200
        assert response.url.endswith(".svg")
        assert b"<svg" in response.read()


def test_the_dashboard_requires_login(live_server_url):
    request = urllib.request.Request(f"{live_server_url}/")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        opener.open(request, timeout=10)
    assert excinfo.value.code == 302
    assert excinfo.value.headers["Location"] == "/accounts/login/?next=/"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.worker
def test_a_task_round_trips_through_the_broker(celery_worker):
    payload = f"hello over redis {uuid.uuid4().hex}"
    ping.delay(payload)
    celery_worker.wait_for_output(payload, "the worker to run the task and log its return")


def test_a_signed_in_user_sees_the_dashboard(client, owner, team):
    enrol_totp(owner)  # a team admin must have MFA (MFA_REQUIRED)
    client.force_login(owner)
    response = client.get("/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<title>Dashboard · SyncPortal</title>" in content
    assert "Data Platform" in content and "Team admin" in content
    assert "Nothing is running." in content
