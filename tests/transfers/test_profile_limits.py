"""A profile's limits are written once, on the model: the form, the API's create and patch
schemas and the preview schema follow it."""

from __future__ import annotations

import dataclasses

import pytest

from syncportal.api import api  # noqa: F401 - the root first: it mounts the routers
from syncportal.limits import field_limits
from transfers.api.previews import PlanOut
from transfers.api.profiles import ProfileIn, ProfilePatch
from transfers.engine import PlanSummary
from transfers.forms import ProfileForm
from transfers.models import SyncProfile

LIMITED = [
    ("name", {"max_length": 100}),
    ("source_bucket", {"max_length": 63}),
    ("destination_prefix", {"max_length": 1024}),
    ("workers", {"min_value": 1, "max_value": 1024}),
    ("concurrency", {"min_value": 1, "max_value": 64}),
    ("part_size_mb", {"min_value": 5, "max_value": 5120}),
    ("max_staleness_minutes", {"min_value": 1, "max_value": 366 * 24 * 60}),
    ("max_parallel_shards", {"min_value": 1, "max_value": 256}),
]
SCHEMA_WORDS = {"max_length": "maxLength", "min_value": "minimum", "max_value": "maximum"}


@pytest.mark.parametrize(("name", "limits"), LIMITED)
def test_the_form_and_both_schemas_take_the_models_limits(name, limits):
    assert field_limits(SyncProfile, name) == limits
    form_field = ProfileForm.base_fields[name]
    for key, value in limits.items():
        assert getattr(form_field, key) == value
    for schema in (ProfileIn, ProfilePatch):
        properties = schema.model_json_schema()["properties"][name]
        variants = properties.get("anyOf", [properties])
        for key, value in limits.items():
            assert any(v.get(SCHEMA_WORDS[key]) == value for v in variants), (schema, properties)


def test_the_create_schema_takes_the_models_defaults_and_the_patch_none():
    created = ProfileIn(team_id=1, name="p")
    assert (created.workers, created.mode, created.include_patterns) == (64, "sync", [])
    assert ProfilePatch().model_dump(exclude_unset=True) == {}
    assert ProfilePatch(workers=9).model_dump(exclude_unset=True) == {"workers": 9}


def test_the_preview_schema_shows_every_field_of_the_engines_plan_summary():
    plan = {field.name for field in dataclasses.fields(PlanSummary)}
    assert set(PlanOut.model_fields) == plan | {"predicted_seconds", "prediction_basis"}
