"""What a sharded job's shards are doing, for the API and the job page, read in aggregate.

A job may have thousands of shards (docs/engine.md, "Shards"); nothing here loads more than a
bounded number of their rows. The counts by state come from one aggregate over the (job, state)
index; the page's strip of cells reads at most `MAX_CELLS` rows, or as many groups (each a run
of consecutive shards summed by the database) and the keys at their ends.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import (
    CharField,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models import Value as V
from django.db.models.functions import Cast, Coalesce, Concat

from transfers.models import JobShard

# In the order the summary and the page list them.
STATES: tuple[str, ...] = tuple(state.value for state in JobShard.State)
# A run of shards shows as its most telling state: one failure among successes must show.
SEVERITY: tuple[str, ...] = (
    JobShard.State.FAILED,
    JobShard.State.PARTIAL,
    JobShard.State.CANCELLED,
    JobShard.State.RUNNING,
    JobShard.State.QUEUED,
    JobShard.State.PENDING,
    JobShard.State.SUCCEEDED,
)
# The page draws at most this many cells; beyond, each cell is a run of shards.
MAX_CELLS = 200
LABELS = dict(JobShard.State.choices)


def worker_host(worker: str) -> str:
    """The host of a worker name `host:pid:id` (the whole name if it has another form)."""
    parts = worker.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else worker


def summary(counts: dict[str, int]) -> dict[str, int] | None:
    """{total, pending, ..., cancelled} from counts by state; None for a job without shards."""
    total = sum(counts.values())
    if not total:
        return None
    return {"total": total, **{state: counts.get(state, 0) for state in STATES}}


def counts_by_state(job_id: int) -> dict[str, int]:
    """The job's shards counted by state: one aggregate over the (job, state) index."""
    rows = (
        JobShard.objects.filter(job_id=job_id)
        .order_by()
        .values_list("state")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def summary_of(job_id: int) -> dict[str, int] | None:
    return summary(counts_by_state(job_id))


def counts_subquery(job_ref: str = "pk") -> Subquery:
    """The shards of the job at `job_ref` (an outer query's job id) counted by state, as one
    text `n,n,...` in `STATES` order, or NULL without shards: a single correlated subquery,
    for lists that show the summary of many jobs in one query (`summary_from_text`)."""
    parts: list = []
    for state in STATES:
        if parts:
            parts.append(V(","))
        parts.append(Cast(Count("pk", filter=Q(state=state)), CharField()))
    text = (
        JobShard.objects.filter(job_id=OuterRef(job_ref))
        .order_by()
        .values("job_id")
        .annotate(counts=Concat(*parts, output_field=CharField()))
        .values("counts")
    )
    return Subquery(text, output_field=CharField())


def summary_from_text(text: str | None) -> dict[str, int] | None:
    """The summary from `counts_subquery`'s text."""
    if not text:
        return None
    return summary(dict(zip(STATES, map(int, text.split(",")), strict=True)))


def summary_sql(job_id_sql: str) -> str:
    """PostgreSQL: the summary as JSON text, written as `json.dumps` writes the dict `summary`
    returns (the API's job JSON is rendered by the database: transfers/api/job_json.py), or
    `null`. `job_id_sql` is the outer query's job id column; states come from the model."""
    table = JobShard._meta.db_table
    job_column = JobShard._meta.get_field("job").column
    pieces = ["'{\"total\": ' || count(*)"]
    for state in STATES:
        pieces.append(f"', \"{state}\": ' || count(*) FILTER (WHERE s.\"state\" = '{state}')")
    body = " || ".join(pieces) + " || '}'"
    # An aggregate without GROUP BY over no rows is one row; HAVING makes it none (NULL).
    return (
        f'COALESCE((SELECT {body} FROM "{table}" s '  # noqa: S608 (names and states from the model)
        f"WHERE s.\"{job_column}\" = {job_id_sql} HAVING count(*) > 0), 'null')"
    )


def running_workers(job_id: int) -> list[tuple[str, int]]:
    """(host, shards running there), most first: one aggregate, as many rows as workers."""
    rows = (
        JobShard.objects.filter(job_id=job_id, state=JobShard.State.RUNNING)
        .order_by()
        .values_list("worker")
        .annotate(n=Count("pk"))
    )
    hosts: Counter[str] = Counter()
    for worker, n in rows:
        hosts[worker_host(worker) or "a worker"] += n
    return sorted(hosts.items(), key=lambda item: (-item[1], item[0]))


# Keys may be 1,024 characters: a label shows the start of each, so 200 cells stay small.
KEY_SHOWN = 40


def _key(key: str) -> str:
    return repr(key if len(key) <= KEY_SHOWN else key[:KEY_SHOWN] + "…")


@dataclass
class Cell:
    """One cell of the strip: a shard, or a run of consecutive shards (`first`..`last`)."""

    first: int
    last: int
    after_key: str
    upto_key: str | None
    state: str
    counts: dict[str, int] = field(default_factory=dict)
    worker: str = ""
    attempts: int = 0
    objects_done: int = 0
    objects_total: int = 0

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def label(self) -> str:
        """Everything the colour says, in words (the cell's title and aria-label)."""
        start = "from the first key" if self.after_key == "" else f"after {_key(self.after_key)}"
        end = "to the last key" if self.upto_key is None else f"up to {_key(self.upto_key)}"
        keys = f"keys {start} {end}"
        objects = f"{self.objects_done:,} of {self.objects_total:,} objects"
        if self.size == 1:
            worker = f", on {self.worker}" if self.worker else ""
            attempt = f", {self.attempts} attempt{'s' if self.attempts != 1 else ''}"
            return f"Shard {self.first}: {LABELS[self.state]}{worker}{attempt}; {keys}; {objects}"
        states = ", ".join(
            f"{self.counts[state]} {LABELS[state].lower()}"
            for state in SEVERITY
            if self.counts.get(state)
        )
        return f"Shards {self.first} to {self.last}: {states}; {keys}; {objects}"


def strip(job_id: int, total: int, *, max_cells: int = MAX_CELLS) -> list[Cell]:
    """The job's shards in key order as at most `max_cells` cells: the shards themselves
    (`total` <= `max_cells`, one query), else runs of ceil(total / max_cells) consecutive
    shards grouped and summed by the database, each coloured by its most severe state (two
    queries)."""
    shards = JobShard.objects.filter(job_id=job_id).order_by("seq")
    if total <= max_cells:
        rows = shards.values_list(
            "seq",
            "after_key",
            "upto_key",
            "state",
            "worker",
            "attempts",
            "objects_done",
            "objects_total",
            "planned_objects",
        )[:max_cells]
        return [
            Cell(
                first=seq,
                last=seq,
                after_key=after,
                upto_key=upto,
                state=state,
                worker=worker_host(worker),
                attempts=attempts,
                objects_done=done,
                objects_total=planned if objects_total is None else objects_total,
            )
            for seq, after, upto, state, worker, attempts, done, objects_total, planned in rows
        ]
    run = math.ceil(total / max_cells)
    groups = list(
        shards.order_by()
        .annotate(cell=ExpressionWrapper(F("seq") / V(run), output_field=IntegerField()))
        .values("cell")
        .annotate(
            first=Min("seq"),
            last=Max("seq"),
            objects_done=Sum("objects_done"),
            objects_total=Sum(Coalesce("objects_total", "planned_objects")),
            **{f"n_{state}": Count("pk", filter=Q(state=state)) for state in STATES},
        )
        .order_by("cell")[: max_cells + 1]
    )
    # A run's range: from its first shard's start to its last one's end. Read by seq (the
    # database's collation need not sort keys as S3 does), two rows a cell.
    ends = {group["first"] for group in groups} | {group["last"] for group in groups}
    keys = {
        seq: (after, upto)
        for seq, after, upto in JobShard.objects.filter(job_id=job_id, seq__in=ends)
        .order_by()
        .values_list("seq", "after_key", "upto_key")
    }
    cells = []
    for group in groups:
        counts = {state: group[f"n_{state}"] for state in STATES}
        cells.append(
            Cell(
                first=group["first"],
                last=group["last"],
                after_key=keys[group["first"]][0],
                upto_key=keys[group["last"]][1],
                state=next(state for state in SEVERITY if counts[state]),
                counts=counts,
                objects_done=group["objects_done"] or 0,
                objects_total=group["objects_total"] or 0,
            )
        )
    return cells
