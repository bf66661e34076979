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

from accounts import audit
from accounts.access import Role
from accounts.models import Membership, Team, User
from accounts.realtime import GroupConsumer
from accounts.services import create_api_token
from tests.support import clear_app_cache, enrol_totp
from transfers.engine import ManifestEntry
from transfers.manifests import Built
from transfers.models import (
    Delivery,
    Endpoint,
    Job,
    JobFailure,
    JobSample,
    Notification,
    SkippedRun,
    SyncProfile,
)

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
NOTIFICATION_FORM = {"channel": "email", "target": "ops@example.com", "events": "job.failed"}

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
    # Re-authentication at the SSO provider: local accounts are sent to their own way (password).
    Door("GET", "/accounts/reauthenticate/sso/", statuses(302, 302, 302, 302, 302)),
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
    Door("GET", "/profiles/schedule/?schedule=30+2+*+*+*", READ_ALL),  # reads no data
    # Notifications: members read them and the delivery log; operators and admins manage them.
    Door("POST", "/profiles/{profile}/notifications/", OPERATE_POST, NOTIFICATION_FORM),
    Door("GET", "/profiles/{profile}/deliveries/", IN_TEAM),
    Door("POST", "/notifications/{notification}/enabled/", OPERATE_POST, {"enabled": "on"}),
    Door("POST", "/notifications/{notification}/delete/", OPERATE_POST),
    # Jobs: members read (and download failures); operators and admins act on them.
    Door("GET", "/jobs/", READ_ALL),
    Door("GET", "/jobs/{job}/", IN_TEAM),
    Door("GET", "/jobs/{job}/failures.csv", IN_TEAM),
    Door("POST", "/jobs/{job}/cancel/", OPERATE_POST),
    Door("POST", "/jobs/{job}/retry/", OPERATE_POST),
    Door("POST", "/jobs/{job}/approve/", OPERATE_POST),
    Door("GET", "/audit/", statuses(200, 403, 403, 200, 302)),
    Door("GET", "/audit/export.csv", statuses(200, 403, 403, 200, 302)),
    Door("GET", "/jobs/{finished_job}/manifest/", IN_TEAM),
]

API_IN_TEAM = statuses(200, 200, 200, 404, 401)
API_ADMIN = statuses(None, 403, 403, 404, 401)  # admin's status set per row
API_EVERYONE = statuses(200, 200, 200, 200, 401)  # each sees their own teams' share


def api_operate(status: int) -> dict[str, int]:
    return statuses(status, status, 403, 404, 401)


