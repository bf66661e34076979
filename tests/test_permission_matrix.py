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

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.account.internal.flows.login import record_authentication
from asgiref.sync import async_to_sync
from channels.auth import AuthMiddlewareStack
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing.websocket import WebsocketCommunicator
from django.apps import apps
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver, path, resolve
from django.utils import timezone

from accounts import audit
from accounts.access import Role
from accounts.models import ApiToken, Membership, Team, User
from accounts.realtime import NOT_FOUND, UNAUTHENTICATED, GroupConsumer
from accounts.services import create_api_token
from syncportal.fields import Secret
from tests.support import clear_app_cache, enrol_totp
from transfers.engine import ManifestEntry
from transfers.manifests import ManifestWriter
from transfers.models import (
    Delivery,
    Endpoint,
    Job,
    JobFailure,
    JobSample,
    JobShard,
    Notification,
    Preview,
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
TOKEN_FORM = {"name": "matrix page", "scope": "read", "teams": "{team}", "expires_in_days": "1"}
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
    # Tokens: everyone manages their own; a token of someone else's is a 404.
    Door("GET", "/tokens/", READ_ALL),
    Door("GET", "/tokens/new/", READ_ALL),
    # ... bound to the teams they belong to: our team is not among an outsider's choices.
    Door("POST", "/tokens/new/", statuses(200, 200, 200, 422, 302), TOKEN_FORM),
    Door("POST", "/tokens/{token}/revoke/", statuses(302, 404, 404, 404, 302)),
    Door("GET", "/accounts/2fa/", READ_ALL),
    # Re-authentication at the SSO provider: local accounts are sent to their own way (password).
    Door("GET", "/accounts/reauthenticate/sso/", statuses(302, 302, 302, 302, 302)),
    Door("GET", "/api/v1/docs", statuses(200, 200, 200, 200, 200)),
    Door("GET", "/api/v1/openapi.json", statuses(200, 200, 200, 200, 200)),
    Door("GET", "/api/v1/", statuses(404, 404, 404, 404, 404)),  # django-ninja's root: no data
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
    # Browsing: every member reads (the world's endpoint answers nobody: the page says so), and
    # may have a prefix counted.
    Door("GET", "/endpoints/{endpoint}/browse/?bucket=in-bucket", IN_TEAM),
    Door(
        "POST",
        "/endpoints/{endpoint}/usage/",
        statuses(302, 302, 302, 404, 302),
        {"bucket": "in-bucket", "prefix": "a/"},
    ),
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
    # Previews: operators start and cancel them (the page follows them); members read them.
    Door("POST", "/profiles/{profile}/preview/", OPERATE_POST),
    Door("GET", "/previews/{preview}/", statuses(302, 302, 302, 404, 302)),  # htmx: a fragment
    Door("POST", "/previews/{preview}/cancel/", OPERATE_POST),
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
    Door("POST", "/jobs/{cancelled_job}/continue/", OPERATE_POST),
    Door("POST", "/jobs/{job}/approve/", OPERATE_POST),
    Door("GET", "/audit/", statuses(200, 403, 403, 200, 302)),
    Door("GET", "/audit/export.csv", statuses(200, 403, 403, 200, 302)),
    Door("GET", "/jobs/{finished_job}/manifest/", IN_TEAM),
    Door("GET", "/jobs/{finished_job}/shards/", IN_TEAM),  # the job page's Shards card
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
    # Browsing: members read; the world's endpoint answers nobody, so a listing is a 502.
    Door("GET", "/api/v1/endpoints/{endpoint}/buckets", statuses(502, 502, 502, 404, 401)),
    Door(
        "GET",
        "/api/v1/endpoints/{endpoint}/browse?bucket=in-bucket",
        statuses(502, 502, 502, 404, 401),
    ),
    Door("GET", "/api/v1/endpoints/{endpoint}/usage?bucket=in-bucket", API_IN_TEAM),
    Door(
        "POST",
        "/api/v1/endpoints/{endpoint}/usage",
        statuses(202, 202, 202, 404, 401),
        {"bucket": "in-bucket"},
    ),
    # Profiles: operators write and run.
    Door("GET", "/api/v1/profiles", API_EVERYONE),
    Door("POST", "/api/v1/profiles", statuses(201, 201, 403, 422, 401), PROFILE_IN),
    Door("GET", "/api/v1/profiles/{profile}", API_IN_TEAM),
    Door("PATCH", "/api/v1/profiles/{profile}", api_operate(200), {"workers": 8}),
    Door("DELETE", "/api/v1/profiles/{spare_profile}", api_operate(204)),
    Door("POST", "/api/v1/profiles/{profile}/run", api_operate(201)),
    # Previews are queued (202) whatever the endpoint: the worker lists, not the request.
    Door("POST", "/api/v1/profiles/{profile}/previews", api_operate(202)),
    Door("POST", "/api/v1/profiles/{profile}/preview", api_operate(202)),  # the older route
    Door("GET", "/api/v1/previews/{preview}", API_IN_TEAM),
    Door("POST", "/api/v1/previews/{preview}/cancel", api_operate(200)),
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
    Door("POST", "/api/v1/jobs/{cancelled_job}/continue", api_operate(201)),
    Door("POST", "/api/v1/jobs/{waiting_job}/approve", api_operate(200)),
    Door("GET", "/api/v1/jobs/{finished_job}/samples", API_IN_TEAM),
    Door("GET", "/api/v1/jobs/{finished_job}/failures", API_IN_TEAM),
    Door("GET", "/api/v1/jobs/{finished_job}/shards", API_IN_TEAM),
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


CLOSES_FOR_OUTSIDERS = statuses(None, None, None, NOT_FOUND, UNAUTHENTICATED)


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
    # The code a refused socket is closed with, right after its handshake; None: stays open.
    closes: dict[str, int | None]
    application: Any = socket_test_app
    initial_messages: int = 0  # sent on connect, before any group message (a job's snapshot)
    expect_receives: bool = False  # set per role by the runner
    expect_close: int | None = None  # set per role by the runner

    def __str__(self) -> str:
        return self.path


# Members watch; an outsider learns nothing (4404 whether or not the job exists); a browser
# without a session is told to sign in (4401). A dashboard opens for anyone signed in, but
# carries only the caller's own teams.
MEMBERS_WATCH = statuses(True, True, True, False, False)
SOCKETS = [
    Socket("/ws/test/teams/{team}/", "team.{team}", MEMBERS_WATCH, CLOSES_FOR_OUTSIDERS),
    Socket(
        "/ws/jobs/{job}/",
        "job.{job}",
        MEMBERS_WATCH,
        CLOSES_FOR_OUTSIDERS,
        application=portal_app,
        initial_messages=1,
    ),
    Socket(
        "/ws/previews/{preview}/",
        "preview.{preview}",
        MEMBERS_WATCH,
        CLOSES_FOR_OUTSIDERS,
        application=portal_app,
        initial_messages=1,
    ),
    Socket(
        "/ws/dashboard/",
        "team.{team}",
        MEMBERS_WATCH,
        statuses(None, None, None, None, UNAUTHENTICATED),
        application=portal_app,
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
    previewed = SyncProfile.objects.create(team=team, name="previewed", **locations)
    preview = Preview.objects.create(
        team=team, profile=previewed, state="running", expires_at=timezone.now() + timedelta(1)
    )
    finished = Job.objects.create(team=team, profile_name="matrix", state="succeeded")
    JobSample.objects.create(job=finished, t=finished.created_at, objects_done=1, bytes_done=1)
    JobFailure.objects.create(job=finished, key="a", operation="verify", error="size differs")
    ManifestWriter(finished).write([ManifestEntry("a", "copied", 1, "")]).save(finished)
    JobShard.objects.create(job=finished, seq=0, upto_key="m", state="succeeded")
    JobShard.objects.create(job=finished, seq=1, after_key="m", state="succeeded")
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
            "cancelled_job": Job.objects.create(
                team=team, profile=spare_profile, profile_name="spare", state="cancelled"
            ).pk,
            "notification": hook.pk,
            "preview": preview.pk,
            "event": audit.record("team.created", target=team, team=team).pk,
            "token": create_api_token(
                owner, name="alice's", scope="read", teams=[team], expires_in_days=1
            )[0].pk,
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


def _sign_in(client, user) -> None:
    """A session as a password sign-in just now leaves it: pages that ask for a recent sign-in
    (a new token) answer for the role, not with a request to reauthenticate."""
    client.force_login(user)
    request = RequestFactory().get("/")
    request.session = client.session
    record_authentication(request, user, method="password", username=user.username)
    request.session.save()


# Bookkeeping a request may update without changing anything it was refused: when a token
# was last used (authentication, before the access check).
NOT_STATE = {ApiToken: {"last_used_at"}}


def _state() -> dict[str, list[dict]]:
    """Every row of the portal's own tables (users, teams, memberships, tokens and their team
    bindings, the audit trail, endpoints, profiles, notifications, deliveries, jobs and their
    samples, failures and manifests), as values: a refused write must leave all of it alone.
    The audit trail included: the portal records no event for a refused request."""
    state = {}
    for app in ("accounts", "transfers"):
        for model in apps.get_app_config(app).get_models(include_auto_created=True):
            rows = model.objects.order_by("pk").values()
            skip = NOT_STATE.get(model, set())
            state[model._meta.label] = [
                {k: _comparable(v) for k, v in row.items() if k not in skip} for row in rows
            ]
    return state


def _comparable(value: Any) -> Any:
    """Secrets compare by identity; their sealed form (the stored ciphertext) by value."""
    return value.token if isinstance(value, Secret) else value


def _refused(status: int, role: str) -> bool:
    """Anonymous callers are sent to sign in (302) or told to (401); the others get 4xx."""
    return role == "anonymous" or status >= 400


def _assert_unchanged(before: dict, after: dict, door: Door, role: str) -> None:
    for label, rows in before.items():
        assert after[label] == rows, f"{door} refused for {role} but changed {label}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", PAGES, ids=str)
def test_pages(client, world, door, role):
    if role != "anonymous":
        _sign_in(client, world["users"][role])
    url = door.path.format(**world["ids"])
    data = {k: v.format(**world["ids"]) for k, v in (door.data or {}).items()}
    writes = door.method != "GET" and _refused(door.expect[role], role)
    before = _state() if writes else None
    response = getattr(client, door.method.lower())(url, data=data)
    assert response.status_code == door.expect[role], (role, url, response.get("Location"))
    if writes:
        _assert_unchanged(before, _state(), door, role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("door", API, ids=str)
def test_api_routes(client, world, door, role):
    secret = None
    if role != "anonymous":
        user, team = world["users"][role], world["teams"][role]
        _, secret = create_api_token(
            user, name="matrix", scope="write", teams=[team], expires_in_days=1
        )
    writes = door.method != "GET" and _refused(door.expect[role], role)
    before = _state() if writes else None
    response = _api_call(client, door, world["ids"], secret)
    assert response.status_code == door.expect[role], (role, door, response.content[:200])
    if response.status_code >= 400:
        assert "detail" in response.json()
    if writes:
        _assert_unchanged(before, _state(), door, role)


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
    before = _state()
    response = _api_call(client, door, world["ids"], secret)
    assert response.status_code == 403, (door, response.content[:200])
    assert response.json()["detail"] == "This token is read-only."
    _assert_unchanged(before, _state(), door, "admin with a read-only token")


@pytest.mark.parametrize("door", API, ids=str)
def test_a_token_of_another_team_reaches_what_an_outsider_does(client, world, door):
    """The team's admin, also an admin elsewhere, with a token bound to the other team only."""
    admin, other_team = world["users"]["admin"], world["teams"]["outsider"]
    Membership.objects.create(user=admin, team=other_team, role=Role.ADMIN)
    _, secret = create_api_token(
        admin, name="elsewhere", scope="write", teams=[other_team], expires_in_days=1
    )
    writes = door.method != "GET"
    before = _state() if writes else None
    response = _api_call(client, door, world["ids"], secret)
    assert response.status_code == door.expect["outsider"], (door, response.content[:200])
    if writes:
        _assert_unchanged(before, _state(), door, "admin with another team's token")


async def _socket_scenario(socket: Socket, ids: dict, cookie: str | None) -> tuple[int | None, Any]:
    """(the code the socket was closed with or None if it stays open, the message it got)."""
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(
        socket.application(), socket.path.format(**ids), headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected, "every handshake is accepted: a refusal is a close code a browser can read"
    closed_with = None
    if socket.expect_close is not None:
        closed = await communicator.receive_output(timeout=5)
        assert closed["type"] == "websocket.close", closed
        closed_with = closed["code"]
    else:
        for _ in range(socket.initial_messages):
            await communicator.receive_json_from(timeout=5)
    await get_channel_layer().group_send(
        socket.group.format(**ids), {"type": "relay", "payload": {"secret": "team data"}}
    )
    received = None
    if closed_with is None and socket.expect_receives:
        received = await communicator.receive_json_from(timeout=5)
    else:
        assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
    return closed_with, received


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("socket", SOCKETS, ids=str)
def test_websocket_groups(client, world, socket, role):
    cookie = None
    if role != "anonymous":
        client.force_login(world["users"][role])
        cookie = client.cookies["sessionid"].value
    scenario = replace(
        socket, expect_receives=socket.expect[role], expect_close=socket.closes[role]
    )
    closed_with, received = async_to_sync(_socket_scenario)(scenario, world["ids"], cookie)
    assert closed_with == socket.closes[role]
    assert (received is not None) is socket.expect[role]
    if received is not None:
        assert received == {"secret": "team data"}


# --- Every route has a row ----------------------------------------------------------------------

# What the matrix leaves to other tests, and why. Everything else the URLconf routes must have a
# row above: a new page or API operation without one fails test_every_route_has_a_row.
NOT_IN_THE_MATRIX = {
    "admin/": "Django's admin: staff only, its own permissions (tests/test_admin.py)",
    "favicon.ico": "a redirect to a static file, the same for everyone",
    "accounts/oidc/": "the SSO handshake, open to anyone (tests/accounts/test_oidc_login.py)",
}
# allauth's own views (sign-in, sign-up, password, e-mail, second factors, social accounts) act
# on the caller's own account, or on none; tests/accounts covers the ones the portal relies on.
THIRD_PARTY_VIEWS = ("allauth.", "django.views.generic.")
PROJECT = ("accounts", "transfers", "syncportal")


def _routes(resolver=None, prefix: str = ""):
    """(route, view module) of every URL pattern, includes walked."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, prefix + str(pattern.pattern))
        else:
            view = getattr(pattern.callback, "view_class", pattern.callback)
            yield prefix + str(pattern.pattern), view.__module__


def _left_out(route: str, module: str) -> bool:
    if any(route.startswith(prefix) for prefix in NOT_IN_THE_MATRIX):
        return True
    return module.startswith(THIRD_PARTY_VIEWS) and not module.startswith(PROJECT)


class _AnyId(dict):
    def __missing__(self, key):
        return "x" if key.endswith("slug") else "1"


def _route_of(door: Door) -> str:
    return resolve(urlsplit(door.path.format_map(_AnyId())).path).route


def test_every_route_has_a_row():
    covered = {_route_of(door) for door in PAGES + API}
    missing = sorted(
        route
        for route, module in _routes()
        if not _left_out(route, module) and route not in covered
    )
    assert not missing, f"routes without a row in the matrix: {missing}"


def test_every_api_operation_has_a_row():
    from syncportal.api import api

    operations = {
        (method.upper(), path)
        for path, methods in api.get_openapi_schema()["paths"].items()
        for method in methods
    }
    rows = {(door.method, "/" + re.sub(r"<\w+:(\w+)>", r"{\1}", _route_of(door))) for door in API}
    assert operations - rows == set(), "API operations without a row in the matrix"
