"""A profile's cap on shards at once (`max_parallel_shards`): set in the form and the API,
blank or null for automatic (the page says what that is), 1 to 256; anything else is refused
on the field and changes nothing; viewers and outsiders cannot change it; changes are audited."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from tests.transfers.pages import endpoint, profile, signed_in
from transfers.models import SyncProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly(team):
    return profile(team, endpoint(team))


def form_values(client, nightly, **changes):
    """The edit form as it comes, with `changes` (what a browser would post)."""
    page = client.get(f"/profiles/{nightly.pk}/edit/")
    values = {k: v for k, v in page.context["form"].initial.items() if v not in (None, False)}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_the_form_offers_it_with_the_automatic_value(team, operator, nightly, settings):
    settings.TRANSFER_SHARDS_PER_JOB = 12
    client = signed_in(operator)
    page = client.get(f"/profiles/{nightly.pk}/edit/").content.decode()
    assert "Most shards at once" in page
    assert SyncProfile._meta.get_field("max_parallel_shards").help_text[:40] in page
    assert 'placeholder="automatic: 12"' in page
    detail = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "automatic (12)" in detail


@pytest.mark.parametrize(("posted", "stored"), [("", None), ("1", 1), ("256", 256), ("16", 16)])
def test_the_form_takes_blank_and_1_to_256(team, operator, nightly, posted, stored):
    nightly.max_parallel_shards = 3
    nightly.save()
    client = signed_in(operator)
    response = client.post(
        f"/profiles/{nightly.pk}/edit/", form_values(client, nightly, max_parallel_shards=posted)
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    nightly.refresh_from_db()
    assert nightly.max_parallel_shards == stored
    event = AuditEvent.objects.get(action="profile.updated")
    assert event.details["after"] == {"max_parallel_shards": stored}
    assert event.details["before"] == {"max_parallel_shards": 3}


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ("0", "greater than or equal to 1"),
        ("257", "less than or equal to 256"),
        ("x", "Enter a whole number"),
    ],
)
def test_the_form_refuses_other_values_on_the_field(team, operator, nightly, posted, message):
    client = signed_in(operator)
    response = client.post(
        f"/profiles/{nightly.pk}/edit/", form_values(client, nightly, max_parallel_shards=posted)
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert list(errors) == ["max_parallel_shards"] and message in errors["max_parallel_shards"][0]
    nightly.refresh_from_db()
    assert nightly.max_parallel_shards is None
    assert not AuditEvent.objects.filter(action="profile.updated").exists()


def test_the_api_creates_changes_and_clears_it(api_as, operator, team, nightly):
    api = api_as(operator)
    store = nightly.source_endpoint
    created = api.post(
        "/profiles",
        {
            "team_id": team.pk,
            "name": "wide",
            "source_endpoint": store.pk,
            "source_bucket": "raw",
            "destination_endpoint": store.pk,
            "destination_bucket": "copy",
            "max_parallel_shards": 32,
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["max_parallel_shards"] == 32
    assert SyncProfile.objects.get(name="wide").max_parallel_shards == 32
    assert api.get(f"/profiles/{nightly.pk}").json()["max_parallel_shards"] is None

    for value in (1, 256, None):
        response = api.patch(f"/profiles/{nightly.pk}", {"max_parallel_shards": value})
        assert response.status_code == 200, response.content
        assert response.json()["max_parallel_shards"] == value
        nightly.refresh_from_db()
        assert nightly.max_parallel_shards == value
    events = AuditEvent.objects.filter(action="profile.updated").order_by("id")
    assert [e.details["after"] for e in events] == [
        {"max_parallel_shards": 1},
        {"max_parallel_shards": 256},
        {"max_parallel_shards": None},
    ]


@pytest.mark.parametrize("value", [0, 257, "x", -1, 1.5])
def test_the_api_refuses_other_values_on_the_field(api_as, operator, team, nightly, value):
    api = api_as(operator)
    response = api.patch(f"/profiles/{nightly.pk}", {"max_parallel_shards": value})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "max_parallel_shards", error
    store = nightly.source_endpoint
    created = api.post(
        "/profiles",
        {
            "team_id": team.pk,
            "name": "wide",
            "source_endpoint": store.pk,
            "source_bucket": "raw",
            "destination_endpoint": store.pk,
            "destination_bucket": "copy",
            "max_parallel_shards": value,
        },
    )
    assert created.status_code == 422
    assert [e["field"] for e in created.json()["errors"]] == ["max_parallel_shards"]
    nightly.refresh_from_db()
    assert nightly.max_parallel_shards is None
    assert list(SyncProfile.objects.values_list("name", flat=True)) == ["Nightly"]
    assert not AuditEvent.objects.filter(action__startswith="profile.").exists()


def test_viewers_and_outsiders_cannot_change_it(api_as, viewer, outsider, nightly):
    assert (
        api_as(viewer).patch(f"/profiles/{nightly.pk}", {"max_parallel_shards": 4}).status_code
        == 403
    )
    assert (
        api_as(outsider).patch(f"/profiles/{nightly.pk}", {"max_parallel_shards": 4}).status_code
        == 404
    )
    client = signed_in(viewer)
    assert (
        client.post(f"/profiles/{nightly.pk}/edit/", {"max_parallel_shards": "4"}).status_code
        == 403
    )
    nightly.refresh_from_db()
    assert nightly.max_parallel_shards is None
    assert not AuditEvent.objects.filter(action="profile.updated").exists()
