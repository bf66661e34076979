"""Team admins manage members and roles (pages and API); superusers create teams."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent, Membership, Team, User
from tests.accounts.conftest import call
from tests.support import enrol_totp


@pytest.fixture
def admin_session(client, owner, with_mfa):
    client.force_login(owner)
    return client


@pytest.fixture
def root(db):
    user = User.objects.create_superuser("root", "root@example.com", "correct horse battery")
    enrol_totp(user)
    return user


def test_an_admin_adds_a_member_with_one_audit_row(admin_session, team, outsider):
    response = call(
        admin_session,
        "POST",
        f"/api/v1/teams/{team.pk}/members",
        json={"username": "mallory", "role": "operator"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "operator"
    assert Membership.objects.get(team=team, user=outsider).role == "operator"
    event = AuditEvent.objects.get(action="member.added")
    assert (event.team, event.target_id, event.details["role"]) == (
        team,
        str(outsider.pk),
        "operator",
    )


def test_an_admin_changes_a_role_and_removes_a_member(admin_session, team, viewer):
    path = f"/api/v1/teams/{team.pk}/members/{viewer.pk}"
    response = call(admin_session, "PATCH", path, json={"role": "operator"})
    assert response.status_code == 200 and response.json()["role"] == "operator"
    assert call(admin_session, "DELETE", path).status_code == 204
    assert not Membership.objects.filter(user=viewer).exists()
    actions = AuditEvent.objects.values_list("action", flat=True)
    assert sorted(actions) == ["member.removed", "member.role_changed"]


def test_the_last_admin_stays(admin_session, team, owner):
    path = f"/api/v1/teams/{team.pk}/members/{owner.pk}"
    response = call(admin_session, "PATCH", path, json={"role": "viewer"})
    assert response.status_code == 409
    assert response.json() == {"detail": "alice is the last admin of Data Platform."}
    assert call(admin_session, "DELETE", path).status_code == 409


def test_input_errors_name_the_field(admin_session, team, viewer):
    response = call(
        admin_session,
        "POST",
        f"/api/v1/teams/{team.pk}/members",
        json={"username": "vera", "role": "overlord"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "Invalid input." and body["errors"][0]["field"] == "role"
    duplicate = call(
        admin_session, "POST", f"/api/v1/teams/{team.pk}/members", json={"username": "vera"}
    )
    assert duplicate.status_code == 409
    unknown = call(
        admin_session, "POST", f"/api/v1/teams/{team.pk}/members", json={"username": "nobody"}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "username"


def test_session_writes_need_the_csrf_token(client, owner, team, with_mfa, viewer):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    path = f"/api/v1/teams/{team.pk}/members/{viewer.pk}"
    response = call(browser, "PATCH", path, json={"role": "operator"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF check failed: send the csrftoken cookie")
    browser.get("/teams/")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.patch(
        path, data={"role": "operator"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200


def test_superusers_create_teams(client, root, owner, with_mfa):
    client.force_login(root)
    response = call(client, "POST", "/api/v1/teams", json={"name": "Research"})
    assert response.status_code == 201 and response.json()["slug"] == "research"
    assert AuditEvent.objects.filter(action="team.created").count() == 1
    client.force_login(owner)
    assert call(client, "POST", "/api/v1/teams", json={"name": "Mine"}).status_code == 403
    assert not Team.objects.filter(name="Mine").exists()


def test_the_team_page_shows_admin_controls_only_to_admins(client, team, owner, viewer, with_mfa):
    client.force_login(owner)
    page = client.get(f"/teams/{team.slug}/").content.decode()
    assert "Add a member" in page and "Remove" in page and "Set role" in page
    client.force_login(viewer)
    page = client.get(f"/teams/{team.slug}/").content.decode()
    assert "alice" in page and "Add a member" not in page and "Remove" not in page
    response = client.post(f"/teams/{team.slug}/members/", {"username": "vera", "role": "admin"})
    assert response.status_code == 403
    assert Membership.objects.get(user=viewer).role == "viewer"


def test_an_admin_manages_members_from_the_page(client, team, owner, outsider, viewer, with_mfa):
    client.force_login(owner)
    add = client.post(f"/teams/{team.slug}/members/", {"username": "mallory", "role": "viewer"})
    assert add["Location"] == f"/teams/{team.slug}/"
    client.post(f"/teams/{team.slug}/members/{viewer.pk}/role/", {"role": "operator"})
    client.post(f"/teams/{team.slug}/members/{outsider.pk}/remove/")
    assert dict(team.memberships.values_list("user__username", "role")) == {
        "alice": "admin",
        "oscar": "operator",
        "vera": "operator",
    }


def test_a_superuser_creates_a_team_from_the_page(client, root):
    client.force_login(root)
    assert "Create a team" in client.get("/teams/").content.decode()
    response = client.post("/teams/new/", {"name": "Research", "slug": ""})
    assert response["Location"] == "/teams/research/"


def test_the_team_list_makes_a_fixed_number_of_queries(
    client, team, owner, with_mfa, django_assert_max_num_queries
):
    for n in range(5):
        extra = Team.objects.create(name=f"Team {n}", slug=f"team-{n}")
        Membership.objects.create(user=owner, team=extra, role="viewer")
    client.force_login(owner)
    with django_assert_max_num_queries(9):  # the 9th: may the navigation link the audit trail?
        assert client.get("/teams/").status_code == 200


def test_the_commands_create_a_team_and_add_members(viewer):
    out = io.StringIO()
    call_command("create_team", "Research", stdout=out)
    call_command("add_member", "research", "vera", stdout=out)
    call_command("add_member", "research", "vera", "--role", "operator", stdout=out)
    research = Team.objects.get(slug="research")
    assert Membership.objects.get(team=research, user=viewer).role == "operator"
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_team", "research")
