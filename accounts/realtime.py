"""Access control for WebSocket consumers: authenticate the session, check access, then join.

A consumer of live progress subclasses `GroupConsumer` and says which group a user may join::

    class JobConsumer(GroupConsumer):
        def group_for(self, user):
            job_id = self.scope["url_route"]["kwargs"]["job_id"]
            if Job.objects.visible_to(user).filter(pk=job_id).exists():
                return f"job.{job_id}"
            return None  # not found for this user: the handshake is refused

The origin is validated before any of this by `AllowedHostsOriginValidator` (syncportal.asgi).
Messages sent to the group with `{"type": "relay", "payload": {...}}` reach the browser as JSON.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts.access import is_real
from accounts.security import mfa_missing
from accounts.signals import SESSION_STARTED_KEY

# Close code for a refused socket (4000-4999 are for applications; mirrors HTTP 403).
REFUSED = 4403


def socket_user(scope: dict[str, Any]) -> Any | None:
    """The scope's signed-in user if they may use the portal now, else None. Sync (DB)."""
    user = scope.get("user")
    if not is_real(user):  # anonymous, or deactivated since the session began
        return None
    session = scope.get("session")
    started = session.get(SESSION_STARTED_KEY) if session is not None else None
    if started is None or time.time() - int(started) > settings.SESSION_ABSOLUTE_TIMEOUT:
        return None
    if mfa_missing(user):
        return None
    return user


class GroupConsumer(AsyncJsonWebsocketConsumer):
    """Joins one Channels group after the access check and relays its messages; no logic."""

    group_name: str | None = None

    def group_for(self, user: Any) -> str | None:
        """The group `user` may join for this socket's URL, or None. Runs in a DB thread."""
        raise NotImplementedError

    def _authorize(self) -> str | None:
        user = socket_user(self.scope)
        return self.group_for(user) if user is not None else None

    async def connect(self) -> None:
        group = await database_sync_to_async(self._authorize)()
        if group is None:
            await self.close(code=REFUSED)
            return
        self.group_name = group
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Sockets are one-way (server to browser); anything sent by the client is ignored."""

    async def relay(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])