AUDIT_READERS = statuses(200, 403, 403, 200, 401)  # team admins (outsider: of their team)
ENDPOINT_IN = {
    "team_id": "{team}",
    "name": "archive",
    "access_key_id": "AKIA",
    "secret_access_key": "matrix-secret",
}
PROFILE_IN = {
    "team_id": "{team}",
    "name": "hourly",
    "source_endpoint": "{endpoint}",
    "source_bucket": "in-bucket",
    "destination_endpoint": "{endpoint}",
    "destination_bucket": "out-bucket",
}
NOTIFICATION_IN = {"channel": "email", "target": "ops@example.com", "events": ["job.failed"]}

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
    # Endpoints: admins manage, operators test, everyone in the team reads.
    Door("GET", "/api/v1/endpoints", API_EVERYONE),
    Door("POST", "/api/v1/endpoints", statuses(201, 403, 403, 422, 401), ENDPOINT_IN),
    Door("GET", "/api/v1/endpoints/{endpoint}", API_IN_TEAM),
    Door("PATCH", "/api/v1/endpoints/{endpoint}", {**API_ADMIN, "admin": 200}, {"region": "x-1"}),
    Door(
        "PUT",
        "/api/v1/endpoints/{endpoint}/credentials",
        {**API_ADMIN, "admin": 200},
        {"secret_access_key": "rotated"},
    ),
    Door("DELETE", "/api/v1/endpoints/{spare_endpoint}", {**API_ADMIN, "admin": 204}),
    Door("POST", "/api/v1/endpoints/{endpoint}/test", api_operate(200)),
    # Profiles: operators write and run.
    Door("GET", "/api/v1/profiles", API_EVERYONE),
    Door("POST", "/api/v1/profiles", statuses(201, 201, 403, 422, 401), PROFILE_IN),
    Door("GET", "/api/v1/profiles/{profile}", API_IN_TEAM),
    Door("PATCH", "/api/v1/profiles/{profile}", api_operate(200), {"workers": 8}),
    Door("DELETE", "/api/v1/profiles/{spare_profile}", api_operate(204)),
    Door("POST", "/api/v1/profiles/{profile}/run", api_operate(201)),
    # The world's endpoint answers nobody: a preview that passed the access check is a 502.
    Door("POST", "/api/v1/profiles/{profile}/preview", api_operate(502)),
    Door("GET", "/api/v1/profiles/{profile}/skipped-runs", API_IN_TEAM),
    # Notifications: members read them and their deliveries; operators and admins manage them.
    Door("GET", "/api/v1/profiles/{profile}/notifications", API_IN_TEAM),
    Door("POST", "/api/v1/profiles/{profile}/notifications", api_operate(201), NOTIFICATION_IN),
    Door("GET", "/api/v1/notifications/{notification}", API_IN_TEAM),
    Door("PATCH", "/api/v1/notifications/{notification}", api_operate(200), {"enabled": False}),
    Door("DELETE", "/api/v1/notifications/{notification}", api_operate(204)),
    Door("GET", "/api/v1/notifications/{notification}/deliveries", API_IN_TEAM),
    # Jobs.
    Door("GET", "/api/v1/jobs", API_EVERYONE),
    Door("GET", "/api/v1/jobs/{job}", API_IN_TEAM),
    Door("POST", "/api/v1/jobs/{job}/cancel", api_operate(200)),
    Door("POST", "/api/v1/jobs/{failed_job}/retry", api_operate(201)),
    Door("POST", "/api/v1/jobs/{waiting_job}/approve", api_operate(200)),
    Door("GET", "/api/v1/jobs/{finished_job}/samples", API_IN_TEAM),
    Door("GET", "/api/v1/jobs/{finished_job}/failures", API_IN_TEAM),
    Door("GET", "/api/v1/jobs/{finished_job}/manifest", API_IN_TEAM),
    # The audit trail: team admins, auditors and superusers.
    Door("GET", "/api/v1/audit", AUDIT_READERS),
    Door("GET", "/api/v1/audit/export", AUDIT_READERS),
    Door("GET", "/api/v1/audit/{event}", statuses(200, 403, 403, 404, 401)),
]
WRITES = [door for door in API if door.method != "GET"]


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
    users = {"admin": owner, "operator": operator, "viewer": viewer, "outsider": outsider}
    teams = {"admin": team, "operator": team, "viewer": team, "outsider": other_team}
    # Port 9 (discard) on loopback: nothing listens, so a connection fails at once.
    endpoint = Endpoint.objects.create(
        team=team, name="s3", url="http://127.0.0.1:9", access_key_id="a", secret_access_key="s"
    )
    spare = Endpoint.objects.create(
        team=team, name="unused", access_key_id="a", secret_access_key="s"
    )
    locations = {
        "source_endpoint": endpoint,
        "source_bucket": "in-bucket",
        "destination_endpoint": endpoint,
        "destination_bucket": "out-bucket",
    }
    profile = SyncProfile.objects.create(team=team, name="matrix", **locations)
    spare_profile = SyncProfile.objects.create(team=team, name="spare", **locations)
    finished = Job.objects.create(team=team, profile_name="matrix", state="succeeded")
    JobSample.objects.create(job=finished, t=finished.created_at, objects_done=1, bytes_done=1)
    JobFailure.objects.create(job=finished, key="a", operation="verify", error="size differs")
    Built([ManifestEntry("a", "copied", 1, "")]).save(finished)
    hook = Notification.objects.create(
        profile=profile,
        channel="webhook",
        target="http://127.0.0.1:9/hook",
        events=["job.failed"],
        secret="matrix-webhook-secret",
    )
    Delivery.objects.create(notification=hook, event="job.failed", payload={})
    SkippedRun.objects.create(team=team, profile=profile, reason="a job was in progress")
    return {
        "users": users,
        "teams": teams,
        "ids": {
            "team": team.pk,
            "team_slug": team.slug,
            "member_id": member.pk,
            "job": Job.objects.create(team=team, profile_name="matrix").pk,
            "endpoint": endpoint.pk,
            "spare_endpoint": spare.pk,
            "profile": profile.pk,
            "spare_profile": spare_profile.pk,
            "failed_job": Job.objects.create(team=team, profile_name="x", state="failed").pk,
            "waiting_job": Job.objects.create(
                team=team, profile_name="x", state="awaiting_approval"
            ).pk,
            "finished_job": finished.pk,
            "notification": hook.pk,
            "event": audit.record("team.created", target=team, team=team).pk,
        },
    }


def _filled(data: dict | None, ids: dict) -> dict | None:
    """Request bodies name the world's objects as "{placeholders}", like the paths."""
    if data is None:
        return None
    filled = {}
    for key, value in data.items():
        if isinstance(value, str) and value.startswith("{"):
            value = int(value.format(**ids))
        filled[key] = value
    return filled


def _api_call(client, door: Door, ids: dict, secret: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    kwargs = {}
    if door.method != "GET":  # a JSON body, or none at all (not an empty form)
        kwargs = {"data": _filled(door.data, ids) or "", "content_type": "application/json"}
    return getattr(client, door.method.lower())(door.path.format(**ids), **kwargs, **headers)


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
    secret = None
    if role != "anonymous":
        user, team = world["users"][role], world["teams"][role]
        _, secret = create_api_token(
            user, name="matrix", scope="write", teams=[team], expires_in_days=1
        )
    response = _api_call(client, door, world["ids"], secret)
    assert response.status_code == door.expect[role], (role, door, response.content[:200])
    if response.status_code >= 400:
        assert "detail" in response.json()


@pytest.mark.parametrize("door", WRITES, ids=str)
def test_a_read_only_token_writes_nothing(client, world, door):
    """Even the team's admin: the token's scope caps the role."""
    _, secret = create_api_token(
        world["users"]["admin"],
        name="ro",
        scope="read",
        teams=[world["teams"]["admin"]],
        expires_in_days=1,
    )
    response = _api_call(client, door, world["ids"], secret)
    assert response.status_code == 403, (door, response.content[:200])
    assert response.json()["detail"] == "This token is read-only."


@pytest.mark.parametrize("door", API, ids=str)
def test_a_token_of_another_team_reaches_what_an_outsider_does(client, world, door):
    """The team's admin, also an admin elsewhere, with a token bound to the other team only."""
    admin, other_team = world["users"]["admin"], world["teams"]["outsider"]
    Membership.objects.create(user=admin, team=other_team, role=Role.ADMIN)
    _, secret = create_api_token(
        admin, name="elsewhere", scope="write", teams=[other_team], expires_in_days=1
    )
    response = _api_call(client, door, world["ids"], secret)
    assert response.status_code == door.expect["outsider"], (door, response.content[:200])


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
