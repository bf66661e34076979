"""Brute force on local sign-in: the account locks, and no forged header unlocks it."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent

PASSWORD = "correct horse battery"


def attempt(client, password: str, *, login: str = "vera", ip: str = "198.51.100.7", **headers):
    return client.post(
        "/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=ip, **headers
    )


def locked(response) -> bool:
    return (
        response.status_code == 200
        and "Too many failed login attempts" in response.content.decode()
    )


@pytest.fixture
def locked_out(client, viewer, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = attempt(client, "wrong password")
        assert response.status_code == 200 and not locked(response)
    return viewer


def test_it_locks_the_account_after_the_limit(client, locked_out):
    response = attempt(client, PASSWORD)  # even the right password
    assert locked(response)
    assert client.get("/teams/").status_code == 302
    assert AuditEvent.objects.filter(action="login.failed").count() == 6
    reasons = AuditEvent.objects.values_list("details__reason", flat=True)
    assert "locked out" in set(reasons)
    assert not any(PASSWORD in str(e.details) for e in AuditEvent.objects.all())


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.99"},
        {"HTTP_X_FORWARDED_FOR": "203.0.113.99, 198.51.100.7"},
        {"HTTP_X_REAL_IP": "203.0.113.99"},
    ],
    ids=["spoofed-xff", "spoofed-xff-chain", "spoofed-x-real-ip"],
)
def test_a_spoofed_client_address_does_not_reset_the_lockout(client, locked_out, headers):
    assert locked(attempt(client, PASSWORD, **headers))
    assert client.get("/teams/").status_code == 302


def test_another_address_does_not_reset_it_either(client, locked_out):
    assert locked(attempt(client, PASSWORD, ip="192.0.2.200"))


def test_the_email_address_counts_as_the_same_account(client, viewer, settings):
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        login = "vera" if n % 2 else "VERA@example.com"
        attempt(client, "wrong password", login=login)
    assert locked(attempt(client, PASSWORD, login="vera@example.com"))
    assert locked(attempt(client, PASSWORD, login="vera"))


def test_a_good_sign_in_before_the_limit_works(client, viewer):
    attempt(client, "wrong password")
    assert attempt(client, PASSWORD)["Location"] == "/"


def test_the_audit_trail_records_the_peer_address_not_the_header(client, viewer):
    attempt(client, "wrong password", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert AuditEvent.objects.get(action="login.failed").ip == "198.51.100.7"


def test_behind_a_trusted_proxy_the_client_is_the_proxys_entry(client, viewer, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    # The client forged the first entry; the proxy appended the address it saw.
    attempt(client, "wrong password", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    assert AuditEvent.objects.get(action="login.failed").ip == "203.0.113.5"
