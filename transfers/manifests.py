"""Per-job manifests: stored in gzip'd chunks as they are made, hashed for the audit trail,
streamed back chunk by chunk as JSON Lines.

One line per object: `{"key", "action", "size", "etag"}`, plus `"operation"` and `"error"`
for failures; actions are `copied`, `skipped`, `deleted` and `failed` (see
`transfers.engine.manifest`). The SHA-256 is of the uncompressed lines, exactly the bytes a
download returns, so `sha256sum` of a download can be compared with the job's audit event.

A writer reads the engine's entries as a stream and stores every TRANSFER_MANIFEST_CHUNK_LINES
of them as a `JobManifestChunk` row, tagged with its own `run`, hashing as it goes; the
`JobManifest` row written with the job's outcome names that run. Chunks of a run that never
got its `JobManifest` (a worker that lost its job meanwhile) are deleted with the next
manifest of the job. Manifests stored before chunks (the whole gzip in `JobManifest.content`,
no run) are read as they are.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.http import StreamingHttpResponse

from transfers.engine import ManifestEntry
from transfers.models import Job, JobManifest, JobManifestChunk, JobShard

CHUNK = 64 * 1024
CONTENT_TYPE = "application/x-ndjson"
ACTIONS = ("copied", "skipped", "deleted", "failed")
# Chunks fetched per query while downloading: a few at a time, never the whole manifest.
CHUNKS_PER_QUERY = 4


class ManifestWriter:
    """Writes a job's manifest in chunks as its entries come; `save()` then makes it the
    job's manifest (in the transaction that stores the outcome), `discard()` drops it."""

    def __init__(self, job: Job, *, chunk_lines: int | None = None, shard_id: int | None = None):
        self.job_id = job.pk
        self.shard_id = shard_id  # a shard's lines: `JobShard.manifest_run` names them
        self.chunk_lines = chunk_lines or settings.TRANSFER_MANIFEST_CHUNK_LINES
        self.run = uuid.uuid4().hex
        self.chunks = 0
        self.counts: Counter[str] = Counter()
        self.bytes_copied = 0
        self._digest = hashlib.sha256()

    def write(self, entries: Iterable[ManifestEntry]) -> ManifestWriter:
        pending: list[bytes] = []
        first_key = last_key = ""
        for entry in entries:
            line = json.dumps(entry.as_dict(), separators=(",", ":"), ensure_ascii=False)
            data = line.encode() + b"\n"
            self._digest.update(data)
            self.counts[entry.action] += 1
            if entry.action == "copied":
                self.bytes_copied += entry.size or 0
            if not pending:
                first_key = entry.key
            pending.append(data)
            last_key = entry.key
            if len(pending) >= self.chunk_lines:
                self._store(pending, first_key, last_key)
                pending = []
        if pending:
            self._store(pending, first_key, last_key)
        return self

    def _store(self, lines: list[bytes], first_key: str, last_key: str) -> None:
        # mtime=0: the same lines always compress to the same bytes.
        content = gzip.compress(b"".join(lines), compresslevel=6, mtime=0)
        JobManifestChunk.objects.create(
            job_id=self.job_id,
            shard_id=self.shard_id,
            run=self.run,
            seq=self.chunks,
            lines=len(lines),
            first_key=first_key[:1024],
            last_key=last_key[:1024],
            content=content,
        )
        self.chunks += 1

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def summary(self) -> dict:
        """What the completion event records of the manifest."""
        return {
            "sha256": self.sha256,
            "lines": sum(self.counts.values()),
            **{action: self.counts[action] for action in ACTIONS},
            "bytes_copied": self.bytes_copied,
        }

    def save(self, job: Job) -> JobManifest:
        summary = self.summary()
        fields = {f"objects_{action}": summary.pop(action) for action in ACTIONS}
        manifest, _ = JobManifest.objects.update_or_create(
            job=job,
            defaults={**summary, **fields, "content": b"", "run": self.run, "chunks": self.chunks},
        )
        JobManifestChunk.objects.filter(job_id=self.job_id).exclude(run=self.run).delete()
        return manifest

    def discard(self) -> None:
        JobManifestChunk.objects.filter(job_id=self.job_id, run=self.run).delete()


