"""Who reaches what, through every door: pages, API routes and WebSocket groups.

Table-driven: each row names a door and the status each role gets. Later features add rows
(their pages, routes and sockets) to the tables below; the runners do not change. The cast:
`admin` (alice), `operator` (oscar) and `viewer` (vera) of the team "Data Platform";
`outsider` (mallory), admin of another team; `anonymous`. Operators and admins have MFA, as
the policy requires. API rows run with a write-scope personal token of each role, bound to
that role's team; anonymous callers send none. Outsiders get 404 for our team's objects and
receive nothing on our sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.auth import AuthMiddlewareStack
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing.websocket import WebsocketCommunicator
from django.urls import path

from accounts.access import Role
from accounts.models import Membership, Team, User
from accounts.realtime import GroupConsumer
from accounts.services import create_api_token
from tests.support import clear_app_cache, enrol_totp
from transfers.models import Endpoint, Job, SyncProfile

ROLES = ("admin", "operator", "viewer", "outsider", "anonymous")


def statuses(admin, operator, viewer, outsider, anonymous) -> dict[str, int]:
    return dict(zip(ROLES, (admin, operator, viewer, outsider, anonymous), strict=True))


@dataclass(frozen=True)
class Door:
    method: str
    path: str  # formatted with the ids of the `world` fixture
    expect: dict[str, Any]
    data: dict | None = field(default=None, hash=False)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


READ_ALL = statuses(200, 200, 200, 200, 302)
IN_TEAM = statuses(200, 200, 200, 404, 302)
TEAM_ADMIN_POST = statuses(302, 403, 403, 404, 302)
TEAM_ADMIN_PAGE = statuses(200, 403, 403, 404, 302)
OPERATE_POST = statuses(302, 302, 403, 404, 302)
OPERATE_PAGE = statuses(200, 200, 403, 404, 302)
# Forms post the ids of the world's objects; string values are formatted like paths.
ENDPOINT_FORM = {
    "name": "Matrix S3",
    "url": "http://127.0.0.1:9",
    "region": "us-east-1",
    "addressing_style": "path",
    "verify_tls": "on",
    "access_key_id": "AKIAMATRIX",
}
PROFILE_FORM = {
    "name": "Matrix copy",
    "source_endpoint": "{endpoint}",
    "source_bucket": "raw",
    "destination_endpoint": "{endpoint}",
    "destination_bucket": "archive",
    "mode": "sync",
    "compare": "size_mtime",
    "delete_threshold": "100",
    "workers": "64",
    "concurrency": "5",
    "part_size_mb": "50",
}

PAGES = [
    Door("GET", "/", READ_ALL),
    Door("GET", "/teams/", READ_ALL),
    Door("GET", "/teams/{team_slug}/", IN_TEAM),
    Door("POST", "/teams/new/", statuses(403, 403, 403, 403, 302), {"name": "Research"}),
    Door("POST", "/teams/{team_slug}/members/", TEAM_ADMIN_POST, {"username": "newcomer"}),
    Door(
        "POST",
        "/teams/{team_slug}/members/{member_id}/role/",
        TEAM_ADMIN_POST,
        {"role": "operator"},
    ),
    Door("POST", "/teams/{team_slug}/members/{member_id}/remove/", TEAM_ADMIN_POST),
    Door("GET", "/tokens/", READ_ALL),
    Door("GET", "/accounts/2fa/", READ_ALL),
    Door("GET", "/api/v1/docs", statuses(200, 200, 200, 200, 200)),
    # Endpoints: members read, operators test, team admins manage. An outsider (admin of
    # another team) may add endpoints to their own team, not to ours: the form refuses (422).
    Door("GET", "/endpoints/", READ_ALL),
    Door("GET", "/endpoints/new/", statuses(200, 403, 403, 200, 302)),
    Door(
        "POST",
        "/endpoints/new/",
        statuses(302, 403, 403, 422, 302),
        {**ENDPOINT_FORM, "team": "{team}", "secret_access_key": "s3cret"},
    ),
    Door("GET", "/endpoints/{endpoint}/", IN_TEAM),
    Door("GET", "/endpoints/{endpoint}/edit/", TEAM_ADMIN_PAGE),
    Door("POST", "/endpoints/{endpoint}/edit/", TEAM_ADMIN_POST, ENDPOINT_FORM),
    Door("POST", "/endpoints/{endpoint}/rotate/", TEAM_ADMIN_POST, {"secret_access_key": "n3w"}),
    Door("POST", "/endpoints/{endpoint}/test/", OPERATE_PAGE),
    Door("POST", "/endpoints/{endpoint}/delete/", TEAM_ADMIN_POST),
    # Profiles: members read; operators and admins create, edit, preview, run and delete.
    Door("GET", "/profiles/", READ_ALL),
    Door("GET", "/profiles/new/", statuses(200, 200, 403, 200, 302)),
    Door(
        "POST",
        "/profiles/new/",
        statuses(302, 302, 403, 422, 302),
        {**PROFILE_FORM, "team": "{team}"},
    ),
    Door("GET", "/profiles/{profile}/", IN_TEAM),
    Door("GET", "/profiles/{profile}/edit/", OPERATE_PAGE),
    Door("POST", "/profiles/{profile}/edit/", OPERATE_POST, PROFILE_FORM),
    Door("POST", "/profiles/{profile}/preview/", OPERATE_PAGE),
    Door("POST", "/profiles/{profile}/run/", OPERATE_POST),
    Door("POST", "/profiles/{profile}/delete/", OPERATE_POST),
    # Jobs: members read (and download failures); operators and admins act on them.
    Door("GET", "/jobs/", READ_ALL),
    Door("GET", "/jobs/{job}/", IN_TEAM),
    Door("GET", "/jobs/{job}/failures.csv", IN_TEAM),
    Door("POST", "/jobs/{job}/cancel/", OPERATE_POST),
    Door("POST", "/jobs/{job}/retry/", OPERATE_POST),
    Door("POST", "/jobs/{job}/approve/", OPERATE_POST),
]

API_IN_TEAM = statuses(200, 200, 200, 404, 401)
API_ADMIN = statuses(None, 403, 403, 404, 401)  # admin's status set per row

API = [
    Door("GET", "/api/v1/teams", statuses(200, 200, 200, 200, 401)),
    Door("GET", "/api/v1/teams/{team}", API_IN_TEAM),
    Door("GET", "/api/v1/teams/{team}/members", API_IN_TEAM),
    Door("POST", "/api/v1/teams", statuses(403, 403, 403, 403, 401), {"name": "Research"}),
    Door(
        "POST",
        "/api/v1/teams/{team}/members",
        {**API_ADMIN, "admin": 201},
        {"username": "newcomer"},
    ),
    Door(
        "PATCH",
        "/api/v1/teams/{team}/members/{member_id}",
        {**API_ADMIN, "admin": 200},
        {"role": "operator"},
    ),
    Door("DELETE", "/api/v1/teams/{team}/members/{member_id}", {**API_ADMIN, "admin": 204}),
]


# --- WebSocket groups -------------------------------------------------------------------------


class TeamSocket(GroupConsumer):
    """Test-only consumer: a team's live channel, joined through the shared access check."""

    def group_for(self, user):
        team_id = self.scope["url_route"]["kwargs"]["team_id"]
        return (
            f"team.{team_id}" if Team.objects.visible_to(user).filter(pk=team_id).exists() else None
        )


