"""WebSocket consumers: authenticate, authorise, join groups, relay. Nothing else.

Access is checked (accounts.realtime) before any group is joined, so a socket of someone
outside the team is closed without receiving a single message, and again whenever the user's
account, teams or roles change, so a socket stops relaying once its user may no longer watch.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Team
from accounts.realtime import NOT_FOUND, UNAUTHENTICATED, GroupConsumer
from transfers.models import Job, Preview
from transfers.previews import SNAPSHOT, message_for, preview_group
from transfers.progress import current_seq, job_group, message_for_job, team_group

__all__ = ["NOT_FOUND", "UNAUTHENTICATED", "DashboardConsumer", "JobConsumer", "PreviewConsumer"]


class _JobUpdates(GroupConsumer):
    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Clients only listen; whatever they send (even malformed JSON) is ignored."""

    async def job_update(self, event: dict) -> None:
        # An update already queued for this socket when the user lost access to its team (the
        # groups were left after the re-check) is dropped too.
        groups = self.groups_joined
        if job_group(event.get("job")) in groups or team_group(event.get("team")) in groups:
            await self.send_json(event)

    async def preview_update(self, event: dict) -> None:
        # The team's group carries previews too; the same late-message rule as above.
        groups = self.groups_joined
        if preview_group(event.get("preview")) in groups or team_group(event.get("team")) in groups:
            await self.send_json(event)


class JobConsumer(_JobUpdates):
    """`/ws/jobs/<id>/`: the job's updates, starting with a snapshot of its current state."""

    def _job(self, user: Any) -> Job | None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        return Job.objects.visible_to(user).filter(pk=job_id).first()

    def groups_for(self, user: Any) -> list[str] | None:
        job = self._job(user)
        return [job_group(job.pk)] if job is not None else None

    def initial_messages(self, user: Any) -> list[dict]:
        job = self._job(user)
        if job is None:
            return []
        return [{**message_for_job(job, seq=current_seq(job.pk)), "type": "job.snapshot"}]


class PreviewConsumer(_JobUpdates):
    """`/ws/previews/<id>/`: a preview's progress, starting with a snapshot as stored."""

    def _preview(self, user: Any) -> Preview | None:
        preview_id = self.scope["url_route"]["kwargs"]["preview_id"]
        return Preview.objects.visible_to(user).filter(pk=preview_id).first()

    def groups_for(self, user: Any) -> list[str] | None:
        preview = self._preview(user)
        return [preview_group(preview.pk)] if preview is not None else None

    def initial_messages(self, user: Any) -> list[dict]:
        preview = self._preview(user)
        return [message_for(preview, kind=SNAPSHOT)] if preview is not None else []


class DashboardConsumer(_JobUpdates):
    """`/ws/dashboard/`: updates of every job of the user's teams."""

    def groups_for(self, user: Any) -> list[str]:
        return [team_group(pk) for pk in Team.objects.visible_to(user).values_list("pk", flat=True)]
