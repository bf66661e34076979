"""An idle socket stays open: the channel layer's blocking read of Redis must not time out.

channels_redis waits for a socket's next message with BZPOPMIN, five seconds at a time; a
Redis client whose read timeout is not longer than that (redis-py 8's default is also five
seconds) gives up first, the consumer dies and the browser reconnects in a loop.
"""

from __future__ import annotations

import json

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from websockets.exceptions import ConnectionClosed

from tests.support import wait_until
from tests.transfers.channels_client import live_socket, session_cookie
from transfers.models import Job
from transfers.progress import broadcast_job

pytestmark = pytest.mark.django_db(transaction=True)

# Enough blocking reads in a row that a read timeout equal to the block would have failed.
BLOCKING_READS = 2


def test_it_keeps_an_idle_socket_open_and_relays_later_updates(web_server, team, viewer):
    job = Job.objects.create(team=team, profile_name="nightly", options={}, objects_total=10)
    server = redis.Redis.from_url(settings.REDIS_URL)
    with live_socket(web_server, f"/ws/jobs/{job.pk}/", cookie=session_cookie(viewer)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "job.snapshot"

        def idle_long_enough():
            try:
                ws.recv(timeout=0)
            except TimeoutError:
                pass  # nothing sent, still open: as it should be
            except ConnectionClosed as closed:
                raise AssertionError(
                    f"the idle socket was closed ({closed.rcvd}):\n{web_server.process.output()}"
                ) from None
            else:
                raise AssertionError("an idle socket received a message nobody sent")
            # The server's receive loop is blocked in Redis on a connection that has lived
            # through several blocking reads: no read of it has timed out.
            return any(
                client["cmd"] == "bzpopmin"
                and int(client["age"]) > BLOCKING_READS * RedisChannelLayer.brpop_timeout
                for client in server.client_list()
            )

        wait_until(
            idle_long_enough,
            "the socket to stay idle through several blocking reads",
            timeout=BLOCKING_READS * RedisChannelLayer.brpop_timeout + 30,
        )

        broadcast_job(job)
        update = json.loads(ws.recv(timeout=10))
        assert (update["type"], update["job"]) == ("job.update", job.pk)
    assert "TimeoutError" not in web_server.process.output()
