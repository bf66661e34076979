"""The seven counters of a run, as the engine reports them (`Progress`, `Result`) and a job
stores them (`Job`): one type, so every message, payload and update lists the same ones."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Counters:
    objects_total: int | None = None  # None until the plan is known
    bytes_total: int | None = None
    objects_done: int = 0
    bytes_done: int = 0
    objects_failed: int = 0
    objects_skipped: int = 0
    objects_deleted: int = 0

    @classmethod
    def of(cls, source: Any) -> Counters:
        """The counters of anything that has them as attributes: a `Job`, the engine's
        `Progress` or `Result`."""
        return cls(**{name: getattr(source, name) for name in NAMES})

    def as_dict(self) -> dict[str, int | None]:
        return dataclasses.asdict(self)


NAMES = tuple(field.name for field in dataclasses.fields(Counters))
