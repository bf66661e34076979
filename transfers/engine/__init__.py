"""The transfer engine: plain Python, no Django, Celery or Channels.

Give it a `TransferSpec` (locations with credentials, the profile's options, the runtime's
knobs) and a progress callback; it returns a `Result`. Routes are chosen from the locations:
server-side copy within one endpoint (s5cmd, multipart copy above 5 GiB), a streaming relay
between endpoints, and s5cmd uploads/downloads for local directories.
"""

from transfers.engine.errors import EngineError, InvalidValue, TransferError
from transfers.engine.keyset import KeySet
from transfers.engine.locations import EndpointConfig, LocalLocation, S3Location
from transfers.engine.manifest import Manifest, ManifestEntry
from transfers.engine.ordering import RecordFile
from transfers.engine.planning import Plan, PlanSummary, Route
from transfers.engine.probe import EndpointCheck, check_endpoint
from transfers.engine.progress import Phase, Progress
from transfers.engine.runner import (
    Failure,
    Outcome,
    Result,
    iter_source,
    plan_transfer,
    run_transfer,
    sweep_uploads,
)
from transfers.engine.spec import COMPARES, MODES, Options, Runtime, TransferSpec

__all__ = [
    "COMPARES",
    "MODES",
    "EndpointCheck",
    "EndpointConfig",
    "EngineError",
    "Failure",
    "InvalidValue",
    "KeySet",
    "LocalLocation",
    "Manifest",
    "ManifestEntry",
    "Options",
    "Outcome",
    "Phase",
    "Plan",
    "PlanSummary",
    "Progress",
    "RecordFile",
    "Result",
    "Route",
    "Runtime",
    "S3Location",
    "TransferError",
    "TransferSpec",
    "check_endpoint",
    "iter_source",
    "plan_transfer",
    "run_transfer",
    "sweep_uploads",
]
