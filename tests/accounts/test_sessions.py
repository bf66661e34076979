"""Sessions: a new key at sign-in, idle and absolute timeouts, and death on deactivation."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.middleware import SESSION_REFRESH_SECONDS
from accounts.models import AuditEvent
from accounts.realtime import UNAUTHENTICATED
from accounts.security import SESSION_SEEN_KEY, SESSION_STARTED_KEY
from tests.accounts.conftest import call
from tests.test_permission_matrix import SOCKETS, _socket_scenario

PASSWORD = "correct horse battery"


def sign_in(client, username="vera"):
    response = client.post("/accounts/login/", {"login": username, "password": PASSWORD})
    assert response["Location"] == "/"


def test_it_rotates_the_session_key_at_sign_in(client, viewer):
    session = client.session
    session["planted"] = "by someone else"
    session.save()
    before = session.session_key
    client.cookies["sessionid"] = before

    sign_in(client)
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()


def test_an_idle_session_expires(client, viewer, settings):
    sign_in(client)
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/teams/").status_code == 302


def test_using_a_session_pushes_its_idle_deadline_back_once_a_minute(client, viewer, settings):
    sign_in(client)
    assert client.get("/teams/").status_code == 200
    soon = timezone.now() + timedelta(minutes=5)
    Session.objects.update(expire_date=soon)
    assert client.get("/teams/").status_code == 200  # seen at sign-in: no write yet
    assert Session.objects.get().expire_date == soon

    session = client.session
    session[SESSION_SEEN_KEY] = int(time.time()) - SESSION_REFRESH_SECONDS
    session.save()
    Session.objects.update(expire_date=soon)
    assert client.get("/teams/").status_code == 200
    pushed = Session.objects.get().expire_date
    assert pushed >= timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


def test_a_session_ends_at_the_absolute_timeout_however_active(client, viewer, settings):
    sign_in(client)
    assert client.get("/teams/").status_code == 200
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - settings.SESSION_ABSOLUTE_TIMEOUT - 1
    session.save()

    assert client.get("/teams/")["Location"].startswith("/accounts/login/")
    assert client.get("/teams/").status_code == 302
    event = AuditEvent.objects.filter(action="logout").get()
    assert event.details == {"reason": "absolute timeout"}


def test_a_deactivated_user_is_signed_out_everywhere(client, viewer, team):
    sign_in(client)
    cookie = client.cookies["sessionid"].value
    viewer.is_active = False
    viewer.save()

    assert client.get("/teams/").status_code == 302
    assert call(client, "GET", "/api/v1/teams").status_code == 401
    ids = {"team": team.pk}
    refused = replace(SOCKETS[0], expect_close=UNAUTHENTICATED)
    closed_with, _ = async_to_sync(_socket_scenario)(refused, ids, cookie)
    assert closed_with == UNAUTHENTICATED


def test_signing_out_is_audited(client, viewer):
    sign_in(client)
    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(action="logout", actor=viewer).count() == 1
    assert AuditEvent.objects.filter(action="login.succeeded", actor=viewer).count() == 1
