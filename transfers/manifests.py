"""Per-job manifests: stored gzip'd, hashed for the audit trail, streamed back as JSON Lines.

One line per object: `{"key", "action", "size", "etag"}`, plus `"operation"` and `"error"`
for failures; actions are `copied`, `skipped`, `deleted` and `failed` (see
`transfers.engine.manifest`). The SHA-256 is of the uncompressed lines, exactly the bytes a
download returns, so `sha256sum` of a download can be compared with the job's audit event.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

from transfers.engine import ManifestEntry
from transfers.models import Job, JobManifest

CHUNK = 64 * 1024
CONTENT_TYPE = "application/x-ndjson"
ACTIONS = ("copied", "skipped", "deleted", "failed")


class Built:
    """A manifest ready to store: compressed content, digest and counts."""

    def __init__(self, entries: Iterable[ManifestEntry]):
        buffer = io.BytesIO()
        digest = hashlib.sha256()
        counts: Counter[str] = Counter()
        bytes_copied = 0
        pending: list[bytes] = []
        pending_size = 0
        # mtime=0: the same lines always compress to the same bytes.
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6) as archive:
            for entry in entries:
                line = json.dumps(entry.as_dict(), separators=(",", ":"), ensure_ascii=False)
                data = line.encode() + b"\n"
                digest.update(data)
                pending.append(data)
                pending_size += len(data)
                counts[entry.action] += 1
                if entry.action == "copied":
                    bytes_copied += entry.size or 0
                if pending_size >= CHUNK:
                    archive.write(b"".join(pending))
                    pending, pending_size = [], 0
            archive.write(b"".join(pending))
        self.content = buffer.getvalue()
        self.sha256 = digest.hexdigest()
        self.counts = counts
        self.bytes_copied = bytes_copied

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
            job=job, defaults={**summary, **fields, "content": self.content}
        )
        return manifest


def lines(manifest: JobManifest) -> Iterator[bytes]:
    """The uncompressed JSON Lines, in chunks."""
    with gzip.GzipFile(fileobj=io.BytesIO(bytes(manifest.content)), mode="rb") as archive:
        while chunk := archive.read(CHUNK):
            yield chunk


def download(manifest: JobManifest) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines(manifest), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="job-{manifest.job_id}-manifest.jsonl"'
    response["X-Manifest-SHA256"] = manifest.sha256
    return response
