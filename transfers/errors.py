"""Domain errors of the transfers app.

Input errors are Django `ValidationError`s with per-field messages (the API answers 422).
The errors here are about state: the request is well-formed but does not fit what the object
is doing now (409), or something it needs cannot be reached (502).
"""

from __future__ import annotations

from syncportal.errors import Conflict as _Conflict
from syncportal.errors import DomainError


class Conflict(_Conflict):
    """The operation does not fit the object's current state."""


class JobStateError(Conflict):
    """E.g. cancelling a finished job, approving a job that is not awaiting approval."""


class EndpointInUse(Conflict):
    """An endpoint still used by profiles cannot be deleted."""


class ProfileBusy(Conflict):
    """A profile with a job in progress cannot start another one or be deleted."""


class PreviewBusy(Conflict):
    """A profile has one preview in progress at a time."""


class PreviewStateError(Conflict):
    """E.g. cancelling a preview that has finished."""


class Unavailable(DomainError):
    """An endpoint or directory the operation needs cannot be used now; the message says why."""

    status = 502
