"""Teams, memberships and the access querysets every door goes through."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from accounts.models import Membership, Team, User
from transfers.models import Endpoint


def test_a_user_holds_one_role_per_team(owner, team):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=owner, team=team, role="viewer")


def test_the_role_must_be_known(owner, other_team):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=owner, team=other_team, role="overlord")


def test_team_names_are_unique_ignoring_case(team):
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(name="data platform", slug="dp2")


@pytest.fixture
def endpoints(team, other_team):
    ours = Endpoint.objects.create(team=team, name="ours", access_key_id="a", secret_access_key="s")
    theirs = Endpoint.objects.create(
        team=other_team, name="theirs", access_key_id="b", secret_access_key="t"
    )
    return ours, theirs


@pytest.mark.parametrize(
    ("who", "visible", "operable", "administrable"),
    [
        ("owner", True, True, True),
        ("operator", True, True, False),
        ("viewer", True, False, False),
        ("outsider", False, False, False),
    ],
)
def test_access_follows_the_role(request, endpoints, who, visible, operable, administrable):
    user = request.getfixturevalue(who)
    ours, _ = endpoints
    assert Endpoint.objects.visible_to(user).filter(pk=ours.pk).exists() is visible
    assert Endpoint.objects.operable_by(user).filter(pk=ours.pk).exists() is operable
    assert Endpoint.objects.administrable_by(user).filter(pk=ours.pk).exists() is administrable
    assert Team.objects.visible_to(user).filter(pk=ours.team_id).exists() is visible


def test_the_outsider_sees_only_their_team(outsider, endpoints):
    _, theirs = endpoints
    assert list(Endpoint.objects.visible_to(outsider)) == [theirs]


def test_anonymous_and_inactive_users_see_nothing(owner, endpoints):
    assert not Endpoint.objects.visible_to(AnonymousUser()).exists()
    owner.is_active = False
    owner.save()
    assert not Endpoint.objects.visible_to(owner).exists()


def test_superusers_see_every_team(endpoints, db):
    root = User.objects.create_superuser("root", "root@example.com", "pw-pw-pw-pw-pw")
    assert set(Endpoint.objects.visible_to(root)) == set(endpoints)
    assert set(Endpoint.objects.administrable_by(root)) == set(endpoints)


def test_visibility_does_not_duplicate_rows(owner, team, endpoints):
    # A user in two teams must not see an object twice (joins would duplicate it).
    Membership.objects.create(user=owner, team=Team.objects.create(name="Third", slug="third"))
    assert Endpoint.objects.visible_to(owner).count() == 1
