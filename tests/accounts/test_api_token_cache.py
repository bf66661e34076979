"""A web process remembers a valid token for API_TOKEN_CACHE_SECONDS, so an API call costs no
token queries; revocations through the portal apply at once, anything else within the window,
and team memberships are never cached."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, Membership
from tests.accounts.conftest import call


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand: no test waits for the window to pass."""
    now = [1000.0]
    monkeypatch.setattr(services, "_clock", lambda: now[0])
    return now


def _teams(client, secret):
    return call(client, "GET", "/api/v1/teams", secret)


def test_it_looks_a_token_up_once_within_the_window(client, viewer, team, make_token, clock):
    secret = make_token(viewer, [team])
    assert _teams(client, secret).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert _teams(client, secret).status_code == 200
    assert not [q for q in queries.captured_queries if "accounts_apitoken" in q["sql"]]


def test_it_refuses_a_token_revoked_through_the_portal_at_once(
    client, viewer, team, make_token, clock
):
    secret = make_token(viewer, [team])
    assert _teams(client, secret).status_code == 200
    services.revoke_api_token(ApiToken.objects.get(), actor=viewer)
    assert _teams(client, secret).status_code == 401


def test_it_refuses_a_token_revoked_elsewhere_once_the_window_passes(
    client, viewer, team, make_token, clock, settings
):
    settings.API_TOKEN_CACHE_SECONDS = 5
    secret = make_token(viewer, [team])
    assert _teams(client, secret).status_code == 200
    # As another web process would revoke it: this process's cache does not hear of it.
    ApiToken.objects.update(revoked_at=timezone.now())
    clock[0] += 4.9
    assert _teams(client, secret).status_code == 200
    clock[0] += 0.2
    assert _teams(client, secret).status_code == 401


def test_it_refuses_an_expired_token_even_while_remembered(client, viewer, team, make_token, clock):
    secret = make_token(viewer, [team])
    assert _teams(client, secret).status_code == 200
    # The token's time comes while it is remembered: the row and the copy both say so.
    expired = timezone.now() - timezone.timedelta(seconds=1)
    ApiToken.objects.update(expires_at=expired)
    services._token_logins[ApiToken.objects.get().digest][1].principal.token.expires_at = expired
    assert _teams(client, secret).status_code == 401


def test_it_does_not_remember_tokens_when_disabled(
    client, viewer, team, make_token, clock, settings
):
    settings.API_TOKEN_CACHE_SECONDS = 0
    secret = make_token(viewer, [team])
    assert _teams(client, secret).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    assert _teams(client, secret).status_code == 401


def test_it_never_remembers_memberships(client, viewer, team, make_token, clock):
    secret = make_token(viewer, [team])
    assert call(client, "GET", f"/api/v1/teams/{team.pk}", secret).status_code == 200
    Membership.objects.filter(user=viewer).delete()
    assert call(client, "GET", f"/api/v1/teams/{team.pk}", secret).status_code == 404
