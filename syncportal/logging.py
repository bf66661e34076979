"""Structured logs: one JSON object per line, tagged with the request and job they belong to.

`request_id` and `job_id` are context variables set by RequestIdMiddleware and by the job
tasks; every record logged while they are set carries them. The formatters mask anything that
looks like a credential: a last line of defence, code must not log secrets in the first place.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable

import pythonjsonlogger.json
from django.core.signals import request_finished

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
job_id: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="")

_SECRET_PATTERNS = [
    # Authorization headers and bearer tokens.
    (
        re.compile(
            r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|basic|aws4-hmac-sha256)?\s*[^\s\"',]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [redacted]"),
    # key=value pairs whose key names a secret (AWS_SECRET_ACCESS_KEY=..., "password": "...").
    (
        re.compile(
            r"(?i)([\"']?[A-Za-z_]*(secret|password|passwd|token|api[_-]?key)[A-Za-z_]*[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
        ),
        r"\1[redacted]",
    ),
    # Credentials inside URLs: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]*:)([^@\s/]+)(@)"), r"\1[redacted]\3"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clear_request_id(**kwargs) -> None:
    request_id.set("")


request_finished.connect(_clear_request_id, dispatch_uid="syncportal.logging.clear_request_id")


class ContextFilter(logging.Filter):
    """Adds `request_id` and `job_id` from the current context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """One JSON object per line (message, level, logger, time, request_id, job_id, extras)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class OutageLog:
    """Logs the failures of something the process keeps retrying (Redis, the broker) as one
    outage: a warning when it starts, a reminder at most every `remind_every` seconds while it
    lasts, and a line when it works again; no traceback per attempt. Thread-safe."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        remind_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.logger, self.what, self.remind_every, self.clock = logger, what, remind_every, clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._reminded = 0.0
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException, consequence: str = "") -> None:
        then = f"; {consequence}" if consequence else ""
        with self._lock:
            now = self.clock()
            self._failures += 1
            if self._since is None:
                self._since = self._reminded = now
                self.logger.warning(
                    "%s is unavailable (%s)%s", self.what, _describe(exc), then, stacklevel=2
                )
            elif now - self._reminded >= self.remind_every:
                self._reminded = now
                self.logger.warning(
                    "%s is still unavailable after %.0f s, %s failed attempts (%s)%s",
                    self.what,
                    now - self._since,
                    self._failures,
                    _describe(exc),
                    then,
                    stacklevel=2,
                )

    def succeeded(self) -> None:
        if self._since is None:  # the usual case, without taking the lock
            return
        with self._lock:
            if self._since is None:
                return
            self.logger.info(
                "%s works again, after %.0f s and %s failed attempts",
                self.what,
                self.clock() - self._since,
                self._failures,
                stacklevel=2,
            )
            self._since, self._failures = None, 0


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
