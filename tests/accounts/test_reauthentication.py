"""Recent authentication: a sign-in counts for REAUTHENTICATION_TIMEOUT seconds, then MFA
changes and new API tokens ask again (password, second factor, or the SSO provider)."""

from __future__ import annotations

import time

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
