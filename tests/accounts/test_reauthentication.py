"""Recent authentication: a sign-in counts for REAUTHENTICATION_TIMEOUT seconds, then MFA
changes and new API tokens ask again (password, second factor, or the SSO provider)."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from tests.support import enrol_totp, totp_code, wait_until

PASSWORD = "correct horse battery"
# Where allauth keeps the authentication steps of the session (each with its time, "at").
RECORDS_KEY = "account_authentication_methods"


def sign_in(client, username: str):
    response = client.post("/accounts/login/", {"login": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:300]
    return response


def age_the_sign_in(client, settings) -> None:
    """Move every authentication of the session past REAUTHENTICATION_TIMEOUT."""
    session = client.session
    records = session[RECORDS_KEY]
    assert records, "the session records no authentication"
    for record in records:
        record["at"] -= settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1
    session[RECORDS_KEY] = records
    session.save()


def asks_to_reauthenticate(response) -> bool:
    return response.status_code == 302 and "/reauthenticate/" in response["Location"]


def test_it_does_not_ask_right_after_a_password_sign_in(client, viewer):
    sign_in(client, "vera")
    response = client.get("/tokens/new/")
    assert response.status_code == 200
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200


def test_it_does_not_ask_right_after_a_sign_in_with_a_second_factor(client, owner):
    secret = enrol_totp(owner)
    assert sign_in(client, "alice")["Location"] == "/accounts/2fa/authenticate/"
    wait_until(lambda: time.time() % 30 < 25, "a fresh TOTP window", timeout=10)
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response["Location"] == "/"

    assert client.get("/tokens/new/").status_code == 200
    assert client.get("/accounts/2fa/recovery-codes/generate/").status_code == 200


def test_it_asks_once_the_sign_in_is_older_than_the_timeout(client, viewer, settings):
    sign_in(client, "vera")
    age_the_sign_in(client, settings)

    response = client.get("/tokens/new/")
    assert asks_to_reauthenticate(response)
    assert response["Location"] == "/accounts/reauthenticate/?next=%2Ftokens%2Fnew%2F"
    assert asks_to_reauthenticate(client.get("/accounts/2fa/totp/activate/"))

    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert client.get("/tokens/new/").status_code == 200


def test_a_reauthentication_also_lasts_only_the_timeout(client, viewer, settings):
    sign_in(client, "vera")
    age_the_sign_in(client, settings)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert client.get("/tokens/new/").status_code == 200

    age_the_sign_in(client, settings)
    assert asks_to_reauthenticate(client.get("/tokens/new/"))


def test_a_session_without_any_sign_in_record_is_asked(client, viewer):
    client.force_login(viewer)  # no authentication step recorded: nothing is recent
    assert asks_to_reauthenticate(client.get("/tokens/new/"))


# --- Single sign-on users confirm at their provider -----------------------------------------


def sso_sign_in(client, idp, sub: str = "sub-sso-1", group: str = "data-readers", **claims):
    """A user provisioned by SSO (a viewer; "data-engineers" makes an operator), signed in
    through the provider; returns the user."""
    from accounts.models import User
    from tests.accounts.test_oidc_login import sign_in as sso_login

    claims = {"email": "sam@example.com", "preferred_username": "sam", **claims}
    idp.sign_in_as(sub, groups=[group], **claims)
    assert sso_login(client)["Location"] == "/"
    return User.objects.get(socialaccount__uid=sub)


def confirm_at_the_provider(client, page_url: str):
    """Follow the re-authentication the portal asks for; returns the portal's answer to the
    provider's callback."""
    from tests.accounts.test_oidc_login import consent

    response = client.get(page_url)
    assert response["Location"] == f"/accounts/reauthenticate/sso/?next={quote(page_url, safe='')}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Sign in again with Example SSO" in page.content.decode()
    response = client.post("/accounts/reauthenticate/sso/", {"next": page_url})
    assert response.status_code == 302, response.content.decode()[:300]
    return client.get(consent(response["Location"]))


