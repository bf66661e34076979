"""TOTP: enrolment through the pages, sign-in with a code, no reuse, recovery codes once."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa.models import Authenticator

from accounts.models import AuditEvent
from tests.support import totp_code, wait_until

PASSWORD = "correct horse battery"


def fresh_window() -> None:
    """Wait until the current 30 s TOTP window has a few seconds left, so a code stays valid."""
    wait_until(lambda: time.time() % 30 < 25, "a fresh TOTP window", timeout=10)


def password_step(client, username: str):
    return client.post("/accounts/login/", {"login": username, "password": PASSWORD})


def second_step(client, code: str):
    return client.post("/accounts/2fa/authenticate/", {"code": code})


@pytest.fixture
def enrolled(client, owner, django_capture_on_commit_callbacks):
    """alice enrols an authenticator app through the pages; returns (secret, recovery codes)."""
    assert password_step(client, "alice")["Location"] == "/"
    assert client.get("/")["Location"] == "/accounts/2fa/"  # the policy sends her to enrol

    # Signed in a moment ago: recent enough to change MFA without confirming again.
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret in page.content.decode()  # shown for manual entry next to the QR code
    fresh_window()
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals after commit
        response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302

    codes_page = client.get("/accounts/2fa/recovery-codes/").content.decode()
    codes = re.findall(r"\b\d{8}\b", codes_page)
    assert len(set(codes)) == 10
    client.logout()
    return secret, sorted(set(codes))


def test_it_enrols_and_audits(enrolled, owner, client):
    assert Authenticator.objects.filter(user=owner, type="totp").exists()
    assert AuditEvent.objects.filter(action="mfa.enrolled", actor=owner).exists()
    assert client.get("/").status_code == 302  # signed out again


def test_recovery_codes_are_shown_once(enrolled, client):
    _, codes = enrolled
    password_step(client, "alice")
    fresh_window()
    second_step(client, totp_code(enrolled[0]))
    page = client.get("/accounts/2fa/recovery-codes/").content.decode()
    assert not any(code in page for code in codes)


def test_it_signs_in_with_password_and_code(enrolled, client, owner):
    secret, _ = enrolled
    response = password_step(client, "alice")
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/teams/").status_code == 302  # not signed in before the second factor

    fresh_window()
    response = second_step(client, totp_code(secret))
    assert response["Location"] == "/"
    assert client.get("/teams/").status_code == 200


def test_a_wrong_code_is_refused(enrolled, client):
    secret, _ = enrolled
    password_step(client, "alice")
    fresh_window()
    wrong = f"{(int(totp_code(secret)) + 1) % 10**6:06d}"
    response = second_step(client, wrong)
    assert response.status_code == 200 and "Incorrect code" in response.content.decode()
    assert client.get("/teams/").status_code == 302
    assert AuditEvent.objects.filter(action="login.failed").exists()


def test_a_used_code_is_refused(enrolled, client):
    secret, _ = enrolled
    fresh_window()
    code = totp_code(secret)
    password_step(client, "alice")
    assert second_step(client, code)["Location"] == "/"
    client.logout()

    password_step(client, "alice")
    assert totp_code(secret) == code  # still the same window: only reuse can fail it
    response = second_step(client, code)
    assert response.status_code == 200 and "Incorrect code" in response.content.decode()
    assert client.get("/teams/").status_code == 302


def test_a_recovery_code_works_once(enrolled, client):
    _, codes = enrolled
    password_step(client, "alice")
    assert second_step(client, codes[0])["Location"] == "/"
    client.logout()

    password_step(client, "alice")
    response = second_step(client, codes[0])
    assert "Incorrect code" in response.content.decode()
    assert second_step(client, codes[1])["Location"] == "/"
