"""WebSocket access: origin validated, session authenticated and current, policy met."""

from __future__ import annotations

import time

from asgiref.sync import async_to_sync
from channels.testing.websocket import WebsocketCommunicator

from accounts.signals import SESSION_STARTED_KEY
from tests.test_permission_matrix import SOCKETS, _socket_scenario, socket_test_app

SOCKET = SOCKETS[0]


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
    connected, received = async_to_sync(_socket_scenario)(SOCKET, {"team": team.pk}, cookie)
    assert (connected, received) == (False, None)


def test_an_operator_without_mfa_is_refused(client, operator, team):
    client.force_login(operator)
    cookie = client.cookies["sessionid"].value
    connected, _ = async_to_sync(_socket_scenario)(SOCKET, {"team": team.pk}, cookie)
    assert connected is False
