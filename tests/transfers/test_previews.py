"""Previews run in a worker: the request that starts one answers while the listing has not even
begun, the API and a socket follow its progress, a cancel stops it within seconds, and the
result is kept for a while, then pruned."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.support import free_port, wait_until
from tests.transfers.channels_client import live_socket, session_cookie
from tests.transfers.conftest import audit_actions
from tests.transfers.support import put_objects, s3_keys, same_bucket_profile
from transfers import previews, retention, services
from transfers.models import Preview, SyncProfile


def in_a_worker(test):
    """A real Celery worker runs the preview: it must see the rows this test commits."""
    return pytest.mark.worker(pytest.mark.django_db(transaction=True)(test))


def listing(prefix: str | None = None):
    """Matches a ListObjectsV2 request (of one prefix, if given) at the proxy."""

    def match(request) -> bool:
        if request.method != "GET" or "list-type" not in request.query:
            return False
        return prefix is None or request.query.get("prefix") == [prefix]

    return match


@pytest.fixture
def bucket(s3_a):
    """src/ holds 12 objects; dst/ holds 2 of them (unchanged) and one the source has not."""
    client, name = s3_a.client(), s3_a.bucket("preview")
    objects = {f"part-{n:02}.csv": b"x" * (n + 1) for n in range(12)}
    put_objects(client, name, objects, prefix="src/")
    put_objects(client, name, {"part-00.csv": b"x", "part-01.csv": b"xx"}, prefix="dst/")
    put_objects(client, name, {"gone.csv": b"old"}, prefix="dst/")
    return name


@pytest.fixture
def mirror(team, operator, s3_a, proxy_a, bucket):
    """A mirror of the bucket's src/ to dst/, through the proxy that can hold its listings."""
    endpoint = s3_a.endpoint(team, "Provider A via proxy", url=proxy_a.url)
    return same_bucket_profile(team, operator, endpoint, bucket, name="mirror", mode="mirror")


def poll(api, preview_id: int, *states: str) -> dict:
    def answered():
        body = api.get(f"/previews/{preview_id}").json()
        return body if body["state"] in states else None

    return wait_until(answered, f"preview {preview_id} to be {' or '.join(states)}")


