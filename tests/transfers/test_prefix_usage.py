"""The object count and size of a prefix: started by a request, counted by a real Celery
worker listing the prefix on a real S3 server, kept in the cache, shown when ready."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from tests.support import wait_until
from tests.transfers.support import put_objects

# Over a thousand objects: the count spans several S3 listing pages.
INSIDE = {f"usage/{n % 7}/deeper/obj-{n:04d}": b"x" * (n % 13) for n in range(1030)}
INSIDE |= {"usage/top.bin": b"t" * 4096}
OUTSIDE = {"usage-not/x": b"x" * 99, "elsewhere/y": b"y" * 5}


def _wait_for_result(api, endpoint, bucket: str, prefix: str) -> dict:
    def finished():
        body = api.get(f"/endpoints/{endpoint.pk}/usage", bucket=bucket, prefix=prefix).json()
        return body if body["state"] in ("done", "failed") else None

    return wait_until(finished, "the prefix count", timeout=60)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_counts_the_objects_and_size_of_a_prefix(
    celery_worker, api_as, viewer, endpoint_a, s3_a
):
    bucket = s3_a.bucket("usage")
    put_objects(s3_a.client(), bucket, INSIDE | OUTSIDE)
    api = api_as(viewer)

    started = api.post(f"/endpoints/{endpoint_a.pk}/usage", {"bucket": bucket, "prefix": "usage"})
    result = _wait_for_result(api, endpoint_a, bucket, "usage/")
    kept = api.post(f"/endpoints/{endpoint_a.pk}/usage", {"bucket": bucket, "prefix": "usage/"})

    assert started.status_code == 202, started.content
    assert started.json()["state"] == "counting" and started.json()["prefix"] == "usage/"
    assert result["state"] == "done", result
    assert result["objects"] == len(INSIDE) == 1031
    assert result["bytes"] == sum(len(body) for body in INSIDE.values())
    assert result["finished_at"] >= result["started_at"]
    # Kept for a while: asking again returns it without listing the prefix again.
    assert kept.status_code == 200 and kept.json() == result
    events = AuditEvent.objects.filter(action="endpoint.usage_counted")
    assert [(e.actor, e.details["bucket"], e.details["prefix"]) for e in events] == [
        (viewer, bucket, "usage/")
    ]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_page_starts_a_count_and_shows_it_when_ready(
    celery_worker, client, viewer, endpoint_a, s3_a
):
    bucket = s3_a.bucket("usage-page")
    put_objects(s3_a.client(), bucket, {"a/1": b"1" * 2048, "a/b/2": b"2" * 1024, "c": b"3"})
    client.force_login(viewer)
    browse = reverse("endpoint_browse", args=[endpoint_a.pk])

    response = client.post(
        reverse("endpoint_usage", args=[endpoint_a.pk]), {"bucket": bucket, "prefix": "a/"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{browse}?bucket={bucket}&prefix=a%2F"

    def shown():
        page = client.get(browse, {"bucket": bucket, "prefix": "a/"}).content.decode()
        return page if "data-usage-result" in page else None

    page = wait_until(shown, "the count on the page", timeout=60)
    assert "2 objects · 3.0 KiB" in page
    assert "Count again" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_count_the_endpoint_refuses_fails_with_the_reason(
    celery_worker, api_as, viewer, team, s3_a
):
    bucket = s3_a.bucket("usage-refused")
    endpoint = s3_a.endpoint(team, "wrong key", secret_access_key="not-the-secret")
    api = api_as(viewer)

    api.post(f"/endpoints/{endpoint.pk}/usage", {"bucket": bucket})
    result = _wait_for_result(api, endpoint, bucket, "")

    assert result["state"] == "failed"
    assert result["message"].startswith(
        "Credentials refused: the secret key does not match the access key id"
    )
    assert result["objects"] == 0


@pytest.mark.django_db
def test_a_count_under_way_is_not_started_twice(api_as, viewer, operator, offline_endpoint):
    path = f"/endpoints/{offline_endpoint.pk}/usage"

    first = api_as(viewer).post(path, {"bucket": "some-bucket", "prefix": "a/"})
    second = api_as(operator).post(path, {"bucket": "some-bucket", "prefix": "a/", "again": True})
    shown = api_as(viewer).get(path, bucket="some-bucket", prefix="a/")

    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["state"] == shown.json()["state"] == "counting"
    assert AuditEvent.objects.filter(action="endpoint.usage_counted").count() == 1


@pytest.mark.django_db
def test_a_prefix_never_counted_says_so(api_as, viewer, offline_endpoint):
    response = api_as(viewer).get(f"/endpoints/{offline_endpoint.pk}/usage", bucket="some-bucket")

    assert response.status_code == 200
    assert response.json() | {"started_at": None} == {
        "bucket": "some-bucket",
        "prefix": "",
        "state": "not_counted",
        "objects": None,
        "bytes": None,
        "started_at": None,
        "finished_at": None,
        "message": "",
    }
