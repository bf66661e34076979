"""WebSocket consumers: authenticate, authorise, join groups, relay. Nothing else.

Access is checked before any group is joined, so a socket of someone outside the team is
closed without receiving a single message.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.models import Team
from transfers.models import Job
from transfers.progress import current_seq, job_group, message_for_job, team_group

# Close codes in the application range (4000-4999), mirroring HTTP.
UNAUTHENTICATED = 4401
NOT_FOUND = 4404


class _RelayConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: tuple[str, ...] = ()

    async def join(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Clients only listen; whatever they send is ignored."""

    async def job_update(self, event: dict) -> None:
        await self.send_json(event)

    def user(self):
        user = self.scope.get("user")
        return user if user is not None and user.is_authenticated and user.is_active else None


class JobConsumer(_RelayConsumer):
    """`/ws/jobs/<id>/`: the job's updates, starting with its current state."""

    async def connect(self) -> None:
        user = self.user()
        if user is None:
            await self.close(code=UNAUTHENTICATED)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        snapshot = await self._snapshot(user, job_id)
        if snapshot is None:
            await self.close(code=NOT_FOUND)
            return
        await self.join([job_group(job_id)])
        await self.accept()
        await self.send_json(snapshot)

    @database_sync_to_async
    def _snapshot(self, user, job_id: int) -> dict | None:
        job = Job.objects.visible_to(user).filter(pk=job_id).first()
        if job is None:
            return None
        return {**message_for_job(job, seq=current_seq(job.pk)), "type": "job.snapshot"}


class DashboardConsumer(_RelayConsumer):
    """`/ws/dashboard/`: updates of every job of the user's teams."""

    async def connect(self) -> None:
        user = self.user()
        if user is None:
            await self.close(code=UNAUTHENTICATED)
            return
        teams = await self._team_ids(user)
        await self.join([team_group(team_id) for team_id in teams])
        await self.accept()

    @database_sync_to_async
    def _team_ids(self, user) -> list[int]:
        return list(Team.objects.visible_to(user).values_list("pk", flat=True))