@in_a_worker
def test_it_lists_in_a_worker_and_the_api_polls_it_to_the_plan(
    celery_worker, api_as, operator, mirror, s3_a, bucket
):
    api = api_as(operator)
    response = api.post(f"/profiles/{mirror.pk}/previews")
    assert response.status_code == 202, response.content
    started = response.json()
    assert response["Location"] == f"/api/v1/previews/{started['id']}"
    # Queued, or already taken by the worker: the task is sent once the row is committed.
    assert started["state"] in ("queued", "running") and started["result"] is None

    done = poll(api, started["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done["error"]
    plan = done["result"]
    assert (plan["objects_to_copy"], plan["objects_unchanged"], plan["objects_to_delete"]) == (
        10,
        2,
        1,
    )
    assert plan["bytes_to_copy"] == sum(range(3, 13))
    assert plan["sample_to_copy"][:2] == ["part-02.csv", "part-03.csv"]
    assert plan["sample_to_delete"] == ["gone.csv"] and plan["route"] == "server_side"
    assert done["progress"]["source_listed"] == 12
    assert done["progress"]["destination_listed"] == 3
    assert done["finished_at"] is not None and done["requested_by"] == operator.username
    assert s3_keys(s3_a.client(), bucket, "dst/") == {"part-00.csv", "part-01.csv", "gone.csv"}
    assert "preview.started" in audit_actions()


@in_a_worker
def test_the_request_answers_before_the_listing_is_done(
    celery_worker, api_as, operator, viewer, mirror, proxy_a
):
    held = proxy_a.hold(listing())
    response = api_as(operator).post(f"/profiles/{mirror.pk}/previews")
    assert response.status_code == 202
    preview_id = response.json()["id"]
    # The worker's first listing request is held at the proxy: the request answered first.
    assert held.reached.wait(60), "the worker never listed"
    reader = api_as(viewer)
    assert reader.get(f"/previews/{preview_id}").json()["state"] == "running"

    proxy_a.release(held)
    done = poll(reader, preview_id, "succeeded", "failed")
    assert done["state"] == "succeeded", done["error"]
    assert done["result"]["objects_to_copy"] == 10


@in_a_worker
def test_a_cancel_stops_a_held_listing_within_seconds(
    celery_worker, api_as, operator, mirror, proxy_a
):
    held = proxy_a.hold(listing())
    api = api_as(operator)
    preview_id = api.post(f"/profiles/{mirror.pk}/previews").json()["id"]
    assert held.reached.wait(60), "the worker never listed"
    offset = len(celery_worker.output())

    response = api.post(f"/previews/{preview_id}/cancel")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert response.json()["error"] == f"Cancelled by {operator}."
    # The task stops waiting for the held listing: it gives its slot back, still held.
    celery_worker.wait_for_output(
        f"preview {preview_id}: stopped", "the preview's task to stop", timeout=10, after=offset
    )
    assert not held.released.is_set()
    proxy_a.release(held)
    assert Preview.objects.get(pk=preview_id).state == "cancelled"
    assert api.post(f"/previews/{preview_id}/cancel").status_code == 200  # harmless again
    assert audit_actions()[-2:] == ["preview.started", "preview.cancelled"]

    # The profile may be previewed again at once, and that one runs to the end.
    again = api.post(f"/profiles/{mirror.pk}/previews")
    assert again.status_code == 202
    assert poll(api, again.json()["id"], "succeeded", "failed")["state"] == "succeeded"


@in_a_worker
def test_progress_reaches_a_real_socket(
    celery_worker, web_server, api_as, operator, viewer, mirror, proxy_a
):
    # The destination's listing is held: the source's first key is listed, the merge waits.
    held = proxy_a.hold(listing("dst/"))
    preview_id = api_as(operator).post(f"/profiles/{mirror.pk}/previews").json()["id"]
    with live_socket(
        web_server, f"/ws/previews/{preview_id}/", cookie=session_cookie(viewer)
    ) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "preview.snapshot" and snapshot["preview"] == preview_id

        def progress():
            message = json.loads(ws.recv(timeout=10))
            assert message["type"] == "preview.update", message
            return message if message["source_listed"] >= 1 else None

        seen = wait_until(progress, "a progress message with the source listed")
        assert seen["state"] == "running" and seen["destination_listed"] == 0
        assert seen["final"] is False and seen["team"] == mirror.team_id
        proxy_a.release(held)

        def final():
            message = json.loads(ws.recv(timeout=10))
            return message if message["final"] else None

        last = wait_until(final, "the final message")
    assert last["state"] == "succeeded"
    assert (last["source_listed"], last["destination_listed"]) == (12, 3)


@in_a_worker
def test_an_unreachable_endpoint_fails_the_preview_with_the_reason(
    celery_worker, api_as, operator, offline_profile, offline_endpoint
):
    down = f"http://127.0.0.1:{free_port()}"
    offline_endpoint.url = down
    offline_endpoint.save()
    api = api_as(operator)
    preview_id = api.post(f"/profiles/{offline_profile.pk}/previews").json()["id"]
    done = poll(api, preview_id, "succeeded", "failed")
    assert done["state"] == "failed" and done["result"] is None
    assert done["error"].endswith(
        f"Cannot reach {down}: the connection failed (connection refused)."
    ), done["error"]


def test_it_needs_an_operator_to_start_or_cancel_and_a_member_to_read(
    api_as, operator, viewer, outsider, offline_profile
):
    profile = offline_profile
    for route in (f"/profiles/{profile.pk}/previews", f"/profiles/{profile.pk}/preview"):
        assert api_as(viewer).post(route).status_code == 403
        assert api_as(outsider).post(route).status_code == 404
    assert not Preview.objects.exists()

    preview_id = api_as(operator).post(f"/profiles/{profile.pk}/previews").json()["id"]
    assert api_as(viewer).get(f"/previews/{preview_id}").status_code == 200
    assert api_as(outsider).get(f"/previews/{preview_id}").status_code == 404
    assert api_as(viewer).post(f"/previews/{preview_id}/cancel").status_code == 403
    assert api_as(outsider).post(f"/previews/{preview_id}/cancel").status_code == 404
    assert Preview.objects.get().state == "queued"


def test_a_profile_has_one_preview_in_progress_at_a_time(api_as, operator, offline_profile):
    api = api_as(operator)
    first = api.post(f"/profiles/{offline_profile.pk}/previews").json()["id"]
    second = api.post(f"/profiles/{offline_profile.pk}/previews")
    assert second.status_code == 409
    assert f"already in progress (#{first})" in second.json()["detail"]
    assert Preview.objects.count() == 1

    api.post(f"/previews/{first}/cancel")
    assert api.post(f"/previews/{first}/cancel").status_code == 200
    Preview.objects.filter(pk=first).update(state="succeeded")
    refused = api.post(f"/previews/{first}/cancel")
    assert refused.status_code == 409 and "already finished" in refused.json()["detail"]


def test_the_older_route_starts_a_preview_too(api_as, operator, offline_profile):
    response = api_as(operator).post(f"/profiles/{offline_profile.pk}/preview")
    assert response.status_code == 202
    assert response.json()["state"] == "queued"
    assert Preview.objects.get().profile == offline_profile


def test_expired_previews_are_pruned_and_no_longer_shown(api_as, operator, team, offline_profile):
    now = timezone.now()
    old = Preview.objects.create(
        team=team, profile=offline_profile, state="succeeded", expires_at=now - timedelta(1)
    )
    kept = Preview.objects.create(
        team=team, profile=offline_profile, state="failed", expires_at=now + timedelta(1)
    )
    assert api_as(operator).get(f"/previews/{old.pk}").status_code == 404
    assert retention.prune_previews() == 1
    assert list(Preview.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_reaper_fails_a_preview_whose_worker_stopped(team, offline_profile):
    long_ago = timezone.now() - timedelta(hours=1)
    stale = Preview.objects.create(
        team=team,
        profile=offline_profile,
        state="running",
        heartbeat_at=long_ago,
        expires_at=timezone.now() + timedelta(1),
    )
    other = SyncProfile.objects.create(
        team=team,
        name="other",
        source_endpoint=offline_profile.source_endpoint,
        source_bucket="a",
        destination_endpoint=offline_profile.source_endpoint,
        destination_bucket="b",
    )
    alive = Preview.objects.create(
        team=team,
        profile=other,
        state="running",
        heartbeat_at=timezone.now(),
        expires_at=timezone.now() + timedelta(1),
    )
    assert previews.reap_stale() == [stale.pk]
    stale.refresh_from_db()
    assert stale.state == "failed" and "stopped responding" in stale.error
    alive.refresh_from_db()
    assert alive.state == "running"


def test_a_cancelled_preview_is_not_run(team, operator, offline_profile):
    preview = services.start_preview(offline_profile, actor=operator)
    services.cancel_preview(preview, actor=operator)
    assert previews.run_preview(preview.pk) == "not queued"
    preview.refresh_from_db()
    assert preview.state == "cancelled" and preview.started_at is None


@pytest.mark.django_db(transaction=True)
def test_a_preview_that_cannot_be_queued_fails_at_once_saying_why(
    own_redis, api_as, operator, offline_profile
):
    api = api_as(operator)
    own_redis.stop()
    response = api.post(f"/profiles/{offline_profile.pk}/previews")
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "failed" and body["finished_at"] is not None
    assert body["error"] == "The job queue is unavailable right now: try again in a moment."
    own_redis.start()
    # Not left in progress: the profile can be previewed again.
    assert api.post(f"/profiles/{offline_profile.pk}/previews").status_code == 202


def test_starting_one_is_a_fixed_number_of_queries(
    api_as, operator, offline_profile, django_assert_num_queries
):
    """The request writes the row and its audit event and reads nothing that grows: the
    token, the profile and the right to operate it, the preview row, the audit chain's lock
    and last hash, the event, and the preview as answered."""
    api = api_as(operator)
    api.get(f"/profiles/{offline_profile.pk}")  # the token's first use is recorded once

    locks = 1 if connection.vendor == "postgresql" else 0  # SQLite serialises writers itself
    with django_assert_num_queries(10 + locks):
        response = api.post(f"/profiles/{offline_profile.pk}/previews")

    assert response.status_code == 202
    assert Preview.objects.get().state == "queued"
