"""Single sign-on: the authorization-code flow with PKCE against a real provider on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from accounts.models import AuditEvent, Membership, User


def start(client) -> str:
    """Press "Sign in with Example SSO"; returns the provider's authorization URL."""
    response = client.post("/accounts/oidc/sso/login/")
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def consent(authorize_url: str) -> str:
    """The browser at the provider: it signs the user in and redirects back with a code."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    callback = urlsplit(response.headers["Location"])
    assert "code" in parse_qs(callback.query), response.headers["Location"]
    return f"{callback.path}?{callback.query}"


def sign_in(client):
    return client.get(consent(start(client)))


def signed_in_user(client) -> User | None:
    response = client.get("/teams/")
    return response.wsgi_request.user if response.status_code == 200 else None


def test_it_sends_the_browser_to_the_provider_with_pkce_and_a_nonce(client, idp, db):
    url = urlsplit(start(client))
    params = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == idp.issuer  # from the discovery document
    assert params["response_type"] == ["code"]
    assert params["client_id"] == [idp.client_id]
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["code_challenge"][0]) >= 43
    assert len(params["nonce"][0]) >= 32 and len(params["state"][0]) >= 16
    assert set(params["scope"][0].split()) >= {"openid", "email"}


def test_it_provisions_the_user_on_first_sign_in(client, idp, team):
    idp.sign_in_as(
        "sub-0001",
        email="dana@example.com",
        preferred_username="dana",
        name="Dana Scully",
        groups=["data-readers", "unrelated"],
    )
    response = sign_in(client)

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(socialaccount__provider="sso", socialaccount__uid="sub-0001")
    assert (user.username, user.email, user.first_name) == ("dana", "dana@example.com", "Dana")
    assert not user.has_usable_password()
    assert signed_in_user(client) == user
    membership = Membership.objects.get(user=user)
    assert (membership.team, membership.role, membership.source) == (team, "viewer", "sso")
    # The code was exchanged with the PKCE verifier and client authentication.
    exchange = idp.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) >= 43
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["user.provisioned", "member.added", "login.succeeded"]


def test_a_second_sign_in_finds_the_same_user_and_follows_the_groups(client, idp, team):
    idp.sign_in_as("sub-0002", email="eve@example.com", groups=["data-readers"])
    sign_in(client)
    client.logout()
    idp.sign_in_as("sub-0002", email="eve@example.com", groups=["data-engineers"])
    sign_in(client)

    user = User.objects.get(socialaccount__uid="sub-0002")
    assert User.objects.count() == 1
    assert Membership.objects.get(user=user).role == "operator"
    idp.sign_in_as("sub-0002", email="eve@example.com", groups=[])
    client.logout()
    sign_in(client)
    assert not Membership.objects.filter(user=user).exists()


def test_groups_never_remove_a_membership_an_admin_granted(client, idp, team):
    idp.sign_in_as("sub-0003", email="finn@example.com", groups=[])
    sign_in(client)
    user = User.objects.get(socialaccount__uid="sub-0003")
    Membership.objects.create(user=user, team=team, role="viewer")
    client.logout()
    sign_in(client)
    assert Membership.objects.get(user=user).source == "manual"


def refused(response) -> bool:
    """allauth's "Third-Party Login Failure" page, answered with 401."""
    return response.status_code == 401 and "Third-Party Login Failure" in response.content.decode()


@pytest.mark.parametrize(
    "tamper",
    [
        {"aud": "some-other-client"},
        {"nonce": "not-the-nonce-we-sent"},
        {"iss": "https://evil.example.com"},
        {"exp": 1_000_000_000},
    ],
    ids=["wrong-audience", "wrong-nonce", "wrong-issuer", "expired"],
)
def test_it_refuses_an_id_token_with_bad_claims(client, idp, tamper):
    idp.sign_in_as("sub-0004", email="gil@example.com")
    idp.id_token_overrides = tamper
    assert refused(sign_in(client))
    assert not User.objects.exists()
    assert signed_in_user(client) is None


def test_it_refuses_an_id_token_signed_with_an_unpublished_key(client, idp):
    idp.sign_in_as("sub-0005", email="hana@example.com")
    idp.sign_with_rogue_key = True
    assert refused(sign_in(client))
    assert not User.objects.exists()


def test_a_replayed_callback_is_refused(client, idp):
    idp.sign_in_as("sub-0006", email="ivan@example.com")
    callback = consent(start(client))
    assert client.get(callback)["Location"] == "/"
    client.logout()

    assert refused(client.get(callback))  # same state and code: the state was used up
    assert signed_in_user(client) is None


def test_a_callback_with_a_forged_state_is_refused(client, idp):
    idp.sign_in_as("sub-0007", email="jo@example.com")
    callback = consent(start(client))
    forged = callback.replace("state=", "state=x")
    assert refused(client.get(forged))
    assert not User.objects.exists()


def test_the_same_email_with_another_subject_gets_no_access(client, idp, owner):
    # alice@example.com exists (a local team admin); another subject claims that address.
    idp.sign_in_as("sub-attacker", email=owner.email, preferred_username="alice2")
    response = sign_in(client)

    assert response.status_code == 403
    assert "Sign-in refused" in response.content.decode()
    assert signed_in_user(client) is None
    assert User.objects.count() == 1
    assert not owner.socialaccount_set.exists()
    event = AuditEvent.objects.get(action="login.failed")
    assert event.details == {
        "reason": "email belongs to another account",
        "provider": "sso",
        "subject": "sub-attacker",
    }


def test_two_subjects_never_share_an_account(client, idp):
    idp.sign_in_as("sub-a", email="kim@example.com", preferred_username="kim")
    sign_in(client)
    client.logout()
    idp.sign_in_as("sub-b", email="kim@example.com", preferred_username="kim")
    response = sign_in(client)
    assert response.status_code == 403
    assert list(User.objects.values_list("socialaccount__uid", flat=True)) == ["sub-a"]
