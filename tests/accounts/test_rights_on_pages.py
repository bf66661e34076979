"""A page reads the user's memberships once (`User.team_memberships`) for its MFA policy, its
Audit link, its buttons and the dashboard's teams: every change shows on the next page, and
objects are still found only through the access querysets."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services
from accounts.models import Membership
from tests.transfers.pages import endpoint, profile, signed_in
from transfers.models import Job

pytestmark = pytest.mark.django_db

AUDIT_LINK = 'href="/audit/"'
CANCEL = "Cancel job"


@pytest.fixture
def running_job(team):
    nightly = profile(team, endpoint(team), "Nightly")
    return Job.objects.create(
        team=team, profile=nightly, profile_name=nightly.name, state=Job.State.RUNNING
    )


def test_a_role_change_shows_on_the_next_page(owner, operator, running_job):
    client = signed_in(operator)
    page = client.get(f"/jobs/{running_job.pk}/").content.decode()
    assert CANCEL in page
    assert AUDIT_LINK not in page

    membership = Membership.objects.get(user=operator)
    services.set_role(membership, "admin", actor=owner)
    page = client.get(f"/jobs/{running_job.pk}/").content.decode()
    assert AUDIT_LINK in page
    assert "(Team admin)" in client.get("/").content.decode()

    services.set_role(Membership.objects.get(user=operator), "viewer", actor=owner)
    page = client.get(f"/jobs/{running_job.pk}/").content.decode()
    assert CANCEL not in page
    assert AUDIT_LINK not in page
    assert "(Viewer)" in client.get("/").content.decode()


def test_a_removed_member_finds_nothing_at_once(owner, viewer, running_job):
    client = signed_in(viewer)
    assert client.get(f"/jobs/{running_job.pk}/").status_code == 200
    assert "Data Platform" in client.get("/").content.decode()

    services.remove_member(Membership.objects.get(user=viewer), actor=owner)
    assert client.get(f"/jobs/{running_job.pk}/").status_code == 404
    dashboard = client.get("/").content.decode()
    assert "Data Platform" not in dashboard
    assert "You are not in a team yet" in dashboard

    services.add_member(running_job.team, viewer, "operator", actor=owner)
    # An operator must enrol in MFA first: the policy reads the new role at once.
    assert client.get("/").url == "/accounts/2fa/"


def test_an_outsider_still_gets_404(outsider, running_job):
    client = signed_in(outsider)
    assert client.get(f"/jobs/{running_job.pk}/").status_code == 404
    assert CANCEL not in client.get("/").content.decode()


def test_a_rename_and_a_deactivation_show_at_once(owner, viewer, running_job):
    client = signed_in(viewer)
    assert "Data Platform" in client.get("/").content.decode()
    team = running_job.team
    team.name = "Renamed Platform"
    team.save()
    assert "Renamed Platform" in client.get("/").content.decode()

    services.deactivate_user(viewer, actor=owner)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_the_audit_link_follows_the_same_rule_as_the_trail(owner, viewer, team):
    """The page's check (from the request's memberships) and the API's (a query) agree."""
    from accounts.access import Principal, may_read_audit

    for user in (owner, viewer):
        assert may_read_audit(user) == may_read_audit(Principal(user=user))
    assert may_read_audit(owner) and not may_read_audit(viewer)


def test_an_anonymous_visitor_is_sent_to_sign_in(db):
    response = Client().get("/")
    assert response.status_code == 302
