"""Access control for WebSocket consumers: authenticate the session, check access, then join.

A consumer of live progress subclasses `GroupConsumer` and says which group a user may join::

    class JobConsumer(GroupConsumer):
        def group_for(self, user):
            job_id = self.scope["url_route"]["kwargs"]["job_id"]
            if Job.objects.visible_to(user).filter(pk=job_id).exists():
                return f"job.{job_id}"
            return None  # not found for this user: the socket is closed with 4404

The origin is validated before any of this by `AllowedHostsOriginValidator` (syncportal.asgi).
Messages sent to the group with `{"type": "relay", "payload": {...}}` reach the browser as JSON.

Access is checked again while the socket is open: every socket also joins its user's group,
to which `announce_access_change` (after commit) tells it that the user's account, teams or
roles changed or that a session signed out; and every SOCKET_ACCESS_RECHECK_SECONDS anyway,
for changes made behind the portal's back (a bulk UPDATE, an expired session). A socket
that may no longer watch is closed with the same codes as a refused one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.db import transaction

from accounts.access import is_real
from accounts.security import SESSION_STARTED_KEY, mfa_missing

logger = logging.getLogger(__name__)

# Close codes in the application range (4000-4999), mirroring HTTP: no usable session, or
# nothing this user may watch here (the same answer whether or not the object exists).
UNAUTHENTICATED = 4401
NOT_FOUND = 4404

ACCESS_CHANGED = "access.changed"


def user_group(user_id: int) -> str:
    """Every socket of the user: told when what the user may watch may have changed."""
    return f"user.{user_id}"


def announce_access_change(user_id: int, *, ended_session: str | None = None) -> None:
    """After the current transaction commits, make the user's sockets check their access
    again; `ended_session` (a session key) is closed without a check: it is being signed out.
    Never raises: the periodic re-check is the backstop when Redis is unavailable."""
    message: dict[str, Any] = {"type": ACCESS_CHANGED}
    if ended_session:
        message["ended_session"] = ended_session

    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(user_group(user_id), message)
        except Exception:
            logger.exception("could not tell the sockets of user %s to check access", user_id)

    transaction.on_commit(send)


def socket_user(scope: dict[str, Any]) -> Any | None:
    """The scope's signed-in user if they may use the portal now, else None. Sync (DB)."""
    return _usable(scope.get("user"), scope.get("session"))


def _usable(user: Any, session: Any) -> Any | None:
    if not is_real(user):  # anonymous, or deactivated since the session began
        return None
    started = session.get(SESSION_STARTED_KEY) if session is not None else None
    if started is None or time.time() - int(started) > settings.SESSION_ABSOLUTE_TIMEOUT:
        return None
    if mfa_missing(user):
        return None
    return user


def _current_user(scope: dict[str, Any], user_id: int) -> Any | None:
    """The socket's user as the session store and the database say now (the scope's session
    and user were loaded once, at the handshake). Sync (DB)."""
    old = scope.get("session")
    if old is None or old.session_key is None:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=old.session_key)
    # Django's own check: the session exists and has not expired, names this user, and the
    # user's password has not changed since the sign-in.
    user = auth.get_user(SimpleNamespace(session=session))
    if user.pk != user_id:
        return None
    return _usable(user, session)


class GroupConsumer(AsyncJsonWebsocketConsumer):
    """Joins its Channels groups after the access check and relays their messages; no logic.

    Subclasses implement `group_for(user)` (one group) or `groups_for(user)` (several), and
    may send a first message with `initial_messages(user)`. All three run in a DB thread, at
    the handshake and again whenever access is re-checked.
    """

    groups_joined: tuple[str, ...] = ()
    user_id: int | None = None
    recheck_task: asyncio.Task | None = None

    def group_for(self, user: Any) -> str | None:
        """The group `user` may join for this socket's URL, or None."""
        raise NotImplementedError

    def groups_for(self, user: Any) -> list[str] | None:
        """The groups `user` may join for this socket's URL, or None to refuse."""
        group = self.group_for(user)
        return [group] if group is not None else None

    def initial_messages(self, user: Any) -> list[dict[str, Any]]:
        return []

    def _authorize(self) -> tuple[int, Any, list[str], list[dict[str, Any]]]:
        user = socket_user(self.scope)
        if user is None:
            return UNAUTHENTICATED, None, [], []
        groups = self.groups_for(user)
        if groups is None:
            return NOT_FOUND, None, [], []
        return 0, user.pk, groups, self.initial_messages(user)

    def _reauthorize(self) -> tuple[int, list[str]]:
        user = _current_user(self.scope, self.user_id)
        if user is None:
            return UNAUTHENTICATED, []
        groups = self.groups_for(user)
        if groups is None:
            return NOT_FOUND, []
        return 0, groups

    async def connect(self) -> None:
        refusal, user_id, groups, messages = await database_sync_to_async(self._authorize)()
        if refusal:
            # Closing before accepting would reject the handshake with HTTP 403, and a browser
            # sees neither status nor code (only 1006): accept, then close with the reason.
            await self.accept()
            await self.close(code=refusal)
            return
        self.user_id = user_id
        self.recheck_lock = asyncio.Lock()
        await self.channel_layer.group_add(user_group(user_id), self.channel_name)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)
        await self.accept()
        for message in messages:
            await self.send_json(message)
        self.recheck_task = asyncio.create_task(self._recheck_periodically())

    async def disconnect(self, code: int) -> None:
        if self.recheck_task is not None:
            self.recheck_task.cancel()
        await self._leave()

    async def _leave(self) -> None:
        groups, self.groups_joined = self.groups_joined, ()
        if self.user_id is not None:
            groups += (user_group(self.user_id),)
            self.user_id = None
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _end(self, code: int) -> None:
        """Stop relaying at once, then tell the browser why."""
        if self.recheck_task is not None and self.recheck_task is not asyncio.current_task():
            self.recheck_task.cancel()
        await self._leave()
        await self.close(code=code)

    async def recheck(self) -> None:
        """Close the socket if its user may no longer watch; follow their teams otherwise."""
        async with self.recheck_lock:
            if self.user_id is None:
                return  # already ended
            refusal, groups = await database_sync_to_async(self._reauthorize)()
            if refusal:
                await self._end(refusal)
                return
            for group in set(self.groups_joined) - set(groups):
                await self.channel_layer.group_discard(group, self.channel_name)
            # Added again each time, the groups kept also outlive the layer's group expiry.
            for group in (*groups, user_group(self.user_id)):
                await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined = tuple(groups)

    async def _recheck_periodically(self) -> None:
        while True:
            await asyncio.sleep(settings.SOCKET_ACCESS_RECHECK_SECONDS)
            try:
                await self.recheck()
            except Exception:  # a database or Redis outage: try again next time
                logger.exception("could not re-check the access of a socket")

    async def access_changed(self, event: dict[str, Any]) -> None:
        session = self.scope.get("session")
        ended = event.get("ended_session")
        if ended and session is not None and session.session_key == ended:
            async with self.recheck_lock:
                if self.user_id is not None:
                    await self._end(UNAUTHENTICATED)
            return
        await self.recheck()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Sockets are one-way (server to browser); anything sent by the client is ignored."""

    async def relay(self, event: dict[str, Any]) -> None:
        if self.user_id is not None:  # not after the socket was ended
            await self.send_json(event["payload"])
