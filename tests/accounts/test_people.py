"""The services that change people (called by the admin site): their rules and audit events."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import AuditEvent, User
from syncportal.errors import Conflict, Invalid


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.com", "correct horse battery")


def test_it_creates_a_user_without_a_password_for_single_sign_on_only(root):
    user = services.create_user("sso-only", email="s@example.com", actor=root)

    assert not user.has_usable_password()
    event = AuditEvent.objects.get(action="user.created")
    assert event.details == {"email": "s@example.com", "usable_password": False}


@pytest.mark.parametrize(
    ("username", "password", "error", "message"),
    [
        ("  ", None, Invalid, "Enter a username."),
        ("ROOT", None, Conflict, "A user named 'ROOT' already exists."),
        ("newcomer", "short", Invalid, "This password is too short."),
    ],
)
def test_it_refuses_a_bad_new_user(root, username, password, error, message):
    with pytest.raises(error, match=message):
        services.create_user(username, password=password, actor=root)

    assert User.objects.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"is_active": False}, "is_active cannot be changed here."),
        ({"password": "x"}, "password cannot be changed here."),
        ({"email": "not an address"}, "Enter a valid email address."),
        ({"username": "ROOT"}, "A user named 'ROOT' already exists."),
    ],
)
def test_it_refuses_a_bad_change(root, viewer, changes, message):
    with pytest.raises((Invalid, Conflict), match=message):
        services.update_user(viewer, actor=root, **changes)

    viewer.refresh_from_db()
    assert (viewer.username, viewer.email, viewer.is_active) == ("vera", "vera@example.com", True)
    assert not AuditEvent.objects.exists()


def test_it_lets_a_superuser_step_down_once_there_is_another(root, viewer):
    services.update_user(viewer, actor=root, is_superuser=True)
    services.update_user(root, actor=root, is_superuser=False)

    with pytest.raises(Conflict, match="vera is the last active superuser"):
        services.deactivate_user(viewer, actor=viewer)
    assert list(User.objects.filter(is_superuser=True)) == [viewer]


def test_it_does_nothing_for_a_change_to_the_same_values(root, viewer):
    services.update_user(viewer, actor=root, email=viewer.email, is_auditor=False)
    services.reactivate_user(viewer, actor=root)

    assert not AuditEvent.objects.exists()


def test_it_keeps_the_password_out_of_the_trail(root, viewer):
    services.set_password(viewer, "a brand new passphrase", actor=root)

    viewer.refresh_from_db()
    assert viewer.check_password("a brand new passphrase")
    event = AuditEvent.objects.get(action="user.password_set")
    assert event.details == {"usable_password": True}
