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

import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.access import is_real
from accounts.security import mfa_missing
from accounts.signals import SESSION_STARTED_KEY

# Close codes in the application range (4000-4999), mirroring HTTP: no usable session, or
# nothing this user may watch here (the same answer whether or not the object exists).
UNAUTHENTICATED = 4401
NOT_FOUND = 4404

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """Every socket of a user, whatever it watches: to end them when their access shrinks."""
    return f"user.{user_id}"


def end_user_sockets(user_id: int) -> None:
    """Close the user's open sockets (deactivated, or a privilege taken away); the browser's
    reconnection is then authorised afresh. Never raises: call it after the commit."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            user_group(user_id), {"type": "access.changed"}
        )
    except Exception:
        logger.exception("could not end the sockets of user %s", user_id)


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
    """Joins its Channels groups after the access check and relays their messages; no logic.

    Subclasses implement `group_for(user)` (one group) or `groups_for(user)` (several), and
    may send a first message with `initial_messages(user)`. All three run in a DB thread.
    """

    groups_joined: tuple[str, ...] = ()

    def group_for(self, user: Any) -> str | None:
        """The group `user` may join for this socket's URL, or None."""
        raise NotImplementedError

    def groups_for(self, user: Any) -> list[str] | None:
        """The groups `user` may join for this socket's URL, or None to refuse."""
        group = self.group_for(user)
        return [group] if group is not None else None

    def initial_messages(self, user: Any) -> list[dict[str, Any]]:
        return []

    def _authorize(self) -> tuple[int, list[str], list[dict[str, Any]]]:
        user = socket_user(self.scope)
        if user is None:
            return UNAUTHENTICATED, [], []
        groups = self.groups_for(user)
        if groups is None:
            return NOT_FOUND, [], []
        return 0, [*groups, user_group(user.pk)], self.initial_messages(user)

    async def connect(self) -> None:
        refusal, groups, messages = await database_sync_to_async(self._authorize)()
        if refusal:
            await self.close(code=refusal)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)
        await self.accept()
        for message in messages:
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Sockets are one-way (server to browser); anything sent by the client is ignored."""

    async def relay(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])

    async def access_changed(self, event: dict[str, Any]) -> None:
        await self.close(code=UNAUTHENTICATED)