def socket_test_app():
    """The same middleware stack as syncportal.asgi, routing the test-only consumer."""
    routes = [path("ws/test/teams/<int:team_id>/", TeamSocket.as_asgi())]
    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(routes)))


def portal_app():
    from syncportal.asgi import application

    return application


@dataclass(frozen=True)
class Socket:
    path: str
    group: str
    expect: dict[str, bool]  # True: receives the group's messages
    application: Any = socket_test_app
    # Whether the handshake succeeds, where it differs from `expect` (a dashboard socket opens
    # for anyone signed in, but carries only the caller's own teams).
    connects: dict[str, bool] | None = field(default=None, hash=False)
    initial_messages: int = 0  # sent on connect, before any group message (a job's snapshot)
    expect_receives: bool = False  # set per role by the runner

    def __str__(self) -> str:
        return self.path


SOCKETS = [
    Socket("/ws/test/teams/{team}/", "team.{team}", statuses(True, True, True, False, False)),
    Socket(
        "/ws/jobs/{job}/",
        "job.{job}",
        statuses(True, True, True, False, False),
        application=portal_app,
        initial_messages=1,
    ),
    Socket(
        "/ws/dashboard/",
        "team.{team}",
        statuses(True, True, True, False, False),
        application=portal_app,
        connects=statuses(True, True, True, True, False),
    ),
]


