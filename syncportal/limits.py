"""A model field's input limits, for the forms and API schemas that take the same input: each
limit is written once, on the model, and the form, the API and the service's `full_clean`
all enforce that one.

Only what the field declares counts (its `max_length`, its own `MinValueValidator` and
`MaxValueValidator`): Django adds the database's integer range at run time, which differs
between PostgreSQL and SQLite and would make the published OpenAPI depend on the database.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def field_limits(model: type[models.Model], name: str) -> dict[str, Any]:
    """`max_length`, `min_value` and `max_value` as the field declares them (form arguments)."""
    field = model._meta.get_field(name)
    limits: dict[str, Any] = {}
    if field.max_length is not None and not field.choices:  # choices bound it already
        limits["max_length"] = field.max_length
    for validator in field._validators:  # declared on the field, not the backend's range
        if isinstance(validator, MinValueValidator):
            limits["min_value"] = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            limits["max_value"] = validator.limit_value
    return limits


def form_field_options(model: type[models.Model], name: str) -> dict[str, Any]:
    """The limits and the default of a model field, as a form field's arguments."""
    options = field_limits(model, name)
    default = model._meta.get_field(name).default
    if default is not models.NOT_PROVIDED and not callable(default):
        options["initial"] = default
    return options


_SCHEMA_NAMES = {"max_length": "max_length", "min_value": "ge", "max_value": "le"}


def schema_limits(model: type[models.Model], name: str) -> dict[str, Any]:
    """The limits of a model field, as pydantic `Field` arguments (`ge`, `le`, `max_length`)."""
    return {_SCHEMA_NAMES[key]: value for key, value in field_limits(model, name).items()}


def schema_default(model: type[models.Model], name: str) -> Any:
    """The model field's default for a create schema: its own default (a callable one is a
    factory), else what an optional (blank) field stores when left out, else `...` (required)."""
    field = model._meta.get_field(name)
    if field.has_default():
        return field.default
    return field.get_default() if field.blank else ...
