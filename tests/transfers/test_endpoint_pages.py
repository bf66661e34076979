"""The endpoint pages: team admins add, edit, rotate and delete endpoints; operators test
them; nobody ever gets a secret back, not even masked."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from tests.transfers.pages import endpoint, profile, signed_in
from transfers.models import Endpoint

pytestmark = pytest.mark.django_db

SECRET = "never-show-this-secret"


def form(**overrides):
    values = {
        "name": "MinIO",
        "url": "http://127.0.0.1:9",
        "region": "us-east-1",
        "addressing_style": "path",
        "verify_tls": "on",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": SECRET,
    }
    values.update(overrides)
    return values


def test_it_lists_endpoints_in_few_queries(team, owner, django_assert_max_num_queries):
    client = signed_in(owner)
    for n in range(8):
        profile(team, endpoint(team, f"Store {n}"), name=f"Profile {n}")
    with django_assert_max_num_queries(12):
        response = client.get("/endpoints/")
    assert response.status_code == 200
    assert response.content.decode().count('href="/endpoints/') >= 8
    assert SECRET.encode() not in response.content


def test_it_adds_an_endpoint_and_never_shows_the_secret(team, owner):
    client = signed_in(owner)
    response = client.post("/endpoints/new/", form(team=team.pk))
    created = Endpoint.objects.get(name="MinIO")
    assert response.status_code == 302 and response["Location"] == f"/endpoints/{created.pk}/"
    assert created.secret_access_key.reveal() == SECRET
    for url in ("/endpoints/", f"/endpoints/{created.pk}/", f"/endpoints/{created.pk}/edit/"):
        page = client.get(url).content.decode()
        assert SECRET not in page
    assert AuditEvent.objects.filter(action="endpoint.created").count() == 1


def test_it_shows_the_services_errors_on_the_fields(team, owner):
    client = signed_in(owner)
    endpoint(team, "MinIO")
    response = client.post(
        "/endpoints/new/", form(team=team.pk, url="ftp://files.example.com", region="EU West")
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "already has an endpoint with this name" in errors["name"][0]
    assert errors["url"] and errors["region"]
    # The secret typed in is not sent back to the browser either.
    assert SECRET not in response.content.decode()


def test_it_edits_without_touching_the_secret(team, owner):
    client = signed_in(owner)
    store = endpoint(team)
    response = client.post(f"/endpoints/{store.pk}/edit/", form(name="MinIO lab", region="eu-1"))
    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.name, store.region, store.secret_access_key.reveal()) == (
        "MinIO lab",
        "eu-1",
        SECRET,
    )


def test_it_rotates_the_secret(team, owner):
    client = signed_in(owner)
    store = endpoint(team)
    response = client.post(
        f"/endpoints/{store.pk}/rotate/", {"access_key_id": "AKIANEW", "secret_access_key": "n3w"}
    )
    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.access_key_id, store.secret_access_key.reveal()) == ("AKIANEW", "n3w")
    assert AuditEvent.objects.filter(action="endpoint.secret_rotated").count() == 1


def test_a_rotation_without_a_secret_is_refused(team, owner):
    client = signed_in(owner)
    store = endpoint(team)
    response = client.post(f"/endpoints/{store.pk}/rotate/", {"secret_access_key": ""})
    assert response.status_code == 422
    assert response.context["rotate_form"].errors["secret_access_key"]
    store.refresh_from_db()
    assert store.secret_access_key.reveal() == SECRET


def test_an_endpoint_in_use_is_not_deleted(team, owner):
    client = signed_in(owner)
    store = endpoint(team)
    profile(team, store, name="Nightly")
    response = client.post(f"/endpoints/{store.pk}/delete/", follow=True)
    assert Endpoint.objects.filter(pk=store.pk).exists()
    assert "used by the profiles Nightly" in response.content.decode()


@pytest.mark.parametrize(
    ("secret", "bucket", "verdict", "text"),
    [
        (None, "present", "ok", "present is listable"),
        ("wrong-secret", "", "failed", "Credentials accepted"),
        (None, "missing-bucket", "failed", "Bucket listable"),
    ],
)
def test_it_tests_the_connection(team, operator, s3_a, secret, bucket, verdict, text):
    client = signed_in(operator)
    s3_a.client().create_bucket(Bucket="present")
    store = s3_a.endpoint(team, "Provider A", **({"secret_access_key": secret} if secret else {}))
    response = client.post(
        f"/endpoints/{store.pk}/test/", {"bucket": bucket}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="endpoint-check"')  # the fragment htmx swaps in
    assert f'data-check-result="{verdict}"' in page and text in page
    assert s3_a.secret_key not in page


def test_an_unreachable_endpoint_says_so(team, operator):
    client = signed_in(operator)
    store = endpoint(team, url="http://127.0.0.1:9")
    page = client.post(f"/endpoints/{store.pk}/test/", {"bucket": ""}).content.decode()
    assert 'data-check-result="failed"' in page
    assert 'Reachable <span class="visually-hidden">no' in page
