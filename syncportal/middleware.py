"""Request-scoped middleware."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound

from syncportal import logging as log_context

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id (the proxy's X-Request-ID when well-formed) for logs and audit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Cleared on request_finished (syncportal.logging), after Django's own response logging.
        log_context.request_id.set(request.request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class OperationalEndpointsMiddleware:
    """Serves /healthz, /readyz and /metrics ahead of every other middleware.

    Probes and scrapers address the pod by IP over plain HTTP: these answers must not depend
    on ALLOWED_HOSTS, the HTTPS redirect, sessions or authentication.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        from syncportal.health import healthz, readyz
        from syncportal.metrics import metrics_view

        self.get_response = get_response
        self.views = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path)
        if view is not None and request.method in ("GET", "HEAD"):
            try:
                return view(request)
            except Http404:
                return HttpResponseNotFound()
        return self.get_response(request)