# --- The world and the runners ----------------------------------------------------------------


@pytest.fixture
def world(team, other_team, owner, operator, viewer, outsider):
    clear_app_cache()
    for user in (owner, operator, outsider):
        enrol_totp(user)
    User.objects.create_user("newcomer", "newcomer@example.com", "correct horse battery")
    member = User.objects.create_user("member", "member@example.com", "correct horse battery")
    Membership.objects.create(user=member, team=team, role=Role.VIEWER)
    endpoint = Endpoint.objects.create(
        team=team,
        name="Matrix",
        url="http://127.0.0.1:9",
        access_key_id="AKIAMATRIX",
        secret_access_key="matrix-secret",
    )
    profile = SyncProfile.objects.create(
        team=team,
        name="Matrix",
        source_endpoint=endpoint,
        source_bucket="raw",
        destination_endpoint=endpoint,
        destination_bucket="archive",
    )
    users = {"admin": owner, "operator": operator, "viewer": viewer, "outsider": outsider}
    teams = {"admin": team, "operator": team, "viewer": team, "outsider": other_team}
    return {
        "users": users,
        "teams": teams,
        "ids": {
            "team": team.pk,
            "team_slug": team.slug,
            "member_id": member.pk,
            "job": Job.objects.create(team=team, profile_name="matrix").pk,
            "endpoint": endpoint.pk,
            "profile": profile.pk,
        },
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", PAGES, ids=str)
def test_pages(client, world, door, role):
    if role != "anonymous":
        client.force_login(world["users"][role])
    url = door.path.format(**world["ids"])
    data = {k: v.format(**world["ids"]) for k, v in (door.data or {}).items()}
    response = getattr(client, door.method.lower())(url, data=data)
    assert response.status_code == door.expect[role], (role, url, response.get("Location"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", API, ids=str)
def test_api_routes(client, world, door, role):
    headers = {}
    if role != "anonymous":
        user, team = world["users"][role], world["teams"][role]
        _, secret = create_api_token(
            user, name="matrix", scope="write", teams=[team], expires_in_days=1
        )
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    url = door.path.format(**world["ids"])
    kwargs = {"data": door.data, "content_type": "application/json"} if door.data else {}
    response = getattr(client, door.method.lower())(url, **kwargs, **headers)
    assert response.status_code == door.expect[role], (role, url, response.content[:200])
    if response.status_code >= 400:
        assert "detail" in response.json()


async def _socket_scenario(socket: Socket, ids: dict, cookie: str | None) -> tuple[bool, Any]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(
        socket.application(), socket.path.format(**ids), headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    if connected:
        for _ in range(socket.initial_messages):
            await communicator.receive_json_from(timeout=5)
    await get_channel_layer().group_send(
        socket.group.format(**ids), {"type": "relay", "payload": {"secret": "team data"}}
    )
    received = None
    if connected and socket.expect_receives:
        received = await communicator.receive_json_from(timeout=5)
    else:
        assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
    return connected, received


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("socket", SOCKETS, ids=str)
def test_websocket_groups(client, world, socket, role):
    cookie = None
    if role != "anonymous":
        client.force_login(world["users"][role])
        cookie = client.cookies["sessionid"].value
    scenario = replace(socket, expect_receives=socket.expect[role])
    connected, received = async_to_sync(_socket_scenario)(scenario, world["ids"], cookie)
    assert connected is (socket.connects or socket.expect)[role]
    assert (received is not None) is socket.expect[role]
    if received is not None:
        assert received == {"secret": "team data"}
