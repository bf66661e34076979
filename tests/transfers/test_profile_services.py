"""Profiles: every location, pattern and option is checked before anything is saved; a bad
one gets a message on its field, and nothing is created."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from tests.transfers.support import put_objects, s3_keys
from transfers import services
from transfers.errors import ProfileBusy
from transfers.models import Endpoint, Job, SyncProfile


@pytest.fixture
def endpoint(team):
    return Endpoint.objects.create(
        team=team, name="s3", url="http://127.0.0.1:9000", access_key_id="a", secret_access_key="s"
    )


@pytest.fixture
def foreign_endpoint(other_team):
    return Endpoint.objects.create(
        team=other_team, name="theirs", access_key_id="a", secret_access_key="s"
    )


def fields(endpoint, **overrides):
    values = {
        "name": "nightly",
        "source_endpoint": endpoint,
        "source_bucket": "source-bucket",
        "source_prefix": "exports/2026",
        "destination_endpoint": endpoint,
        "destination_bucket": "archive-bucket",
    }
    values.update(overrides)
    return values


@pytest.mark.django_db
def test_it_creates_a_profile_and_audits_it(team, operator, endpoint):
    profile = services.create_profile(team, actor=operator, **fields(endpoint))

    assert profile.source_prefix == "exports/2026/"  # a prefix is a folder
    assert profile.created_by == operator
    event = AuditEvent.objects.get()
    assert (event.action, event.actor) == ("profile.created", operator)
    assert event.details["after"]["source_endpoint"] == endpoint.pk


OUTSIDE = "/etc"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Enter a name."),
        ({"source_bucket": "Bad_Bucket"}, "source_bucket", "lowercase letters, digits"),
        ({"source_bucket": "ab"}, "source_bucket", "3 to 63 characters"),
        ({"source_bucket": "192.168.1.1"}, "source_bucket", "look like an IP address"),
        ({"source_bucket": "xn--x"}, "source_bucket", "cannot start with 'xn--'"),
        ({"source_bucket": "sthree-data"}, "source_bucket", "cannot start with 'sthree-'"),
        ({"source_bucket": "sthree-configurator"}, "source_bucket", "start with 'sthree-'"),
        ({"source_bucket": "amzn-s3-demo-bucket"}, "source_bucket", "start with 'amzn-s3-demo-'"),
        ({"destination_bucket": "b-s3alias"}, "destination_bucket", "end with '-s3alias'"),
        ({"destination_bucket": "b--ol-s3"}, "destination_bucket", "end with '--ol-s3'"),
        ({"destination_bucket": "b.mrap"}, "destination_bucket", "end with '.mrap'"),
        ({"destination_bucket": "b--x-s3"}, "destination_bucket", "end with '--x-s3'"),
        ({"destination_bucket": "b--table-s3"}, "destination_bucket", "end with '--table-s3'"),
        ({"destination_bucket": "a..b"}, "destination_bucket", "two dots"),
        ({"source_prefix": "../secrets/"}, "source_prefix", "'.' or '..' segments"),
        ({"source_prefix": "a/../../b"}, "source_prefix", "'.' or '..' segments"),
        ({"destination_prefix": "-rf/"}, "destination_prefix", "cannot start with '-'"),
        ({"source_prefix": "bad\nprefix"}, "source_prefix", "control characters"),
        ({"source_prefix": "/rooted"}, "source_prefix", "remove the leading '/'"),
        (
            {"source_bucket": "", "source_endpoint": None, "source_prefix": ""},
            "source_bucket",
            "Choose the source",
        ),
        ({"source_path": "/data"}, "source_path", "not both"),
        ({"source_endpoint": None}, "source_endpoint", "Choose an endpoint."),
        (
            {"destination_endpoint": None, "destination_bucket": "", "destination_path": OUTSIDE},
            "destination_path",
            "outside the allowed local roots",
        ),
        (
            {"destination_endpoint": None, "destination_bucket": "", "destination_path": "data"},
            "destination_path",
            "must be absolute",
        ),
        (
            {"destination_endpoint": None, "destination_bucket": "", "destination_path": "/a/../b"},
            "destination_path",
            "cannot contain '..'",
        ),
        (
            {"destination_bucket": "source-bucket", "destination_prefix": "exports/2026/copy/"},
            "destination_prefix",
            "overlaps the source",
        ),
        ({"exclude_patterns": [""]}, "exclude_patterns", "cannot be empty"),
        ({"include_patterns": "*.csv"}, "include_patterns", "Give a list of patterns."),
        ({"storage_class": "cheap please"}, "storage_class", "such as STANDARD_IA"),
        ({"workers": 0}, "workers", "greater than or equal to 1"),
        ({"part_size_mb": 1}, "part_size_mb", "greater than or equal to 5"),
        ({"mode": "teleport"}, "mode", "not a valid choice"),
        ({"compare": "vibes"}, "compare", "not a valid choice"),
        ({"colour": "blue"}, "colour", "cannot be set here"),
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(
    team, operator, endpoint, overrides, field, message
):
    with pytest.raises(ValidationError) as excinfo:
        services.create_profile(team, actor=operator, **fields(endpoint, **overrides))

    assert any(message in text for text in excinfo.value.message_dict[field]), excinfo.value
    assert not SyncProfile.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_local_to_local_and_foreign_endpoints_are_refused(
    team, operator, endpoint, foreign_endpoint
):
    root = str(settings.LOCAL_ROOTS[0])
    cases = [
        (
            {
                "source_endpoint": None,
                "source_bucket": "",
                "source_prefix": "",
                "source_path": root,
                "destination_endpoint": None,
                "destination_bucket": "",
                "destination_path": root,
            },
            "destination_path",
            "local to local is not supported",
        ),
        (
            {"source_endpoint": foreign_endpoint},
            "source_endpoint",
            "Choose an endpoint of this team.",
        ),
        (
            {"source_endpoint": foreign_endpoint.pk},
            "source_endpoint",
            "Choose an endpoint of this team.",
        ),
    ]
    for overrides, field, message in cases:
        with pytest.raises(ValidationError) as excinfo:
            services.create_profile(team, actor=operator, **fields(endpoint, **overrides))
        assert any(message in text for text in excinfo.value.message_dict[field])
    assert not SyncProfile.objects.exists()


@pytest.mark.django_db
def test_wildcards_are_literal_unless_asked_for(team, operator, endpoint):
    literal = services.create_profile(
        team, actor=operator, **fields(endpoint, name="literal", source_prefix="logs/2026-*")
    )
    globbed = services.create_profile(
        team,
        actor=operator,
        **fields(endpoint, name="globbed", source_prefix="logs/2026-*", source_wildcards=True),
    )
    assert literal.source_prefix == "logs/2026-*/"  # a folder literally named "2026-*"
    assert globbed.source_prefix == "logs/2026-*"


@pytest.mark.django_db
def test_it_treats_a_star_in_a_prefix_literally_when_checking_overlap(team, operator, endpoint):
    same_bucket = {"destination_bucket": "source-bucket", "destination_prefix": "star-out/"}

    literal = services.create_profile(
        team,
        actor=operator,
        **fields(endpoint, name="literal", source_prefix="star*/", **same_bucket),
    )
    with pytest.raises(ValidationError) as excinfo:
        services.create_profile(
            team,
            actor=operator,
            **fields(
                endpoint, name="glob", source_prefix="star*", source_wildcards=True, **same_bucket
            ),
        )

    assert (literal.source_prefix, literal.destination_prefix) == ("star*/", "star-out/")
    assert "overlaps the source" in excinfo.value.message_dict["destination_prefix"][0]
    assert list(SyncProfile.objects.values_list("name", flat=True)) == ["literal"]


@pytest.mark.django_db
def test_it_updates_and_records_before_and_after(team, operator, endpoint):
    profile = services.create_profile(team, actor=operator, **fields(endpoint))

    services.update_profile(profile, actor=operator, mode="mirror", exclude_patterns=["*.tmp"])

    event = AuditEvent.objects.get(action="profile.updated")
    assert event.details == {
        "before": {"mode": "sync", "exclude_patterns": []},
        "after": {"mode": "mirror", "exclude_patterns": ["*.tmp"]},
    }
    with pytest.raises(ValidationError):
        services.update_profile(profile, actor=operator, source_bucket="NO")
    profile.refresh_from_db()
    assert profile.source_bucket == "source-bucket"


@pytest.mark.django_db
def test_a_profile_with_a_job_in_progress_cannot_be_deleted(team, operator, endpoint):
    profile = services.create_profile(team, actor=operator, **fields(endpoint))
    job = Job.objects.create(team=team, profile=profile, profile_name="nightly")
    with pytest.raises(ProfileBusy, match=f"#{job.pk}"):
        services.delete_profile(profile, actor=operator)

    Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCEEDED)
    services.delete_profile(profile, actor=operator)

    job.refresh_from_db()
    assert job.profile is None and job.profile_name == "nightly"  # history stays
    assert AuditEvent.objects.order_by("id").last().action == "profile.deleted"


@pytest.mark.django_db
def test_a_preview_shows_the_plan_and_moves_nothing(team, operator, s3_a):
    endpoint = s3_a.endpoint(team, "a")
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"a.csv": b"1", "b.csv": b"22", "c.log": b"3"}, prefix="in/")
    put_objects(client, bucket, {"a.csv": b"1", "old.csv": b"x", "keep.log": b"x"}, prefix="out/")
    profile = services.create_profile(
        team,
        actor=operator,
        **fields(
            endpoint,
            mode="mirror",
            exclude_patterns=["*.log"],
            source_bucket=bucket,
            source_prefix="in/",
            destination_bucket=bucket,
            destination_prefix="out/",
        ),
    )
    before = s3_keys(client, bucket)

    plan = services.preview_profile(profile)

    assert (plan.route, plan.mode) == ("server_side", "mirror")
    assert (plan.objects_to_copy, plan.bytes_to_copy) == (1, 2)
    assert (plan.objects_to_delete, plan.objects_unchanged) == (1, 1)
    assert (plan.sample_to_copy, plan.sample_to_delete) == (["b.csv"], ["old.csv"])
    assert s3_keys(client, bucket) == before
    assert not Job.objects.exists()
