"""Request-scoped middleware."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse

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


API_ROOT = "/api/v1/"  # where syncportal.urls mounts the API
# Headers of the original answer that a client still needs from the JSON one.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "X-Request-ID")
_API_MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    405: "This method is not allowed here; see the Allow header.",
    413: "The request body is too large.",
}


class ApiJsonErrorsMiddleware:
    """Under /api/v1/, every error answer is JSON `{"detail": ...}`, as the API promises.

    Some answers are made before or around the API's own handlers, as Django's HTML pages: a
    path the URL patterns do not match (`/api/v1/jobs/abc`), a method a route does not take,
    and any exception nothing handled (Django logs it with its traceback and the request id,
    then renders its 500 page). Those become JSON here, a 500 with the request id to quote and
    nothing of the exception.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith(API_ROOT)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        body = {"detail": _API_MESSAGES.get(status, f"{response.reason_phrase}.")}
        if status >= 500:
            body = {
                "detail": "The server failed to answer this request. It has been logged: quote "
                "the request id when you report it.",
                "request_id": request.request_id,
            }
        json_response = JsonResponse(body, status=status)
        for header in _KEPT_HEADERS:
            if header in response:
                json_response[header] = response[header]
        return json_response
