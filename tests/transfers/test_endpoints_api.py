"""The endpoints API: viewers read, team admins manage, operators test; secrets are write-only;
every change is one audit event that says who, from where and with which token."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from transfers.models import Endpoint, SyncProfile

pytestmark = pytest.mark.django_db

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def endpoint(team):
    return Endpoint.objects.create(
        team=team,
        name="minio",
        url="http://127.0.0.1:9000",
        access_key_id="AKIAEXAMPLE",
        secret_access_key=SECRET,
    )


def new_endpoint(team, **fields):
    return {
        "team_id": team.pk,
        "name": "archive",
        "url": "https://s3.example.com",
        "region": "eu-west-1",
        "access_key_id": "AKIANEW",
        "secret_access_key": SECRET,
        **fields,
    }


def test_it_lists_the_endpoints_of_your_teams_without_secrets(
    api_as, viewer, outsider, endpoint, other_team, django_assert_max_num_queries
):
    Endpoint.objects.create(
        team=other_team, name="theirs", access_key_id="x", secret_access_key=SECRET
    )
    api = api_as(viewer)
    with django_assert_max_num_queries(6):  # token, its teams, count, page (+ last-used write)
        response = api.get("/endpoints")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["items"][0] | {"created_at": None, "updated_at": None} == {
        "id": endpoint.pk,
        "team_id": endpoint.team_id,
        "name": "minio",
        "url": "http://127.0.0.1:9000",
        "region": "us-east-1",
        "addressing_style": "auto",
        "verify_tls": True,
        "access_key_id": "AKIAEXAMPLE",
        "created_at": None,
        "updated_at": None,
    }
    assert SECRET not in response.content.decode()
    assert api_as(outsider).get("/endpoints").json()["count"] == 1  # their own only


def test_one_endpoint_is_not_found_outside_your_teams(api_as, viewer, outsider, endpoint):
    assert api_as(viewer).get(f"/endpoints/{endpoint.pk}").status_code == 200
    assert api_as(outsider).get(f"/endpoints/{endpoint.pk}").status_code == 404


def test_a_team_admin_registers_an_endpoint(api_as, owner, team):
    api = api_as(owner)
    response = api.post(
        "/endpoints", new_endpoint(team), headers={"X-Request-ID": "req-create-endpoint-1"}
    )
    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode()
    endpoint = Endpoint.objects.get(pk=response.json()["id"])
    assert endpoint.secret_access_key.reveal() == SECRET

    event = AuditEvent.objects.get(action="endpoint.created")
    assert (event.actor, event.team, event.target_id) == (owner, team, str(endpoint.pk))
    assert (event.ip, event.user_agent, event.request_id) == (
        "127.0.0.1",
        "api-tests/1",
        "req-create-endpoint-1",
    )
    assert event.details["api_token"]["prefix"] == api.secret[:12]
    assert SECRET not in str(event.details)


def test_operators_may_not_register_endpoints(api_as, operator, team):
    response = api_as(operator).post("/endpoints", new_endpoint(team))
    assert response.status_code == 403
    assert not Endpoint.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="endpoint.").exists()


def test_a_team_you_are_not_in_is_an_invalid_team_id(api_as, outsider, team):
    response = api_as(outsider).post("/endpoints", new_endpoint(team))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "team_id", "message": "None of your teams has this id."}
    ]


def test_invalid_fields_are_422_with_a_message_each(api_as, owner, team, endpoint):
    response = api_as(owner).post(
        "/endpoints", new_endpoint(team, name="MINIO", region="Europe West", url="ftp://x")
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"name", "region", "url"}
    missing = api_as(owner).post("/endpoints", {"team_id": team.pk, "name": "x"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"access_key_id", "secret_access_key"}


def test_a_team_admin_changes_settings_and_the_change_is_audited(api_as, owner, endpoint):
    response = api_as(owner).patch(f"/endpoints/{endpoint.pk}", {"region": "eu-central-1"})
    assert response.status_code == 200
    assert response.json()["region"] == "eu-central-1"
    event = AuditEvent.objects.get(action="endpoint.updated")
    assert event.details["before"] == {"region": "us-east-1"}
    assert event.details["after"] == {"region": "eu-central-1"}


def test_a_secret_cannot_be_set_by_a_plain_edit(api_as, owner, endpoint):
    response = api_as(owner).patch(
        f"/endpoints/{endpoint.pk}", {"secret_access_key": "sneaky", "name": None}
    )
    assert response.status_code == 422
    endpoint.refresh_from_db()
    assert endpoint.secret_access_key.reveal() == SECRET


def test_a_team_admin_rotates_the_credentials(api_as, owner, endpoint):
    response = api_as(owner).put(
        f"/endpoints/{endpoint.pk}/credentials",
        {"secret_access_key": "n3w-s3cret", "access_key_id": "AKIAROTATED"},
    )
    assert response.status_code == 200
    assert "n3w-s3cret" not in response.content.decode()
    assert response.json()["access_key_id"] == "AKIAROTATED"
    endpoint.refresh_from_db()
    assert endpoint.secret_access_key.reveal() == "n3w-s3cret"
    event = AuditEvent.objects.get(action="endpoint.secret_rotated")
    assert "n3w-s3cret" not in str(event.details) and SECRET not in str(event.details)


@pytest.mark.parametrize("who", ["operator", "viewer"])
def test_only_team_admins_change_endpoints(api_as, request, endpoint, who):
    api = api_as(request.getfixturevalue(who))
    assert api.patch(f"/endpoints/{endpoint.pk}", {"region": "eu-west-3"}).status_code == 403
    assert (
        api.put(f"/endpoints/{endpoint.pk}/credentials", {"secret_access_key": "x"}).status_code
        == 403
    )
    assert api.delete(f"/endpoints/{endpoint.pk}").status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="endpoint.").exists()


def test_a_read_only_token_cannot_write(api_as, owner, endpoint):
    response = api_as(owner, scope="read").patch(f"/endpoints/{endpoint.pk}", {"region": "x-1"})
    assert response.status_code == 403
    assert response.json()["detail"] == "This token is read-only."


def test_a_token_reaches_only_its_teams(api_as, owner, endpoint, other_team):
    from accounts.models import Membership

    Membership.objects.create(user=owner, team=other_team, role="admin")
    api = api_as(owner, teams=[other_team])
    assert api.get(f"/endpoints/{endpoint.pk}").status_code == 404
    assert api.delete(f"/endpoints/{endpoint.pk}").status_code == 404


def test_an_unused_endpoint_is_deleted(api_as, owner, endpoint):
    response = api_as(owner).delete(f"/endpoints/{endpoint.pk}")
    assert response.status_code == 204
    assert not Endpoint.objects.exists()
    assert AuditEvent.objects.get(action="endpoint.deleted").target_id == str(endpoint.pk)


def test_an_endpoint_in_use_is_a_conflict(api_as, owner, endpoint, team):
    SyncProfile.objects.create(
        team=team,
        name="nightly",
        source_endpoint=endpoint,
        source_bucket="a",
        destination_endpoint=endpoint,
        destination_bucket="b",
    )
    response = api_as(owner).delete(f"/endpoints/{endpoint.pk}")
    assert response.status_code == 409
    assert "nightly" in response.json()["detail"]


def test_operators_test_an_endpoint_against_a_real_s3(api_as, operator, viewer, team, s3_a):
    from tests.transfers.support import S3Service  # noqa: F401 - s3_a is one

    endpoint = s3_a.endpoint(team, "Provider A")
    bucket = s3_a.bucket()
    response = api_as(operator).post(f"/endpoints/{endpoint.pk}/test", {"bucket": bucket})
    assert response.status_code == 200
    assert response.json() | {"message": ""} == {
        "ok": True,
        "reachable": True,
        "authorised": True,
        "bucket_listable": True,
        "message": "",
    }
    without_body = api_as(operator).post(f"/endpoints/{endpoint.pk}/test")
    assert without_body.status_code == 200 and without_body.json()["bucket_listable"] is None
    assert api_as(viewer).post(f"/endpoints/{endpoint.pk}/test").status_code == 403


def test_a_bad_secret_is_reported_not_raised(api_as, operator, team, s3_a):
    endpoint = s3_a.endpoint(team, "Provider A", secret_access_key="not-the-secret")
    response = api_as(operator).post(f"/endpoints/{endpoint.pk}/test")
    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["reachable"], body["authorised"]) == (False, True, False)
    assert "not-the-secret" not in response.content.decode()
