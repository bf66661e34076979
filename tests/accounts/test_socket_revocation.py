"""An open socket stops once its user may no longer watch: deactivated, signed out, removed
from the team or out of the policy after a role change; and, as a backstop, after a change
made behind the portal's back. Real sockets to uvicorn; the changes are made here, in the
test process, and reach the server through the channel layer on Redis."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from websockets.exceptions import ConnectionClosed

from accounts import services
from accounts.access import Role
from accounts.models import Membership, User
from accounts.realtime import NOT_FOUND, UNAUTHENTICATED
from tests.conftest import run_web_server
from tests.support import child_env, database_url, enrol_totp, wait_until
from tests.transfers.channels_client import live_socket, session_cookie
from transfers.models import Job
from transfers.progress import broadcast_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(team):
    return Job.objects.create(team=team, profile_name="nightly", options={}, objects_total=10)


@contextmanager
def opened(server, path: str, cookie: bytes):
    """A socket that the server accepted and kept open (a job's snapshot read)."""
    with live_socket(server, path, cookie=cookie) as ws:
        if path.startswith("/ws/jobs/"):
            assert json.loads(ws.recv(timeout=10))["type"] == "job.snapshot"
        yield ws


def close_code(ws, timeout: float = 15.0) -> int:
    """Wait for the server to close the socket and return its code; the socket may still
    deliver what was sent before."""

    def closed():
        try:
            ws.recv(timeout=0.1)
        except TimeoutError:
            return None
        except ConnectionClosed as closing:
            return closing.rcvd.code if closing.rcvd else -1
        return None  # a message sent before the change; keep waiting for the close

    return wait_until(closed, "the server to close the socket", timeout=timeout)


def next_update(ws) -> dict:
    message = json.loads(ws.recv(timeout=10))
    assert message["type"] == "job.update", message
    return message


def test_it_closes_every_socket_of_a_user_who_is_deactivated(web_server, job, viewer):
    cookie = session_cookie(viewer)
    with (
        opened(web_server, f"/ws/jobs/{job.pk}/", cookie) as job_socket,
        opened(web_server, "/ws/dashboard/", cookie) as dashboard,
    ):
        viewer.is_active = False
        viewer.save()  # as Django's admin does

        assert close_code(job_socket) == UNAUTHENTICATED
        assert close_code(dashboard) == UNAUTHENTICATED


def test_it_closes_the_socket_of_the_session_that_signs_out_only(web_server, client, job, viewer):
    client.force_login(viewer)
    signing_out = f"sessionid={client.cookies['sessionid'].value}".encode()
    with (
        opened(web_server, f"/ws/jobs/{job.pk}/", signing_out) as leaving,
        opened(web_server, f"/ws/jobs/{job.pk}/", session_cookie(viewer)) as elsewhere,
    ):
        assert client.post("/accounts/logout/").status_code == 302

        assert close_code(leaving) == UNAUTHENTICATED
        broadcast_job(job)
        assert next_update(elsewhere)["job"] == job.pk  # another browser, still signed in


def test_it_stops_a_member_removed_from_the_team(
    web_server, job, team, other_team, viewer, owner, outsider
):
    services.add_member(other_team, viewer, Role.VIEWER, actor=outsider)
    theirs = Job.objects.create(team=other_team, profile_name="theirs", options={})
    cookie = session_cookie(viewer)
    with (
        opened(web_server, f"/ws/jobs/{job.pk}/", cookie) as job_socket,
        opened(web_server, "/ws/dashboard/", cookie) as dashboard,
    ):
        services.remove_member(Membership.objects.get(user=viewer, team=team), actor=owner)

        assert close_code(job_socket) == NOT_FOUND
        # The dashboard stays open for the team the viewer still has, and only for that one.
        broadcast_job(job)
        broadcast_job(theirs)
        assert next_update(dashboard)["job"] == theirs.pk


def test_it_closes_a_socket_that_a_role_change_puts_out_of_policy(
    web_server, job, team, viewer, owner
):
    with opened(web_server, f"/ws/jobs/{job.pk}/", session_cookie(viewer)) as socket:
        # Operators must have MFA, and this viewer has none: the session is no longer enough.
        services.set_role(Membership.objects.get(user=viewer, team=team), Role.OPERATOR)

        assert close_code(socket) == UNAUTHENTICATED


def test_it_stops_a_superuser_who_loses_the_role(web_server, job):
    admin = User.objects.create_superuser("root", "root@example.com", "correct horse battery")
    enrol_totp(admin)
    with opened(web_server, f"/ws/jobs/{job.pk}/", session_cookie(admin)) as socket:
        admin.is_superuser = False
        admin.save()

        assert close_code(socket) == NOT_FOUND


def test_it_notices_a_change_made_behind_the_portals_back(process_env, tmp_path, job, viewer):
    from django.db import connection

    env = child_env(
        DATABASE_URL=database_url(connection.settings_dict), SOCKET_ACCESS_RECHECK_SECONDS="1"
    )
    server = run_web_server(env, tmp_path / "web.log")
    try:
        with opened(server, f"/ws/jobs/{job.pk}/", session_cookie(viewer)) as socket:
            User.objects.filter(pk=viewer.pk).update(is_active=False)  # no signal, no message

            assert close_code(socket) == UNAUTHENTICATED
    finally:
        server.process.stop()
