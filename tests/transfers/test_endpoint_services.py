"""Endpoints: created, changed, rotated and deleted through services that validate every
field, audit every change and never let the secret out."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from tests.support import free_port
from transfers import services
from transfers.errors import EndpointInUse
from transfers.models import Endpoint, SyncProfile

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def create(team, actor, **overrides):
    fields = {
        "name": "MinIO",
        "url": "http://127.0.0.1:9000",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": SECRET,
    }
    fields.update(overrides)
    return services.create_endpoint(team, actor=actor, **fields)


def all_audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("details", "target_label")))


@pytest.mark.django_db
def test_it_creates_an_endpoint_and_audits_it_without_the_secret(team, owner):
    endpoint = create(team, owner)

    assert endpoint.secret_access_key.reveal() == SECRET
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.team) == ("endpoint.created", owner, team)
    assert event.details["after"]["url"] == "http://127.0.0.1:9000"
    assert SECRET not in all_audit_text() and "secret_access_key" not in event.details["after"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter a name."),
        ({"url": "ftp://files.example.com"}, "url", "starts with http:// or https://"),
        ({"url": "http://169.254.169.254"}, "url", "link-local or cloud metadata address"),
        ({"url": "http://[fe80::1]:9000"}, "url", "link-local or cloud metadata address"),
        ({"url": "http://[::ffff:169.254.169.254]"}, "url", "link-local or cloud metadata"),
        ({"url": "http://2852039166/"}, "url", "link-local or cloud metadata address"),
        ({"url": "http://metadata.google.internal"}, "url", "cloud metadata service"),
        ({"url": "http://user:pw@minio.example.com"}, "url", "Do not put credentials"),
        ({"url": "http://minio.example.com/bucket"}, "url", "has no path"),
        ({"region": "US East"}, "region", "such as us-east-1"),
        ({"access_key_id": "AKIA EXAMPLE"}, "access_key_id", "without spaces"),
        ({"secret_access_key": ""}, "secret_access_key", "Enter the secret access key"),
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(team, owner, overrides, field, message):
    with pytest.raises(ValidationError) as excinfo:
        create(team, owner, **overrides)

    assert any(message in text for text in excinfo.value.message_dict[field])
    assert not Endpoint.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_private_networks_need_the_administrator_s_permission(settings, team, owner):
    settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS = False
    for url in ("http://127.0.0.1:9000", "http://10.1.2.3", "http://[::1]:9000"):
        with pytest.raises(ValidationError) as excinfo:
            create(team, owner, url=url)
        assert "ENDPOINT_ALLOW_PRIVATE_NETWORKS" in excinfo.value.message_dict["url"][0]
    assert not Endpoint.objects.exists()


@pytest.mark.django_db
def test_names_are_unique_within_a_team(team, owner):
    create(team, owner)
    with pytest.raises(ValidationError) as excinfo:
        create(team, owner, name="minio")
    assert excinfo.value.message_dict["name"] == [
        "This team already has an endpoint with this name."
    ]


@pytest.mark.django_db
def test_it_updates_and_records_what_changed(team, owner):
    endpoint = create(team, owner)

    services.update_endpoint(endpoint, actor=owner, region="eu-west-1", name="MinIO EU")

    event = AuditEvent.objects.get(action="endpoint.updated")
    assert event.details == {
        "before": {"name": "MinIO", "region": "us-east-1"},
        "after": {"name": "MinIO EU", "region": "eu-west-1"},
    }
    with pytest.raises(ValidationError) as excinfo:
        services.update_endpoint(endpoint, actor=owner, secret_access_key="sneaky")
    assert "secret_access_key" in excinfo.value.message_dict


@pytest.mark.django_db
def test_it_rotates_the_secret_without_recording_it(team, owner):
    endpoint = create(team, owner)

    services.rotate_endpoint_secret(
        endpoint, actor=owner, access_key_id="AKIANEW", secret_access_key="a-brand-new-secret"
    )

    endpoint = Endpoint.objects.get()
    assert (endpoint.access_key_id, endpoint.secret_access_key.reveal()) == (
        "AKIANEW",
        "a-brand-new-secret",
    )
    event = AuditEvent.objects.get(action="endpoint.secret_rotated")
    assert event.details["secret_access_key"] == "replaced"
    assert "a-brand-new-secret" not in all_audit_text() and SECRET not in all_audit_text()


@pytest.mark.django_db
def test_an_endpoint_in_use_cannot_be_deleted(team, owner):
    endpoint = create(team, owner)
    SyncProfile.objects.create(
        team=team,
        name="nightly",
        source_endpoint=endpoint,
        source_bucket="source-bucket",
        destination_endpoint=endpoint,
        destination_bucket="target-bucket",
    )
    with pytest.raises(EndpointInUse, match="used by the profiles nightly"):
        services.delete_endpoint(endpoint, actor=owner)
    SyncProfile.objects.all().delete()

    services.delete_endpoint(endpoint, actor=owner)

    assert not Endpoint.objects.exists()
    assert AuditEvent.objects.order_by("id").last().action == "endpoint.deleted"


@pytest.mark.django_db
def test_it_tests_reachability_credentials_and_bucket(team, owner, s3_a):
    bucket = s3_a.bucket()
    good = s3_a.endpoint(team, "good")
    wrong = s3_a.endpoint(team, "wrong", secret_access_key="not-it")
    down = s3_a.endpoint(team, "down", url=f"http://127.0.0.1:{free_port()}")

    ok = services.test_endpoint(good, bucket=bucket)
    assert (ok.reachable, ok.authorised, ok.bucket_listable, ok.ok) == (True, True, True, True)
    missing = services.test_endpoint(good, bucket="no-such-bucket")
    assert (missing.authorised, missing.bucket_listable) == (True, False)
    assert "does not exist" in missing.message
    refused = services.test_endpoint(wrong)
    assert (refused.reachable, refused.authorised) == (True, False)
    assert "SignatureDoesNotMatch" in refused.message
    unreachable = services.test_endpoint(down)
    assert (unreachable.reachable, unreachable.ok) == (False, False)
    assert unreachable.message == (
        f"Cannot reach {down.url}: the connection failed (connection refused)."
    )
    with pytest.raises(ValidationError):
        services.test_endpoint(good, bucket="Not_A_Bucket")


@pytest.mark.django_db
def test_a_service_name_is_a_valid_host(team, owner):
    """In a compose file or a cluster, S3 is often just "minio"."""
    endpoint = create(team, owner, url="http://minio:9000/")
    assert endpoint.url == "http://minio:9000"
