"""Leases and failures of a run in a worker, shared by whole jobs (transfers.execution) and
shards of jobs (transfers.shards): the thread that renews a lease and watches for a cancel
request, and the thread that stores the engine's failures as they happen."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from syncportal import logging as log_context
from transfers.engine import Failure
from transfers.models import Job, JobFailure

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
# Stop our own run once this share of the lease has passed without a successful renewal.
SELF_STOP_SHARE = 0.75


def lease_owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper(threading.Thread):
    """Renews the lease and watches for a cancel request; sets `cancel` when either says stop."""

    def __init__(
        self,
        job_id: int,
        owner: str,
        cancel: threading.Event,
        *,
        rows=None,
        cancel_field: str = "cancel_requested_at",
        taken: str = "another worker or the reaper took the job",
    ):
        """`rows` is the one row whose lease this keeps (default: the job's); `cancel_field`
        the field, on that row or through it, that carries the cancel request; `taken` what
        the log says when the row is found in other hands."""
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.job_id, self.owner, self.cancel = job_id, owner, cancel
        self.rows = rows if rows is not None else Job.objects.filter(pk=job_id)
        self.cancel_field, self.taken = cancel_field, taken
        self.lease = settings.TRANSFER_LEASE_SECONDS
        self.lost = False
        self._halt = threading.Event()

    def run(self) -> None:
        log_context.job_id.set(str(self.job_id))  # a new thread starts with an empty context
        renewed = time.monotonic()
        try:
            while not self._halt.wait(CANCEL_POLL_SECONDS):
                try:
                    if not self._check():
                        return
                    if time.monotonic() - renewed >= self.lease / 4:
                        if not self._renew():
                            self._lose(self.taken)
                            return
                        renewed = time.monotonic()
                except Exception:
                    logger.exception("job %s: lease check failed", self.job_id)
                    connection.close()  # reconnect on the next round
                if time.monotonic() - renewed > self.lease * SELF_STOP_SHARE:
                    self._lose("the lease could not be renewed in time")
                    return
        finally:
            connection.close()

    def _check(self) -> bool:
        """Still ours? Then pass on a cancel request. False once the job is someone else's."""
        row = self.rows.values_list("lease_owner", self.cancel_field).first()
        owner, cancel_requested = row or ("", None)
        if owner != self.owner:
            self._lose(self.taken)
            return False
        if cancel_requested is not None:
            self.cancel.set()
        return True

    def _renew(self) -> bool:
        expires = timezone.now() + timedelta(seconds=self.lease)
        return bool(self.rows.filter(lease_owner=self.owner).update(lease_expires_at=expires))

    def _lose(self, why: str) -> None:
        logger.warning("job %s: lease lost (%s); stopping this run", self.job_id, why)
        self.lost = True
        self.cancel.set()

    def stop(self) -> None:
        self._halt.set()
        self.join()


class FailureRecorder(threading.Thread):
    """Stores the engine's failures while the run goes on: in batches of up to
    TRANSFER_FAILURE_BATCH rows, at least once a second, so they are there even if the worker
    dies mid-job. The engine's threads hand failures over through a bounded queue: if the
    database falls behind, they wait rather than pile failures up in memory."""

    _STOP = object()

    def __init__(
        self,
        job_id: int,
        *,
        batch: int | None = None,
        interval: float = 1.0,
        shard_id: int | None = None,
    ):
        super().__init__(name=f"failures-{job_id}", daemon=True)
        self.job_id = job_id
        self.shard_id = shard_id  # a shard's run: its failures are tagged with it
        self.batch = batch or settings.TRANSFER_FAILURE_BATCH
        self.interval = interval
        self.queue: queue.Queue = queue.Queue(maxsize=4 * self.batch)
        self.stored = 0

    def __call__(self, failure: Failure) -> None:
        self.queue.put(failure)

    def run(self) -> None:
        log_context.job_id.set(str(self.job_id))
        pending: list[Failure] = []
        due = time.monotonic() + self.interval
        failing = False  # the last insert failed: wait for the next round, however many wait
        try:
            while True:
                try:
                    item = self.queue.get(timeout=max(0.0, due - time.monotonic()))
                except queue.Empty:
                    item = None
                stop = item is self._STOP
                if isinstance(item, Failure):
                    pending.append(item)
                full = len(pending) >= self.batch and not failing
                if pending and (stop or full or time.monotonic() >= due):
                    pending = self._store(pending, final=stop)
                    failing = bool(pending)
                if time.monotonic() >= due:
                    due = time.monotonic() + self.interval
                if stop:
                    return
        finally:
            connection.close()

    def _store(self, pending: list[Failure], *, final: bool) -> list[Failure]:
        """Insert the batch; what could not be stored is kept for the next round (at most
        one batch more than the queue holds), or given up at the end."""
        for attempt in range(3 if final else 1):
            try:
                JobFailure.objects.bulk_create(
                    [
                        JobFailure(
                            job_id=self.job_id,
                            shard_id=self.shard_id,
                            key=f.key[:1024],
                            operation=f.operation,
                            error=f.error,
                        )
                        for f in pending
                    ],
                    batch_size=self.batch,
                )
            except Exception:
                logger.exception("job %s: storing %d failures failed", self.job_id, len(pending))
                connection.close()  # reconnect on the next round
                if final and attempt < 2:
                    time.sleep(1)
                continue
            self.stored += len(pending)
            return []
        if final or len(pending) >= 2 * self.batch:
            logger.error("job %s: %d failures were not stored", self.job_id, len(pending))
            return []
        return pending

    def close(self) -> None:
        self.queue.put(self._STOP)
        self.join()
