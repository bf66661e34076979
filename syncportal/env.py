"""Typed reading of configuration from environment variables.

Every value the portal reads from the environment goes through `Env`, so that a bad value
stops start-up with one line that names the variable and says what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_REQUIRED: Any = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ImproperlyConfigured):
    """A configuration value is missing or malformed; the message is meant for the operator."""


class Env:
    """Reads and validates environment variables; `required` marks a variable without default."""

    required = _REQUIRED

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str, default: Any) -> Any:
        value = self.environ.get(name)
        if value is None or (value.strip() == "" and default is not _REQUIRED):
            if default is _REQUIRED:
                raise ConfigError(f"{name} is required but not set (see .env.example)")
            return default
        return value.strip()

    def str(self, name: str, default: Any = _REQUIRED) -> Any:
        return self._raw(name, default)

    def bool(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self._raw(name, default)
        if isinstance(value, bool) or value is None:
            return value
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no)")

    def int(
        self, name: str, default: Any = _REQUIRED, *, min: int | None = None, max: int | None = None
    ) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, str):
            return value
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an integer") from None
        if min is not None and number < min:
            raise ConfigError(f"{name}={number} is below the minimum of {min}")
        if max is not None and number > max:
            raise ConfigError(f"{name}={number} is above the maximum of {max}")
        return number

    def list(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, str):
            return value
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(self, name: str, default: Any = _REQUIRED, *, schemes: tuple[str, ...]) -> Any:
        value = self._raw(name, default)
        if not isinstance(value, str):
            return value
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ConfigError(f"{name} must be a URL starting with {allowed}")
        return value

    def database(self, name: str, default: Any = _REQUIRED) -> dict[str, Any]:
        import dj_database_url

        value = self._raw(name, default)
        scheme = urlsplit(value).scheme
        if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
            raise ConfigError(
                f"{name} must be a postgres:// or sqlite:// URL, got scheme {scheme or 'none'!r}"
            )
        try:
            config = dj_database_url.parse(value, conn_max_age=0)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{name} is malformed: {exc}") from None
        if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
            raise ConfigError(f"{name} must name a database, e.g. postgres://host:5432/syncportal")
        return config
