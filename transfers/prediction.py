"""Predicted duration of a run, from its plan and the throughput of earlier runs.

Each earlier succeeded run gives two rates over its whole duration (planning and verifying
included): bytes per second and objects per second. The medians of the profile's last
`HISTORY` runs that copied something are its rates; without any, the recent runs between the
same endpoints stand in (another profile's pace on other endpoints says little), then the
team's, and without those there is no estimate. The rates say what they are based on, and the
job keeps that text next to its prediction. A run is predicted to take as long as the
slower of its byte count at the byte rate and its object count at the object rate, so both
many small objects and a few large ones are covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from django.db.models import F

from transfers.job_options import JobOptions
from transfers.models import Job

HISTORY = 10


@dataclass(frozen=True)
class Rates:
    bytes_per_second: float
    objects_per_second: float
    runs: int  # how many earlier runs the medians come from
    basis: str  # "profile", "endpoints" or "team"

    def describe(self) -> str:
        """What an estimate from these rates is based on, for a page."""
        runs = "run" if self.runs == 1 else f"{self.runs} runs"
        whose = {
            "profile": "of this profile",
            "endpoints": "between these endpoints",
            "team": "of this team",
        }[self.basis]
        return f"based on the last {runs} {whose}"

    def predict(self, objects: int | None, bytes: int | None) -> float | None:
        if objects is None and bytes is None:
            return None
        by_bytes = (bytes or 0) / self.bytes_per_second if self.bytes_per_second > 0 else 0.0
        by_objects = (objects or 0) / self.objects_per_second
        return round(max(by_bytes, by_objects), 1)


def _rates(jobs, basis: str) -> Rates | None:
    rows = (
        jobs.filter(
            state=Job.State.SUCCEEDED,
            started_at__isnull=False,
            finished_at__gt=F("started_at"),
            objects_done__gt=0,
        )
        .order_by("-finished_at")
        .values_list("bytes_done", "objects_done", "started_at", "finished_at")[:HISTORY]
    )
    byte_rates, object_rates = [], []
    for bytes_done, objects_done, started_at, finished_at in rows:
        seconds = (finished_at - started_at).total_seconds()
        byte_rates.append(bytes_done / seconds)
        object_rates.append(objects_done / seconds)
    if not object_rates:
        return None
    return Rates(median(byte_rates), median(object_rates), len(object_rates), basis)


def rates_for(
    *, profile_id: int | None, team_id: int, endpoints: tuple[int | None, int | None] = (None, None)
) -> Rates | None:
    """The profile's recent rates, else those of runs between the same `endpoints` (source,
    destination ids; None for a local path), else its team's, else None."""
    if profile_id is not None:
        rates = _rates(Job.objects.filter(profile_id=profile_id), "profile")
        if rates is not None:
            return rates
    source, destination = endpoints
    if source is not None or destination is not None:
        same = Job.objects.filter(
            team_id=team_id,
            options__source__endpoint=source,
            options__destination__endpoint=destination,
        )
        rates = _rates(same, "endpoints")
        if rates is not None:
            return rates
    return _rates(Job.objects.filter(team_id=team_id), "team")


def endpoints_of(options: dict) -> tuple[int | None, int | None]:
    """The (source, destination) endpoint ids of a job's options snapshot (`Job.options`)."""
    return JobOptions.from_dict(options).endpoints() if options else (None, None)


def predict(rates: Rates | None, objects: int | None, bytes: int | None) -> float | None:
    return rates.predict(objects, bytes) if rates is not None else None


@dataclass(frozen=True)
class Forecast:
    """A predicted duration and the rates it comes from (how many runs, the profile's or the
    team's), so a page can say what it is based on."""

    seconds: float | None  # None: no earlier run to go by
    rates: Rates | None


def predict_for(profile, objects: int | None, bytes: int | None) -> Forecast:
    """How long a run of `profile` that copies this much would take (a preview's plan), as the
    worker will predict it once the run has planned."""
    rates = rates_for(
        profile_id=profile.pk,
        team_id=profile.team_id,
        endpoints=(profile.source_endpoint_id, profile.destination_endpoint_id),
    )
    return Forecast(predict(rates, objects, bytes), rates)
