"""Errors the engine raises; every message is written for the person who started the job."""

from __future__ import annotations


class EngineError(Exception):
    """Base of the engine's errors; `str()` is a readable sentence."""


class InvalidValue(EngineError, ValueError):
    """A location, pattern or option is not acceptable; raised before anything is touched."""


class TransferError(EngineError):
    """A run cannot go on: an endpoint is unreachable, credentials are refused, s5cmd is missing."""
