"""Previews: start one (a worker lists and plans, `transfers.previews`) and cancel it. The web
request only writes the row and enqueues the task once it commits; it never lists anything."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from transfers import dispatch
from transfers.errors import PreviewBusy, PreviewStateError
from transfers.models import Preview, SyncProfile
from transfers.previews import broadcast


def _real(user):
    return user if getattr(user, "pk", None) else None


def start_preview(profile: SyncProfile, *, actor, request=None) -> Preview:
    """Queue a preview of `profile` as it is now; one at a time per profile (409 otherwise)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            preview = Preview.objects.create(
                team_id=profile.team_id,
                profile=profile,
                requested_by=_real(actor),
                # A copy does not list the destination: no count to show for it.
                destination_listed=None if profile.mode == SyncProfile.Mode.COPY else 0,
                heartbeat_at=now,
                expires_at=now + timedelta(hours=settings.PREVIEW_RESULT_HOURS),
            )
            audit.record(
                "preview.started",
                actor=actor,
                target=preview,
                team=profile.team,
                details={"profile": profile.pk},
                request=request,
            )
            transaction.on_commit(lambda: _enqueue(preview))
    except IntegrityError:
        active = Preview.objects.filter(profile=profile, state__in=Preview.ACTIVE_STATES).first()
        if active is None:
            raise
        raise PreviewBusy(
            f"A preview of {profile.name} is already in progress (#{active.pk}): follow it or "
            "cancel it."
        ) from None
    return preview


def _enqueue(preview: Preview) -> None:
    # No message for "queued": the page that asked has the preview already, and sockets hear
    # from the worker as soon as it starts; the request stays short.
    if dispatch.send(
        "transfers.run_preview",
        (preview.pk,),
        queue=settings.PREVIEW_QUEUE,
        meanwhile=f"preview {preview.pk} failed: it cannot be queued",
    ):
        return
    # Unlike a job, a preview is not worth a redispatch later: say so now, and let the user
    # ask again.
    now = timezone.now()
    Preview.objects.filter(pk=preview.pk, state=Preview.State.QUEUED).update(
        state=Preview.State.FAILED,
        error="The job queue is unavailable right now: try again in a moment.",
        finished_at=now,
    )
    preview.refresh_from_db()
    broadcast(preview)


def cancel_preview(preview: Preview, *, actor, request=None) -> Preview:
    """Stop a queued or running preview. It is cancelled at once (nothing to undo); its worker
    sees it within a second and stops listing."""
    with transaction.atomic():
        preview = Preview.objects.select_for_update().get(pk=preview.pk)
        if preview.state == Preview.State.CANCELLED:
            return preview  # cancelling again is harmless
        if preview.state in Preview.FINISHED_STATES:
            raise PreviewStateError(
                f"Preview #{preview.pk} has already finished ({preview.get_state_display()})."
            )
        previous = preview.state
        now = timezone.now()
        preview.state = Preview.State.CANCELLED
        preview.finished_at = now
        preview.expires_at = now + timedelta(hours=settings.PREVIEW_RESULT_HOURS)
        preview.error = f"Cancelled by {actor or 'the system'}."
        preview.save(update_fields=["state", "finished_at", "expires_at", "error"])
        audit.record(
            "preview.cancelled",
            actor=actor,
            target=preview,
            team=preview.team,
            details={"profile": preview.profile_id, "state": previous},
            request=request,
        )
        transaction.on_commit(lambda: broadcast(preview))
    return preview
