"""Every date-time filter of every list route takes ISO 8601 only: a number (which pydantic
alone reads as a Unix timestamp) or any other text is a 422 naming the parameter."""

from __future__ import annotations

import pytest

from accounts import audit
from transfers.models import Job

pytestmark = pytest.mark.django_db

NOT_ISO_8601 = ["0.5", "0", "1732000000", "-1", "yesterday", "25/11/2026", "20261125", "2026"]
ISO_8601 = ["2026-11-25T14:30:00Z", "2026-11-25T15:30:00+01:00", "2026-11-25T14:30", "2026-11-25"]


def date_time_filters() -> list[tuple[str, str]]:
    """(path, parameter) of every GET query parameter the OpenAPI document types as date-time."""
    from syncportal.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    found = []
    for path, operations in schema["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            types = [parameter["schema"], *parameter["schema"].get("anyOf", [])]
            if parameter["in"] == "query" and any(t.get("format") == "date-time" for t in types):
                found.append((path, parameter["name"]))
    return found


FILTERS = date_time_filters()


def test_it_finds_the_date_time_filters():
    assert set(FILTERS) >= {
        ("/api/v1/jobs", "created_after"),
        ("/api/v1/jobs", "created_before"),
        ("/api/v1/jobs/{job_id}/samples", "since"),
        ("/api/v1/audit", "created_after"),
        ("/api/v1/audit", "created_before"),
        ("/api/v1/audit/export", "created_after"),
        ("/api/v1/audit/export", "created_before"),
    }


@pytest.mark.parametrize(("path", "parameter"), FILTERS, ids=lambda value: value)
def test_it_takes_only_iso_8601_date_times(api_as, owner, team, path, parameter):
    job = Job.objects.create(team=team, profile_name="p", state="succeeded")
    audit.record("team.created", actor=owner, target=team, team=team)
    api = api_as(owner)
    path = path.removeprefix("/api/v1").replace("{job_id}", str(job.pk))
    for value in NOT_ISO_8601:
        response = api.get(path, **{parameter: value})
        assert response.status_code == 422, (value, response.status_code)
        assert response.json()["errors"] == [
            {
                "field": parameter,
                "message": "Use an ISO 8601 date-time such as 2026-11-25T14:30:00Z or "
                "2026-11-25T15:30:00+01:00 (encode '+' as %2B in a URL), or a date such as "
                "2026-11-25 (its midnight, UTC).",
            }
        ], value
    impossible = api.get(path, **{parameter: "2026-02-30T10:00:00Z"})
    assert impossible.status_code == 422
    assert "not a real date-time" in impossible.json()["errors"][0]["message"]
    for value in ISO_8601:
        assert api.get(path, **{parameter: value}).status_code == 200, value
