"""Browsing an endpoint: its buckets, one level of a prefix a page at a time, on its page and
through the API, with the endpoint's stored credentials; members read, outsiders find nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from tests.support import enrol_totp
from tests.transfers.support import put_objects

pytestmark = pytest.mark.django_db

LEVEL = {
    "top.txt": b"t" * 10,
    "readme": b"r" * 3,
    "logs/a.log": b"a" * 100,
    "logs/b.log": b"b" * 200,
    "data/2026/x.bin": b"x" * 1000,
    "data/y.bin": b"y" * 50,
    "data/": b"",  # a "folder marker", as consoles create: the level itself, not an object
}


@pytest.fixture
def bucket(s3_a):
    name = s3_a.bucket("browse")
    put_objects(s3_a.client(), name, LEVEL)
    return name


def test_it_lists_the_buckets_the_credentials_see(api_as, viewer, endpoint_a, s3_a, bucket):
    other = s3_a.bucket("other")

    response = api_as(viewer).get(f"/endpoints/{endpoint_a.pk}/buckets")

    assert response.status_code == 200, response.content
    names = [item["name"] for item in response.json()["items"]]
    assert {bucket, other} <= set(names)
    assert names == sorted(names)
    assert response.json()["count"] == len(names)


def test_it_lists_one_level_with_its_folders_and_objects(api_as, viewer, endpoint_a, bucket):
    api = api_as(viewer)

    top = api.get(f"/endpoints/{endpoint_a.pk}/browse", bucket=bucket).json()
    data = api.get(f"/endpoints/{endpoint_a.pk}/browse", bucket=bucket, prefix="data").json()

    assert top["prefix"] == "" and top["next_cursor"] is None
    assert top["folders"] == [
        {"prefix": "data/", "name": "data/"},
        {"prefix": "logs/", "name": "logs/"},
    ]
    assert [(o["key"], o["name"], o["size"]) for o in top["objects"]] == [
        ("readme", "readme", 3),
        ("top.txt", "top.txt", 10),
    ]
    assert all(o["modified"] for o in top["objects"])
    # The prefix is taken as a folder: "data" lists what is under "data/".
    assert data["prefix"] == "data/"
    assert data["folders"] == [{"prefix": "data/2026/", "name": "2026/"}]
    assert [(o["key"], o["name"], o["size"]) for o in data["objects"]] == [
        ("data/y.bin", "y.bin", 50)
    ]


def test_paging_with_a_small_page_size_yields_every_entry_exactly_once(
    settings, api_as, viewer, endpoint_a, s3_a
):
    settings.BROWSE_PAGE_SIZE = 3
    bucket = s3_a.bucket("paged")
    objects = {f"p/file-{n:02d}": b"." for n in range(8)}
    objects |= {f"p/dir-{n}/inside": b"." for n in range(5)}
    put_objects(s3_a.client(), bucket, objects)
    api = api_as(viewer)
    seen, pages, cursor = [], 0, ""

    while True:
        query = {"bucket": bucket, "prefix": "p/", **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/endpoints/{endpoint_a.pk}/browse", **query).json()
        pages += 1
        assert len(page["folders"]) + len(page["objects"]) <= 3
        seen += [f["prefix"] for f in page["folders"]] + [o["key"] for o in page["objects"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    expected = sorted([f"p/file-{n:02d}" for n in range(8)] + [f"p/dir-{n}/" for n in range(5)])
    assert sorted(seen) == expected
    assert len(seen) == len(set(seen)) == 13
    assert pages == 5


def test_the_page_walks_down_with_breadcrumbs_and_a_next_page(
    settings, client, viewer, endpoint_a, bucket
):
    settings.BROWSE_PAGE_SIZE = 2
    client.force_login(viewer)
    url = reverse("endpoint_browse", args=[endpoint_a.pk])

    buckets = client.get(url)
    top = client.get(url, {"bucket": bucket})
    deeper = client.get(url, {"bucket": bucket, "prefix": "logs/"})

    assert buckets.status_code == 200
    assert f'href="{url}?bucket={bucket}"' in buckets.content.decode()
    page = top.content.decode()
    assert "data/</a>" in page and "logs/</a>" in page  # the first two entries: folders
    assert "top.txt" not in page
    assert "Next page" in page and "&amp;cursor=" in page
    assert "Count objects and size" in page
    crumbs = deeper.content.decode()
    assert f'<a href="{url}?bucket={bucket}" data-browse-link>{bucket}</a>' in crumbs
    assert '<span aria-current="location">logs</span>' in crumbs
    assert "b.log" in crumbs and "200 B" in crumbs


def test_the_endpoint_page_links_to_the_browser_for_every_member(client, viewer, endpoint_a):
    client.force_login(viewer)

    page = client.get(reverse("endpoint_detail", args=[endpoint_a.pk])).content.decode()

    assert f'href="{reverse("endpoint_browse", args=[endpoint_a.pk])}"' in page


def test_wrong_credentials_give_a_clear_message(api_as, client, viewer, team, s3_a, bucket):
    endpoint = s3_a.endpoint(team, "wrong key", secret_access_key="not-the-secret")
    api = api_as(viewer)

    buckets = api.get(f"/endpoints/{endpoint.pk}/buckets")
    level = api.get(f"/endpoints/{endpoint.pk}/browse", bucket=bucket)
    client.force_login(viewer)
    page = client.get(reverse("endpoint_browse", args=[endpoint.pk]), {"bucket": bucket})

    assert buckets.status_code == level.status_code == 502
    expected = "Credentials refused: the secret key does not match the access key id at"
    assert buckets.json()["detail"].startswith(expected)
    assert level.json()["detail"].startswith(expected)
    assert "not-the-secret" not in level.content.decode()
    assert expected in page.content.decode()


def test_a_missing_bucket_and_an_unreachable_endpoint_say_so(
    api_as, viewer, team, endpoint_a, s3_a
):
    nowhere = s3_a.endpoint(team, "nowhere", url="http://127.0.0.1:9")  # nothing listens
    api = api_as(viewer)

    missing = api.get(f"/endpoints/{endpoint_a.pk}/browse", bucket="no-such-bucket-here")
    unreachable = api.get(f"/endpoints/{nowhere.pk}/buckets")

    assert missing.status_code == 502
    assert missing.json()["detail"].startswith("The bucket no-such-bucket-here does not exist on")
    assert unreachable.status_code == 502
    assert unreachable.json()["detail"] == (
        "Cannot reach http://127.0.0.1:9: the connection failed (connection refused)."
    )


def test_bad_input_is_refused_with_a_message_per_field(api_as, viewer, endpoint_a):
    response = api_as(viewer).get(
        f"/endpoints/{endpoint_a.pk}/browse", bucket="Not_A_Bucket", prefix="../up"
    )

    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"bucket", "prefix"}


def test_a_viewer_browses_and_an_outsider_finds_nothing(
    api_as, client, viewer, outsider, endpoint_a, bucket
):
    url = reverse("endpoint_browse", args=[endpoint_a.pk])
    client.force_login(viewer)
    page = client.get(url, {"bucket": bucket})
    assert page.status_code == 200 and "top.txt" in page.content.decode()
    assert (
        api_as(viewer).get(f"/endpoints/{endpoint_a.pk}/browse", bucket=bucket).status_code == 200
    )

    enrol_totp(outsider)  # an admin elsewhere: the MFA policy wants an authenticator first
    client.force_login(outsider)
    assert client.get(url, {"bucket": bucket}).status_code == 404
    outsider_api = api_as(outsider)
    assert outsider_api.get(f"/endpoints/{endpoint_a.pk}/buckets").status_code == 404
    assert outsider_api.get(f"/endpoints/{endpoint_a.pk}/browse", bucket=bucket).status_code == 404
    assert (
        outsider_api.post(f"/endpoints/{endpoint_a.pk}/usage", {"bucket": bucket}).status_code
        == 404
    )


def test_reading_is_not_audited(api_as, viewer, endpoint_a, bucket):
    api = api_as(viewer)
    before = AuditEvent.objects.count()

    api.get(f"/endpoints/{endpoint_a.pk}/buckets")
    api.get(f"/endpoints/{endpoint_a.pk}/browse", bucket=bucket)
    api.get(f"/endpoints/{endpoint_a.pk}/usage", bucket=bucket)

    assert AuditEvent.objects.count() == before