# `JobManifest.run` of a sharded job: its lines are its shards' chunks, shard after shard.
SHARDED = "shards"
SHARDS_PER_QUERY = 100


def lines(manifest: JobManifest) -> Iterator[bytes]:
    """The uncompressed JSON Lines, chunk by chunk."""
    if manifest.run == SHARDED:
        yield from shard_lines(manifest.job_id)
        return
    if not manifest.run:
        with gzip.GzipFile(fileobj=io.BytesIO(bytes(manifest.content)), mode="rb") as archive:
            while chunk := archive.read(CHUNK):
                yield chunk
        return
    chunks = JobManifestChunk.objects.filter(job_id=manifest.job_id, run=manifest.run)
    seq = -1
    while True:
        page = list(
            chunks.filter(seq__gt=seq)
            .order_by("seq")
            .values_list("seq", "content")[:CHUNKS_PER_QUERY]
        )
        for seq, content in page:  # noqa: B007 - the last seq read is where the next page starts
            yield gzip.decompress(bytes(content))
        if len(page) < CHUNKS_PER_QUERY:
            return


def shard_lines(job_id: int) -> Iterator[bytes]:
    """A sharded job's manifest, the same lines in the same order as the job run in one piece
    would give: every shard's copied lines, the shards in key order, then their skipped lines,
    and so on (a shard's own lines are grouped so, see `transfers.engine.Manifest`). A shard's
    chunks are read once per action it has lines of, a few chunks per query."""
    for action in ACTIONS:
        marker = b',"action":"' + action.encode() + b'"'
        for shard_id, run in _shard_runs(job_id, action):
            for data in _chunks(JobManifestChunk.objects.filter(shard_id=shard_id, run=run)):
                picked = b"".join(
                    line for line in data.splitlines(True) if _action_is(line, marker)
                )
                if picked:
                    yield picked


def _shard_runs(job_id: int, action: str) -> Iterator[tuple[int, str]]:
    """(shard id, manifest run) of the job's shards that may have lines of `action`, in key
    order, a page of shards per query."""
    shards = JobShard.objects.filter(job_id=job_id).exclude(manifest_run="").order_by("seq")
    after = -1
    while True:
        page = list(
            shards.filter(seq__gt=after).values_list("seq", "pk", "manifest_run", "plan")[
                :SHARDS_PER_QUERY
            ]
        )
        for after, shard_id, run, plan in page:  # noqa: B007 - where the next page starts
            counts = (plan or {}).get("manifest")
            if counts is None or counts.get(action):
                yield shard_id, run
        if len(page) < SHARDS_PER_QUERY:
            return


def _chunks(chunks) -> Iterator[bytes]:
    seq = -1
    while True:
        batch = list(
            chunks.filter(seq__gt=seq)
            .order_by("seq")
            .values_list("seq", "content")[:CHUNKS_PER_QUERY]
        )
        for seq, content in batch:  # noqa: B007 - where the next batch starts
            yield gzip.decompress(bytes(content))
        if len(batch) < CHUNKS_PER_QUERY:
            return


def _action_is(line: bytes, marker: bytes) -> bool:
    """Whether a manifest line (`{"key":...,"action":...}`) has this action. The first
    `,"action":"` is the field: inside the key's JSON string a quote is always escaped."""
    at = line.find(b',"action":"')
    return at >= 0 and line.startswith(marker, at)


def download(manifest: JobManifest) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines(manifest), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="job-{manifest.job_id}-manifest.jsonl"'
    response["X-Manifest-SHA256"] = manifest.sha256
    return response
