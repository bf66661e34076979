"""The API root's conventions: authentication, JSON errors, OpenAPI and offline docs."""

from __future__ import annotations

import re

from tests.accounts.conftest import call


def test_anonymous_callers_get_a_json_401(client, db):
    response = client.get("/api/v1/teams")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication required: send a bearer token or sign in."}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_malformed_authorization_header_is_a_401(client, db):
    response = client.get("/api/v1/teams", HTTP_AUTHORIZATION="Basic dmVyYTpwdw==")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_unknown_objects_are_a_json_404(client, viewer, make_token, team):
    secret = make_token(viewer, [team])
    response = call(client, "GET", "/api/v1/teams/999999", secret)
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


def test_lists_are_paginated(client, viewer, make_token, team):
    secret = make_token(viewer, [team])
    body = call(client, "GET", f"/api/v1/teams/{team.pk}/members?limit=1&offset=0", secret).json()
    assert body["count"] == 1 and len(body["items"]) == 1
    too_big = call(client, "GET", "/api/v1/teams?limit=100000", secret)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "limit"


def test_the_openapi_schema_describes_routes_and_bearer_auth(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/teams/{team_id}/members/{user_id}" in schema["paths"]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_work_offline_under_the_csp(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    for attributes in scripts:  # only our own files, or inert JSON data blocks
        assert 'src="/static/' in attributes or 'type="application/json"' in attributes
    assert "cdn" not in html.lower()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_it_answers_a_write_without_credentials_with_a_401(db, team):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)  # as a real client: no CSRF exemption
    members = f"/api/v1/teams/{team.pk}/members"
    for method, path in (("post", members), ("patch", f"{members}/1"), ("delete", f"{members}/1")):
        response = getattr(browser, method)(path, data={}, content_type="application/json")
        assert response.status_code == 401, (method, response.content)
        assert response.json()["detail"].startswith("Authentication required")
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_it_answers_a_write_with_a_stale_session_cookie_with_a_401(db):
    from django.conf import settings
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.cookies[settings.SESSION_COOKIE_NAME] = "expired-or-made-up-session-key"
    response = browser.post("/api/v1/teams", data={"name": "x"}, content_type="application/json")
    assert response.status_code == 401


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"duplicate keys {duplicates} in one object"
    return dict(pairs)


def test_it_serves_a_valid_openapi_document(client, db):
    """As served: a JSON object with a key twice is legal JSON to Python (the last one wins),
    but Swagger UI's YAML parser refuses the whole document."""
    import json

    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content, object_pairs_hook=_refuse_duplicate_keys)
    validate(document)
    manifest = document["paths"]["/api/v1/jobs/{job_id}/manifest"]["get"]["responses"]["200"]
    assert list(manifest["content"]) == ["application/x-ndjson"]


def test_it_answers_a_too_large_body_with_a_json_413(client, owner, with_mfa, make_token, team):
    import json

    secret = make_token(owner, [team], scope="write")
    body = json.dumps({"username": "x" * (5 * 1024 * 1024)})  # 5 MB, over Django's 2.5 MB
    response = client.post(
        f"/api/v1/teams/{team.pk}/members",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 2,621,440 bytes."}


def test_it_answers_paths_that_match_no_route_with_a_json_404(client, viewer, make_token, team):
    secret = make_token(viewer, [team])
    for path in ("/api/v1/jobs/abc", "/api/v1/teams/1.5", "/api/v1/nothing-here", "/api/v1/jobs/"):
        for headers in ({}, {"HTTP_AUTHORIZATION": f"Bearer {secret}"}):
            response = client.get(path, **headers)
            assert response.status_code == 404, path
            assert response["Content-Type"] == "application/json", path
            assert response.json() == {"detail": "Not found."}, path


def test_it_answers_a_method_a_route_does_not_take_with_a_json_405(
    client, viewer, make_token, team
):
    secret = make_token(viewer, [team])
    response = client.delete("/api/v1/teams", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 405
    assert response.json()["detail"].startswith("This method is not allowed here")
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


def test_it_answers_an_unhandled_exception_with_a_json_500(
    viewer, make_token, team, monkeypatch, caplog
):
    from django.test import Client

    from accounts import api as accounts_api

    def broken(principal):
        raise RuntimeError("internal detail: redis://:hunter2@cache:6379")

    monkeypatch.setattr(accounts_api, "_teams", broken)
    secret = make_token(viewer, [team])
    browser = Client(raise_request_exception=False)  # answer as the server would
    response = browser.get("/api/v1/teams", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["request_id"] == response["X-Request-ID"] and len(body["request_id"]) >= 8
    assert body["detail"].startswith("The server failed to answer this request.")
    assert "hunter2" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    [logged] = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert logged.exc_info[0] is RuntimeError  # the traceback goes to the log instead