@pytest.mark.parametrize("verified", [{"email_verified": True}, {}], ids=["verified", "unsaid"])
def test_an_sso_user_who_must_enrol_mfa_can_right_after_sign_in(
    client, idp, team, verified, django_capture_on_commit_callbacks
):
    from accounts.models import AuditEvent

    # Many providers never say whether the address is verified; enrolment must not depend on it.
    user = sso_sign_in(client, idp, group="data-engineers", **verified)
    assert client.get("/teams/")["Location"] == "/accounts/2fa/"  # MFA_REQUIRED: enrol first

    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    wait_until(lambda: time.time() % 30 < 25, "a fresh TOTP window", timeout=10)
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals after commit
        response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    assert user.authenticator_set.filter(type="totp").exists()
    assert client.get("/teams/").status_code == 200
    assert client.get("/api/v1/teams").status_code == 200
    assert client.get("/tokens/new/").status_code == 200
    assert AuditEvent.objects.filter(action="mfa.enrolled", actor=user).exists()


@pytest.mark.parametrize(
    ("page_url", "group"),
    [("/accounts/2fa/totp/activate/", "data-engineers"), ("/tokens/new/", "data-readers")],
    ids=["enrol-mfa", "create-token"],
)
def test_an_sso_user_confirms_at_the_provider_once_the_timeout_passed(
    client, idp, team, settings, page_url, group
):
    from accounts.models import AuditEvent

    user = sso_sign_in(client, idp, group=group, email_verified=True)
    age_the_sign_in(client, settings)
    signed_in = AuditEvent.objects.filter(action="login.succeeded").count()

    response = confirm_at_the_provider(client, page_url)
    assert response.status_code == 302 and response["Location"] == page_url
    # The provider was told to sign the user in again, not to reuse its session.
    params = idp.authorize_requests[-1]
    assert params["prompt"] == "login" and params["max_age"] == "0"
    page = client.get(page_url)
    assert page.status_code == 200 and page.wsgi_request.user == user
    # A confirmation, not a new sign-in: same session, nothing more in the audit trail.
    assert AuditEvent.objects.filter(action="login.succeeded").count() == signed_in

    age_the_sign_in(client, settings)
    assert asks_to_reauthenticate(client.get(page_url))


def test_a_provider_that_did_not_sign_the_user_in_again_is_refused(client, idp, team, settings):
    from accounts.models import AuditEvent

    user = sso_sign_in(client, idp)
    age_the_sign_in(client, settings)
    idp.signed_in_at -= 3600  # the provider's own session is an hour old...
    idp.ignores_reauthentication = True  # ...and it ignores prompt=login and max_age

    response = confirm_at_the_provider(client, "/tokens/new/")
    assert response.status_code == 403
    assert "did not ask you to sign in again" in response.content.decode()
    assert asks_to_reauthenticate(client.get("/tokens/new/"))
    assert client.get("/").wsgi_request.user == user  # still signed in, nothing confirmed
    event = AuditEvent.objects.filter(action="login.failed").get()
    assert event.actor == user and event.details["reason"] == "re-authentication not fresh"


def test_someone_else_at_the_provider_does_not_confirm(client, idp, team, settings):
    from accounts.models import AuditEvent, User

    user = sso_sign_in(client, idp)
    age_the_sign_in(client, settings)
    idp.sign_in_as("sub-someone-else", email="zoe@example.com", groups=["data-readers"])

    response = confirm_at_the_provider(client, "/tokens/new/")
    assert response.status_code == 403
    assert "another account" in response.content.decode()
    assert asks_to_reauthenticate(client.get("/tokens/new/"))
    assert client.get("/").wsgi_request.user == user
    assert list(User.objects.all()) == [user]  # nobody provisioned
    event = AuditEvent.objects.filter(action="login.failed").get()
    assert event.details["reason"] == "re-authentication by another account"
    assert event.details["subject"] == "sub-someone-else"


def test_a_mail_server_that_is_down_does_not_lock_sso_users_out(
    client, idp, team, settings, unreachable_mail
):
    sso_sign_in(client, idp, email_verified=True)
    age_the_sign_in(client, settings)

    # The way offered first used to be a code by email: a 500 with the mail server down.
    page = client.get(client.get("/tokens/new/")["Location"])
    assert page.status_code == 200
    assert "Sign in again with Example SSO" in page.content.decode()
    assert "/accounts/reauthenticate/code/" not in page.content.decode()
    response = client.post("/accounts/reauthenticate/code/", {"recipient": "sam@example.com"})
    assert response.status_code == 403
