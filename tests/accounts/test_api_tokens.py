"""Personal API tokens: shown once, stored hashed, bound to teams and a scope, revocable."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, Membership
from accounts.services import revoke_api_token
from tests.accounts.conftest import call

PASSWORD = "correct horse battery"


def test_it_creates_a_token_and_shows_it_once(client, viewer, team):
    # Right after sign-in: no re-authentication (tests/accounts/test_reauthentication.py).
    client.post("/accounts/login/", {"login": "vera", "password": PASSWORD})

    form = {"name": "nightly", "scope": "read", "teams": [team.pk], "expires_in_days": 30}
    response = client.post("/tokens/new/", form)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("spt_") and len(secret) >= 40
    assert secret in response.content.decode()

    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.prefix, token.name) and secret.startswith(token.prefix)
    assert list(token.teams.all()) == [team]
    listing = client.get("/tokens/").content.decode()
    assert secret not in listing and token.prefix in listing and "never" in listing
    event = AuditEvent.objects.get(action="token.created")
    assert secret not in str(event.details) and token.digest not in str(event.details)


def test_a_token_cannot_be_bound_to_someone_elses_team(client, viewer, other_team, make_token):
    from syncportal.errors import Invalid

    with pytest.raises(Invalid, match="your own teams"):
        make_token(viewer, [other_team])


def test_it_authenticates_and_records_last_use(client, viewer, team, make_token):
    secret = make_token(viewer, [team])
    response = call(client, "GET", "/api/v1/teams", secret)
    assert response.status_code == 200
    assert [t["slug"] for t in response.json()["items"]] == ["data-platform"]
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    "spoil",
    ["revoke", "expire", "deactivate", "garble"],
)
def test_unusable_tokens_are_refused(client, viewer, team, make_token, spoil):
    secret = make_token(viewer, [team])
    token = ApiToken.objects.get()
    if spoil == "revoke":
        revoke_api_token(token, actor=viewer)
    elif spoil == "expire":
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif spoil == "deactivate":
        viewer.is_active = False
        viewer.save()
    else:
        secret = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")

    response = call(client, "GET", "/api/v1/teams", secret)
    assert response.status_code == 401
    assert response.json()["detail"] == "The token is invalid, expired or revoked."
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_read_token_cannot_write(client, owner, viewer, team, make_token, with_mfa):
    secret = make_token(owner, [team], scope="read")
    response = call(
        client, "POST", f"/api/v1/teams/{team.pk}/members", secret, {"username": "vera"}
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "This token is read-only."}


def test_a_token_reaches_only_its_teams(client, owner, team, other_team, make_token, with_mfa):
    # alice admins both teams; her token is bound to one of them.
    Membership.objects.create(user=owner, team=other_team, role="admin")
    secret = make_token(owner, [team], scope="write")

    listing = call(client, "GET", "/api/v1/teams", secret).json()
    assert [t["slug"] for t in listing["items"]] == ["data-platform"]
    assert call(client, "GET", f"/api/v1/teams/{other_team.pk}", secret).status_code == 404
    add = call(
        client, "POST", f"/api/v1/teams/{other_team.pk}/members", secret, {"username": "alice"}
    )
    assert add.status_code == 404
    assert call(client, "GET", f"/api/v1/teams/{team.pk}", secret).status_code == 200


def test_a_token_loses_a_team_when_its_owner_does(client, viewer, team, make_token):
    secret = make_token(viewer, [team])
    Membership.objects.filter(user=viewer).delete()
    assert call(client, "GET", f"/api/v1/teams/{team.pk}", secret).status_code == 404


def test_an_operator_token_needs_mfa_enrolment(client, operator, team, make_token):
    secret = make_token(operator, [team])
    response = call(client, "GET", "/api/v1/teams", secret)
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]


def test_it_revokes_from_the_page(client, viewer, team, make_token):
    make_token(viewer, [team])
    token = ApiToken.objects.get()
    client.force_login(viewer)
    assert client.post(f"/tokens/{token.pk}/revoke/")["Location"] == "/tokens/"
    token.refresh_from_db()
    assert token.state == "revoked"
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1


def test_nobody_revokes_another_users_token(client, viewer, owner, team, make_token, with_mfa):
    make_token(viewer, [team])
    client.force_login(owner)
    assert client.post(f"/tokens/{ApiToken.objects.get().pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_the_command_prints_the_token_once(viewer, team, client):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token", "vera", "--team", team.slug, "--days", "7", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    assert secret.startswith("spt_") and secret not in err.getvalue()
    assert ApiToken.objects.get().digest == hashlib.sha256(secret.encode()).hexdigest()
    assert call(client, "GET", "/api/v1/teams", secret).status_code == 200
