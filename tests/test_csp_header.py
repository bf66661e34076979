"""The Content-Security-Policy header, built once per process for ordinary responses
(syncportal.middleware.CSPMiddleware), is django-csp's policy and follows the settings."""

from __future__ import annotations

import pytest
from csp.utils import build_policy

pytestmark = pytest.mark.django_db


def test_pages_and_api_answers_carry_the_settings_policy(client, settings):
    expected = build_policy()
    assert "frame-ancestors 'none'" in expected
    assert client.get("/accounts/login/")["Content-Security-Policy"] == expected
    assert client.get("/api/v1/jobs")["Content-Security-Policy"] == expected  # a 401
    assert client.get("/accounts/login/")["Content-Security-Policy"] == expected

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert client.get("/accounts/login/")["Content-Security-Policy"] == "default-src 'none'"


def test_a_decorated_view_keeps_its_own_policy(client, rf):
    from csp.decorators import csp_update
    from django.http import HttpResponse

    from syncportal.middleware import CSPMiddleware

    @csp_update({"img-src": ["https://example.com"]})
    def view(request):
        return HttpResponse("ok")

    middleware = CSPMiddleware(view)
    response = middleware(rf.get("/"))
    assert "img-src 'self' data: https://example.com" in response["Content-Security-Policy"]
    plain = CSPMiddleware(lambda request: HttpResponse("ok"))(rf.get("/"))
    assert plain["Content-Security-Policy"] == build_policy()
