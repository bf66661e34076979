"""The MFA policy: operators, team admins and superusers enrol before they use the portal."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.accounts.conftest import call
from tests.support import enrol_totp


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_privileged_roles_are_sent_to_enrol(request, client, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get("/")["Location"] == "/accounts/2fa/"
    assert client.get("/teams/")["Location"] == "/accounts/2fa/"
    assert client.get("/accounts/2fa/").status_code == 200  # where they can enrol
    assert call(client, "GET", "/api/v1/teams").status_code == 403


def test_superusers_too(client, db):
    root = User.objects.create_superuser("root", "root@example.com", "correct horse battery")
    client.force_login(root)
    assert client.get("/admin/")["Location"] == "/accounts/2fa/"


def test_viewers_are_not_required(client, viewer):
    client.force_login(viewer)
    assert client.get("/teams/").status_code == 200


def test_enrolled_users_pass(client, operator):
    enrol_totp(operator)
    client.force_login(operator)
    assert client.get("/teams/").status_code == 200
    assert call(client, "GET", "/api/v1/teams").status_code == 200


def test_the_policy_can_be_turned_off(client, operator, settings):
    settings.MFA_REQUIRED = False
    client.force_login(operator)
    assert client.get("/teams/").status_code == 200


def test_the_admin_login_goes_through_the_portal_sign_in(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"].startswith("/accounts/login/")
