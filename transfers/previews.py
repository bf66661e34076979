"""Running a preview in a worker, its live messages, and the reaper of previews whose worker died.

A preview lists both sides of a profile and merges them into a plan, like the start of a job,
but keeps only counts and samples and moves nothing. The web request only creates the row and
enqueues `transfers.run_preview` (transfers.services.previews); here the worker claims it (one
conditional UPDATE, queued -> running), plans in a thread of its own while this one reports the
listing's progress (at most `PUBLISH_INTERVAL` apart, to the preview's and the team's socket
groups, and to the row about once a second, which is also its heartbeat) and watches the row
for a cancel. A cancel is stored at once by the service (the preview has nothing to undo); the
worker sees it within a second, stops waiting for the planner and tells it to stop.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from syncportal.crypto import DecryptionError
from transfers import prediction
from transfers.engine import EngineError, plan_transfer
from transfers.errors import Unavailable
from transfers.models import Preview, SyncProfile
from transfers.progress import publish, team_group
from transfers.specs import options_for, spec_from_options

logger = logging.getLogger(__name__)

UPDATE = "preview.update"
SNAPSHOT = "preview.snapshot"
PUBLISH_INTERVAL = 0.5  # seconds: at most 2 messages a second
STORE_INTERVAL = 1.0  # seconds between writes of the progress (and heartbeat) to the row
SAMPLE = 20  # keys of each kind kept in the result


def preview_group(preview_id: int) -> str:
    return f"preview.{preview_id}"


def message_for(preview: Preview, *, kind: str = UPDATE) -> dict[str, Any]:
    """The socket message describing `preview` (docs/websockets.md)."""
    return {
        "type": kind,
        "preview": preview.pk,
        "profile": preview.profile_id,
        "team": preview.team_id,
        "state": preview.state,
        "source_listed": preview.source_listed,
        "destination_listed": preview.destination_listed,
        "elapsed_seconds": preview.elapsed_seconds,
        "final": preview.state in Preview.FINISHED_STATES,
        "error": preview.error,
        "at": timezone.now().isoformat(),
    }


def broadcast(preview: Preview) -> None:
    """Tell the preview's and its team's sockets about it (the row is the truth, the page and
    the API read it)."""
    groups = [preview_group(preview.pk), team_group(preview.team_id)]
    publish(lambda: message_for(preview), groups, f"preview {preview.pk}")


def claim(preview_id: int) -> Preview | None:
    now = timezone.now()
    claimed = Preview.objects.filter(pk=preview_id, state=Preview.State.QUEUED).update(
        state=Preview.State.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return Preview.objects.select_related("profile").get(pk=preview_id)


def run_preview(preview_id: int) -> str:
    """The body of the `transfers.run_preview` task; returns what happened."""
    preview = claim(preview_id)
    if preview is None:
        return "not queued"  # cancelled before it started, or a duplicate message
    broadcast(preview)
    try:
        spec = spec_from_options(options_for(preview.profile), team_id=preview.team_id)
    except (Unavailable, EngineError) as exc:
        return _finish(preview, Preview.State.FAILED, error=str(exc))
    except DecryptionError as exc:
        error = f"The endpoint's credentials cannot be read: {exc}"
        return _finish(preview, Preview.State.FAILED, error=error)
    except Exception:
        logger.exception("preview %s could not start", preview.pk)
        error = "The preview could not start because of an internal error (see the worker's log)."
        return _finish(preview, Preview.State.FAILED, error=error)
    listed: dict[str, int] = {}
    if preview.profile.mode != SyncProfile.Mode.COPY:  # a copy does not list the destination
        listed["destination"] = 0
    planner = _Planner(spec, listed)
    planner.start()
    try:
        return _follow(preview, planner, listed)
    except Exception as exc:
        logger.exception("preview %s crashed", preview.pk)
        return _finish(
            preview, Preview.State.FAILED, error=f"Internal error: {exc.__class__.__name__}"
        )
    finally:
        planner.cancel.set()  # harmless once it has planned; on any early return, stop listing


def _follow(preview: Preview, planner: _Planner, listed: dict[str, int]) -> str:
    """Report the planner's progress until it is done (or the preview stops running), then
    store the outcome."""
    published = stored = float("-inf")
    while True:
        planner.join(PUBLISH_INTERVAL)
        now = time.monotonic()
        if not planner.is_alive():
            break
        preview.source_listed = listed.get("source", 0)
        preview.destination_listed = listed.get("destination")
        if now - stored >= STORE_INTERVAL:
            stored = now
            if not _store_progress(preview):  # cancelled (or reaped) meanwhile
                logger.info("preview %s: stopped, it is no longer running", preview.pk)
                return "stopped"
        if now - published >= PUBLISH_INTERVAL:
            published = now
            broadcast(preview)
    preview.source_listed = listed.get("source", 0)
    preview.destination_listed = listed.get("destination")
    if planner.error is not None:
        return _finish(preview, Preview.State.FAILED, error=planner.error)
    summary = planner.summary
    forecast = prediction.predict_for(
        preview.profile, summary["objects_to_copy"], summary["bytes_to_copy"]
    )
    summary["predicted_seconds"] = forecast.seconds
    summary["prediction_basis"] = forecast.rates.describe() if forecast.rates else ""
    return _finish(preview, Preview.State.SUCCEEDED, result=summary)


class _Planner(threading.Thread):
    """Plans in a thread of its own, so that the task's thread can report progress and stop
    waiting at a cancel even while a listing request hangs."""

    def __init__(self, spec, listed: dict[str, int]):
        super().__init__(name="preview-planner", daemon=True)
        self.spec, self.listed = spec, listed
        self.cancel = threading.Event()
        self.summary: dict[str, Any] = {}
        self.error: str | None = None

    def run(self) -> None:
        try:
            plan = plan_transfer(self.spec, cancel=self.cancel, on_listed=self.listed.__setitem__)
            self.summary = plan.summary(SAMPLE).as_dict()
        except EngineError as exc:
            self.error = str(exc)
        except Exception as exc:
            logger.exception("preview planning crashed")
            self.error = f"Internal error: {exc.__class__.__name__}"


def _store_progress(preview: Preview) -> bool:
    """Store the counts (and renew the heartbeat); False once the preview is not running."""
    return bool(
        Preview.objects.filter(pk=preview.pk, state=Preview.State.RUNNING).update(
            source_listed=preview.source_listed,
            destination_listed=preview.destination_listed,
            heartbeat_at=timezone.now(),
        )
    )


def _finish(preview: Preview, state: str, *, error: str = "", result: dict | None = None) -> str:
    """Store the outcome, unless the preview was cancelled (or reaped) meanwhile."""
    now = timezone.now()
    fields = {
        "state": state,
        "error": error,
        "result": result,
        "finished_at": now,
        "expires_at": now + timedelta(hours=settings.PREVIEW_RESULT_HOURS),
        "source_listed": preview.source_listed,
        "destination_listed": preview.destination_listed,
    }
    if not Preview.objects.filter(pk=preview.pk, state=Preview.State.RUNNING).update(**fields):
        return "stopped"
    for name, value in fields.items():
        setattr(preview, name, value)
    broadcast(preview)
    logger.info("preview %s: %s", preview.pk, state)
    return state


def reap_stale() -> list[int]:
    """Fail the running previews whose worker stopped renewing them; their ids."""
    cutoff = timezone.now() - timedelta(seconds=settings.TRANSFER_LEASE_SECONDS)
    reaped = []
    stale = Preview.objects.filter(state=Preview.State.RUNNING, heartbeat_at__lt=cutoff)
    for preview in stale:
        now = timezone.now()
        taken = Preview.objects.filter(
            pk=preview.pk, state=Preview.State.RUNNING, heartbeat_at=preview.heartbeat_at
        ).update(
            state=Preview.State.FAILED,
            error="The worker listing it stopped responding; start the preview again.",
            finished_at=now,
            expires_at=now + timedelta(hours=settings.PREVIEW_RESULT_HOURS),
        )
        if taken:
            reaped.append(preview.pk)
            broadcast(Preview.objects.get(pk=preview.pk))
    if reaped:
        logger.warning("failed %s preview(s) whose worker stopped: %s", len(reaped), reaped)
    return reaped
