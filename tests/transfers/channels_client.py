"""Opening the real ASGI app's WebSockets as a signed-in user, from synchronous tests."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from syncportal.asgi import application


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def communicator(path: str, *, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


def live_socket(web_server, path: str, *, cookie: bytes | None = None):
    """A real WebSocket (the `websockets` client) to the `web_server` fixture's uvicorn."""
    from websockets.sync.client import connect

    url = web_server.url.replace("http://", "ws://", 1) + path
    headers = {"Cookie": cookie.decode()} if cookie is not None else {}
    return connect(url, origin=web_server.url, additional_headers=headers, open_timeout=10)
