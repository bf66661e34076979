"""WebSocket consumers: authenticate, authorise, join groups, relay. Nothing else.

Access is checked (accounts.realtime) before any group is joined, so a socket of someone
outside the team is closed without receiving a single message, and again whenever the user's
account, teams or roles change, so a socket stops relaying once its user may no longer watch.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from accounts.models import Team
from accounts.realtime import NOT_FOUND, UNAUTHENTICATED, GroupConsumer
from transfers.models import Job, Preview
from transfers.previews import SNAPSHOT, message_for, preview_group
from transfers.progress import current_seq, job_group, message_for_job, team_group

__all__ = ["NOT_FOUND", "UNAUTHENTICATED", "DashboardConsumer", "JobConsumer", "PreviewConsumer"]


# How many jobs' last sequence numbers a socket remembers (a dashboard socket may see many).
SEQ_MEMORY = 1000


class _JobUpdates(GroupConsumer):
    """Relays job updates in order: each message is the whole job's state, numbered per job
    (`seq`), but a sharded job's updates come from several workers, and one sent earlier can
    reach the group after a later one. A message whose number is not above the last one this
    socket sent for its job is stale and dropped, so a client sees `seq` grow strictly."""

    last_seq: OrderedDict | None = None

    async def send_json(self, content: dict, close: bool = False) -> None:
        job, seq = content.get("job"), content.get("seq")
        if job is not None and isinstance(seq, int):
            if self.last_seq is None:
                self.last_seq = OrderedDict()
            last = self.last_seq.get(job)
            if last is not None and seq <= last:
                return
            self.last_seq[job] = seq
            self.last_seq.move_to_end(job)
            if len(self.last_seq) > SEQ_MEMORY:
                self.last_seq.popitem(last=False)
        await super().send_json(content, close)

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
