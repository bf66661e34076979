"""What a job runs with: the snapshot of its profile's settings taken when it was queued
(`Job.options`, JSON), as a typed value.

The stored form carries a `version`. Rows written before it existed have none and the same
layout as version 1. A change of layout bumps `VERSION` and teaches `from_dict` the old one,
so jobs queued before an upgrade still run, retry and report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

VERSION = 1


@dataclass(frozen=True)
class Side:
    """An endpoint (by id) with a bucket and prefix, or a local path when `endpoint` is None."""

    endpoint: int | None = None
    bucket: str = ""
    prefix: str = ""
    path: str = ""


@dataclass(frozen=True)
class JobOptions:
    source: Side
    destination: Side
    mode: str
    compare: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    source_wildcards: bool
    workers: int
    concurrency: int
    part_size_mb: int
    storage_class: str
    verify_after: bool
    delete_threshold: int
    # A retry of the objects a run failed on: only these keys. None: everything in scope.
    # Retries queued before `retry_failures_of` carry the keys here.
    only_keys: tuple[str, ...] | None = None
    # A retry of the objects job #N failed on: the worker reads their keys (any number) from
    # that job's failures.
    retry_failures_of: int | None = None
    # A continuation of a cancelled run: plan against the destination (copy mode too) and skip
    # what already arrived intact.
    skip_intact: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobOptions:
        version = data.get("version", 1)
        if version != VERSION:
            raise ValueError(f"Job options of version {version} are not known here.")
        only_keys = data.get("only_keys")
        return cls(
            source=Side(**data["source"]),
            destination=Side(**data["destination"]),
            mode=data["mode"],
            compare=data["compare"],
            include=tuple(data["include"]),
            exclude=tuple(data["exclude"]),
            source_wildcards=data["source_wildcards"],
            workers=data["workers"],
            concurrency=data["concurrency"],
            part_size_mb=data["part_size_mb"],
            storage_class=data["storage_class"],
            verify_after=data["verify_after"],
            delete_threshold=data["delete_threshold"],
            only_keys=tuple(only_keys) if only_keys is not None else None,
            skip_intact=bool(data.get("skip_intact", False)),
            retry_failures_of=data.get("retry_failures_of"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = {"version": VERSION, **dataclasses.asdict(self)}
        data["include"], data["exclude"] = list(self.include), list(self.exclude)
        if self.only_keys is None:
            del data["only_keys"]
        else:
            data["only_keys"] = list(self.only_keys)
        if not self.skip_intact:
            del data["skip_intact"]
        if self.retry_failures_of is None:
            del data["retry_failures_of"]
        return data

    def endpoints(self) -> tuple[int | None, int | None]:
        """The (source, destination) endpoint ids."""
        return self.source.endpoint, self.destination.endpoint

    def only(self, keys: list[str] | None) -> JobOptions:
        """The same options for these keys only (None: everything in scope)."""
        return dataclasses.replace(
            self, only_keys=tuple(keys) if keys is not None else None, retry_failures_of=None
        )

    def retrying(self, job_id: int) -> JobOptions:
        """The same options for the objects job `job_id` failed on, read from its failures."""
        return dataclasses.replace(self, only_keys=None, retry_failures_of=job_id)
