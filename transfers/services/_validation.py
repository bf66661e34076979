"""Collecting per-field errors from the engine's validators and the model's own checks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from transfers.engine import InvalidValue


class Errors:
    """Per-field messages, raised together as one `ValidationError`."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = defaultdict(list)

    def add(self, field: str, message: str) -> None:
        self.messages[field].append(message)

    def check(self, field: str, validate: Callable[[], Any], default: Any = None) -> Any:
        """Run an engine validator; its `InvalidValue` becomes a message on `field`."""
        try:
            return validate()
        except InvalidValue as exc:
            self.add(field, str(exc))
            return default

    def model(self, instance: models.Model, *, exclude: tuple[str, ...] = ()) -> None:
        """Field validators of the model (lengths, ranges, choices), once ours have passed."""
        skip = set(exclude) | set(self.messages)
        try:
            instance.full_clean(exclude=skip, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for text in messages:
                    self.add(field, text)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(dict(self.messages))


def apply_changes(
    instance: models.Model, changes: dict[str, Any], allowed: tuple[str, ...]
) -> dict[str, Any]:
    """Set `changes` on `instance`; unknown field names are an input error, not a crash."""
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))
    for name, value in changes.items():
        setattr(instance, name, value)
    return changes


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The audit details of an update: the changed fields, before and after."""
    changed = [field for field in after if before[field] != after[field]]
    return {
        "before": {field: before[field] for field in changed},
        "after": {field: after[field] for field in changed},
    }
