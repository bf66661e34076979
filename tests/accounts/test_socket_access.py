"""WebSocket access: origin validated, session authenticated and current, policy met."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from asgiref.sync import async_to_sync
from channels.testing.websocket import WebsocketCommunicator
from websockets.exceptions import ConnectionClosed

from accounts.realtime import NOT_FOUND, UNAUTHENTICATED
from accounts.security import SESSION_STARTED_KEY
from tests.support import enrol_totp
from tests.test_permission_matrix import SOCKETS, _socket_scenario, socket_test_app
from tests.transfers.channels_client import live_socket, session_cookie
from transfers.models import Job

# A session that may not be used closes the socket as if there were none.
REFUSED = replace(SOCKETS[0], expect_close=UNAUTHENTICATED)


async def connect_from(origin: bytes, path: str, cookie: str) -> bool:
    headers = [(b"origin", origin), (b"cookie", f"sessionid={cookie}".encode())]
    communicator = WebsocketCommunicator(socket_test_app(), path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected


def test_a_foreign_origin_is_refused(client, viewer, team):
    client.force_login(viewer)
    cookie = client.cookies["sessionid"].value
    path = f"/ws/test/teams/{team.pk}/"
    assert async_to_sync(connect_from)(b"http://testserver", path, cookie) is True
    assert async_to_sync(connect_from)(b"https://evil.example.com", path, cookie) is False


def test_a_session_past_its_absolute_timeout_is_refused(client, viewer, team, settings):
    client.force_login(viewer)
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - settings.SESSION_ABSOLUTE_TIMEOUT - 1
    session.save()
    cookie = client.cookies["sessionid"].value
    closed_with, received = async_to_sync(_socket_scenario)(REFUSED, {"team": team.pk}, cookie)
    assert (closed_with, received) == (UNAUTHENTICATED, None)


def test_an_operator_without_mfa_is_refused(client, operator, team):
    client.force_login(operator)
    cookie = client.cookies["sessionid"].value
    closed_with, _ = async_to_sync(_socket_scenario)(REFUSED, {"team": team.pk}, cookie)
    assert closed_with == UNAUTHENTICATED


# --- What a browser sees (a real socket to uvicorn) -------------------------------------------


def closing_code(web_server, path: str, cookie: bytes | None) -> int:
    """The close code of a socket that the server accepts and then closes straight away."""
    with (
        live_socket(web_server, path, cookie=cookie) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    return closed.value.rcvd.code


@pytest.mark.django_db(transaction=True)
def test_it_tells_a_browser_without_a_session_to_sign_in(web_server, team):
    job = Job.objects.create(team=team, profile_name="nightly", options={})
    for path in (f"/ws/jobs/{job.pk}/", "/ws/dashboard/"):
        assert closing_code(web_server, path, None) == UNAUTHENTICATED


@pytest.mark.django_db(transaction=True)
def test_it_answers_the_same_for_a_foreign_job_and_a_missing_one(web_server, team, outsider):
    job = Job.objects.create(team=team, profile_name="nightly", options={})
    enrol_totp(outsider)  # a team admin: the MFA policy applies to sockets too
    cookie = session_cookie(outsider)
    assert closing_code(web_server, f"/ws/jobs/{job.pk}/", cookie) == NOT_FOUND
    assert closing_code(web_server, "/ws/jobs/999999/", cookie) == NOT_FOUND
