"""A job's states and the engine's words for them (phases while it runs, the outcome that
ends it), in one table: what a live message shows, what the progress publisher stores, what
a run's end stores and which jobs the reaper watches all read it."""

from __future__ import annotations

from dataclasses import dataclass

from transfers.engine import Outcome, Phase
from transfers.models import Job

QUEUED_PHASE = "queued"  # not an engine phase: the job has not reached a worker yet


@dataclass(frozen=True)
class StateInfo:
    shown: str  # the phase a live message shows for a job stored in this state
    reported: tuple[str, ...] = ()  # the engine phases whose snapshots store this state
    outcome: str | None = None  # the engine outcome that ends a run in this state
    leased: bool = False  # a worker holds the job (the reaper watches its lease)


STATES: dict[str, StateInfo] = {
    Job.State.QUEUED: StateInfo(QUEUED_PHASE),
    Job.State.PLANNING: StateInfo(Phase.PLANNING, (Phase.PLANNING,), leased=True),
    Job.State.RUNNING: StateInfo(
        Phase.COPYING, (Phase.COPYING, Phase.DELETING, Phase.CLEANING_UP), leased=True
    ),
    # Stored by the run's end only (the lease is released while it waits).
    Job.State.AWAITING_APPROVAL: StateInfo(
        Phase.AWAITING_APPROVAL, outcome=Outcome.AWAITING_APPROVAL
    ),
    Job.State.VERIFYING: StateInfo(Phase.VERIFYING, (Phase.VERIFYING,), leased=True),
    Job.State.SUCCEEDED: StateInfo(Phase.DONE, outcome=Outcome.SUCCEEDED),
    Job.State.PARTIAL: StateInfo(Phase.DONE, outcome=Outcome.PARTIAL),
    Job.State.FAILED: StateInfo(Phase.DONE, outcome=Outcome.FAILED),
    Job.State.CANCELLED: StateInfo(Phase.DONE, outcome=Outcome.CANCELLED),
}

PHASE_FOR_STATE = {state: info.shown for state, info in STATES.items()}
STATE_FOR_PHASE = {phase: state for state, info in STATES.items() for phase in info.reported}
STATE_FOR_OUTCOME = {info.outcome: state for state, info in STATES.items() if info.outcome}
LEASED_STATES = tuple(state for state, info in STATES.items() if info.leased)
