"""The job and dashboard sockets relay updates to members of the job's team only; anyone else
is turned away before joining a group, and receives nothing."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from tests.support import enrol_totp
from tests.transfers.channels_client import communicator, session_cookie
from transfers import services
from transfers.consumers import NOT_FOUND, UNAUTHENTICATED
from transfers.models import Job, SyncProfile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(team, owner):
    # A queued job that no worker will pick up: the test drives its state changes.
    return Job.objects.create(team=team, profile_name="nightly", options={}, objects_total=10)


async def closed_with(socket) -> int:
    """The code of a socket accepted and closed straight away (a browser can read it)."""
    connected, _ = await socket.connect()
    assert connected
    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    await socket.disconnect()  # as the browser answers the close; the consumer then ends
    return output["code"]


def test_it_refuses_an_anonymous_socket(job):
    async def scenario():
        for path in (f"/ws/jobs/{job.pk}/", "/ws/dashboard/"):
            assert await closed_with(communicator(path)) == UNAUTHENTICATED

    async_to_sync(scenario)()


def test_it_refuses_a_job_of_another_team(job, outsider):
    enrol_totp(outsider)  # a team admin: the MFA policy applies to sockets too
    cookie = session_cookie(outsider)

    async def scenario():
        socket = communicator(f"/ws/jobs/{job.pk}/", cookie=cookie)
        assert await closed_with(socket) == NOT_FOUND
        missing = communicator("/ws/jobs/999999/", cookie=cookie)
        assert await closed_with(missing) == NOT_FOUND  # the same answer: no oracle

    async_to_sync(scenario)()


def test_a_team_member_gets_the_job_state_then_its_updates(settings, job, viewer, owner):
    settings.TRANSFER_QUEUE = "nobody-listens-here"
    cookie = session_cookie(viewer)

    async def scenario():
        socket = communicator(f"/ws/jobs/{job.pk}/", cookie=cookie)
        assert (await socket.connect())[0]
        snapshot = await socket.receive_json_from(timeout=5)
        assert (snapshot["type"], snapshot["job"], snapshot["state"]) == (
            "job.snapshot",
            job.pk,
            "queued",
        )
        assert snapshot["objects_total"] == 10

        await database_sync_to_async(services.cancel_job)(job, actor=owner)

        update = await socket.receive_json_from(timeout=5)
        assert (update["type"], update["state"], update["final"]) == (
            "job.update",
            "cancelled",
            True,
        )
        assert update["seq"] > snapshot["seq"]
        assert update["team"] == job.team_id
        await socket.disconnect()

    async_to_sync(scenario)()


def test_the_dashboard_relays_team_jobs_and_nothing_else(
    settings, team, owner, viewer, outsider, other_team, s3_a, endpoint_a
):
    settings.TRANSFER_QUEUE = "nobody-listens-here"
    profile = SyncProfile.objects.create(
        team=team,
        name="p",
        source_endpoint=endpoint_a,
        source_bucket="source-bucket",
        destination_endpoint=endpoint_a,
        destination_bucket="target-bucket",
    )

    enrol_totp(outsider)
    ours_cookie, theirs_cookie = session_cookie(viewer), session_cookie(outsider)

    async def scenario():
        ours = communicator("/ws/dashboard/", cookie=ours_cookie)
        theirs = communicator("/ws/dashboard/", cookie=theirs_cookie)
        assert (await ours.connect())[0] and (await theirs.connect())[0]

        job = await database_sync_to_async(services.start_job)(profile, actor=owner)

        update = await ours.receive_json_from(timeout=5)
        assert (update["job"], update["state"]) == (job.pk, "queued")
        assert await theirs.receive_nothing(timeout=0.5)
        await ours.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_a_preview_is_followed_on_its_socket_and_on_the_team_dashboard(
    settings, offline_profile, owner, viewer, outsider
):
    settings.PREVIEW_QUEUE = "nobody-listens-here"
    preview = services.start_preview(offline_profile, actor=owner)
    enrol_totp(outsider)
    ours_cookie, theirs_cookie = session_cookie(viewer), session_cookie(outsider)

    async def scenario():
        socket = communicator(f"/ws/previews/{preview.pk}/", cookie=ours_cookie)
        dashboard = communicator("/ws/dashboard/", cookie=ours_cookie)
        theirs = communicator("/ws/dashboard/", cookie=theirs_cookie)
        assert (await socket.connect())[0] and (await dashboard.connect())[0]
        assert (await theirs.connect())[0]
        snapshot = await socket.receive_json_from(timeout=5)
        assert (snapshot["type"], snapshot["preview"], snapshot["state"]) == (
            "preview.snapshot",
            preview.pk,
            "queued",
        )
        assert await closed_with(communicator(f"/ws/previews/{preview.pk}/")) == UNAUTHENTICATED
        outsider_socket = communicator(f"/ws/previews/{preview.pk}/", cookie=theirs_cookie)
        assert await closed_with(outsider_socket) == NOT_FOUND

        await database_sync_to_async(services.cancel_preview)(preview, actor=owner)

        for listener in (socket, dashboard):
            update = await listener.receive_json_from(timeout=5)
            assert (update["type"], update["state"], update["final"]) == (
                "preview.update",
                "cancelled",
                True,
            )
            assert update["team"] == offline_profile.team_id and "job" not in update
        assert await theirs.receive_nothing(timeout=0.5)
        for listener in (socket, dashboard, theirs):
            await listener.disconnect()

    async_to_sync(scenario)()


def test_an_update_that_arrives_after_a_newer_one_is_not_relayed(settings, job, viewer):
    """A sharded job's updates come from several workers: the group can deliver them out of
    order. Each is the whole job's state, so the older one is dropped, not sent after."""
    from channels.layers import get_channel_layer

    from transfers.progress import job_group, message_for_job

    settings.TRANSFER_QUEUE = "nobody-listens-here"
    cookie = session_cookie(viewer)
    base = message_for_job(job, seq=0)

    async def scenario():
        socket = communicator(f"/ws/jobs/{job.pk}/", cookie=cookie)
        assert (await socket.connect())[0]
        snapshot = await socket.receive_json_from(timeout=5)
        layer, first = get_channel_layer(), snapshot["seq"] + 1
        for seq, done in ((first + 1, 6), (first, 5), (first + 2, 7)):
            update = {**base, "type": "job.update", "seq": seq, "objects_done": done}
            await layer.group_send(job_group(job.pk), update)
        received = [await socket.receive_json_from(timeout=5) for _ in range(2)]
        assert [(m["seq"], m["objects_done"]) for m in received] == [(first + 1, 6), (first + 2, 7)]
        assert await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()

    async_to_sync(scenario)()
