"""`seed_demo` builds the demo once and converges on the same state when run again."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent, Membership, Team, User
from transfers.management.commands.seed_demo import ARCHIVE_BUCKET, SOURCE_BUCKET, sample_objects
from transfers.models import Endpoint, SyncProfile


def keys(client, bucket: str) -> set[str]:
    found = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update(item["Key"] for item in page.get("Contents", []))
    return found


def seed(s3, tmp_path) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo", "--s3-url", s3.url, "--login-file", str(tmp_path / "login"), stdout=out
    )
    return out.getvalue()


def test_it_seeds_a_working_demo(db, s3, tmp_path):
    output = seed(s3, tmp_path)

    admin = User.objects.get(username="admin")
    username, password = (tmp_path / "login").read_text().strip().split(" / ")
    assert username == "admin" and admin.check_password(password)
    assert f"admin / {password}" in output
    assert (tmp_path / "login").stat().st_mode & 0o077 == 0
    assert Membership.objects.get(user=admin).role == "admin"

    endpoint = Endpoint.objects.get()
    assert endpoint.url == s3.url
    profile = SyncProfile.objects.get()
    assert (profile.source_bucket, profile.destination_bucket) == (SOURCE_BUCKET, ARCHIVE_BUCKET)

    client = s3.client()
    expected = sample_objects()
    assert keys(client, SOURCE_BUCKET) == set(expected[SOURCE_BUCKET])
    assert keys(client, ARCHIVE_BUCKET) == set(expected[ARCHIVE_BUCKET])
    assert 200 <= sum(len(objects) for objects in expected.values()) <= 500
    some_key = "images/img-007.bin"
    body = client.get_object(Bucket=SOURCE_BUCKET, Key=some_key)["Body"].read()
    assert body == expected[SOURCE_BUCKET][some_key]


def test_it_is_idempotent(db, s3, tmp_path):
    seed(s3, tmp_path)
    password_line = (tmp_path / "login").read_text()
    output = seed(s3, tmp_path)

    assert "0 sample objects uploaded" in output
    assert "Created demo admin" not in output
    assert (tmp_path / "login").read_text() == password_line
    assert (Team.objects.count(), User.objects.count(), Membership.objects.count()) == (1, 1, 1)
    assert (Endpoint.objects.count(), SyncProfile.objects.count()) == (1, 1)


def test_it_starts_the_audit_trail_with_the_demos_creation(db, s3, tmp_path):
    seed(s3, tmp_path)
    admin = User.objects.get(username="admin")
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))

    assert actions == [
        "user.created",
        "user.updated",  # made a superuser
        "team.created",
        "member.added",
        "endpoint.created",
        "profile.created",
    ]
    assert set(
        AuditEvent.objects.exclude(action="user.created").values_list("actor", flat=True)
    ) == {admin.pk}
    seed(s3, tmp_path)
    assert AuditEvent.objects.count() == len(actions), "a second run changes nothing"


def test_it_restores_sample_data_after_the_sandbox_restarts(db, s3, tmp_path):
    seed(s3, tmp_path)
    s3.reset()  # the sandbox keeps objects in memory only
    output = seed(s3, tmp_path)
    assert f"{sum(len(o) for o in sample_objects().values())} sample objects uploaded" in output


def test_it_needs_the_sandbox_url(db, monkeypatch):
    monkeypatch.delenv("SANDBOX_S3_URL", raising=False)
    with pytest.raises(CommandError, match="--s3-url"):
        call_command("seed_demo", "--s3-url", "")
    assert not Team.objects.exists()
