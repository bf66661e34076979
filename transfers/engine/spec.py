"""What a run is asked to do: locations, the profile's options, and the worker's runtime knobs."""

from __future__ import annotations

from dataclasses import dataclass

from transfers.engine.keyset import KeySet
from transfers.engine.locations import Location

MODES = ("copy", "sync", "mirror")
COMPARES = ("size_mtime", "size_only", "checksum")
GiB = 1024**3
MiB = 1024**2
# S3 refuses CopyObject above 5 GiB: bigger objects are copied in parts (UploadPartCopy).
COPY_OBJECT_LIMIT = 5 * GiB


@dataclass(frozen=True)
class Options:
    """A profile's settings, as snapshotted on the job."""

    mode: str = "sync"
    compare: str = "size_mtime"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    source_wildcards: bool = False
    workers: int = 64
    concurrency: int = 5
    part_size_mb: int = 50
    storage_class: str = ""
    verify_after: bool = True
    # A mirror that would delete more objects than this stops for approval; None: no limit.
    delete_threshold: int | None = None
    # A retry: only these keys (relative to the prefixes) are considered, and copied regardless
    # of the compare rule. A KeySet (on disk) for the failures of a job, however many.
    only_keys: tuple[str, ...] | KeySet | None = None
    # A continuation of a cancelled run: the destination is listed in copy mode too, and what
    # is already there intact (by the compare rule) is skipped, `only_keys` included.
    skip_intact: bool = False
    # A shard of a job: only the keys k (relative to the prefixes) with after < k <= upto,
    # as (after, upto); upto None is the end of the key space. None: every key.
    key_range: tuple[str, str | None] | None = None


@dataclass(frozen=True)
class Runtime:
    """Knobs of the machine that runs the job (from settings), not of the profile."""

    s5cmd_path: str = ""
    local_roots: tuple[str, ...] = ()
    allow_private_networks: bool = False
    multipart_copy_threshold: int = COPY_OBJECT_LIMIT
    relay_buffer_bytes: int = 256 * MiB
    relay_max_objects: int = 16
    kill_grace_seconds: float = 10.0
    progress_interval: float = 0.25
    # A server-side plan of at most this many copies is copied with CopyObject in threads of
    # the run, without starting s5cmd (whose start is most of a small job's time); 0: never.
    small_plan_objects: int = 4


@dataclass(frozen=True)
class TransferSpec:
    source: Location
    destination: Location
    options: Options = Options()
    runtime: Runtime = Runtime()
