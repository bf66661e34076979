"""Request-scoped middleware."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import csp.middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
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


# Per-response changes of the policy (django-csp's decorators set them on the response).
_CSP_OVERRIDES = tuple(
    f"_csp_{kind}{suffix}" for kind in ("config", "update", "replace") for suffix in ("", "_ro")
)
_csp_texts: dict[bool, str] = {}  # report-only or not -> the settings' policy, built once


@receiver(setting_changed)
def _forget_csp_texts(setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _csp_texts.clear()


class CSPMiddleware(csp.middleware.CSPMiddleware):
    """django-csp's middleware, with the header of an ordinary response built once.

    django-csp builds the policy's text from the settings for every response, a fifth of the
    middleware's time on a small API answer. A response that no decorator changed and whose
    page used no nonce gets the same text every time: it is built once per process. Any other
    response is handled by django-csp itself."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _CSP_OVERRIDES
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # as django-csp: Django's debug pages keep their inline styles
        for report_only, header, exempt, setting in (
            (False, HEADER, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (True, HEADER_REPORT_ONLY, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            text = _csp_texts.get(report_only)
            if text is None:
                text = _csp_texts[report_only] = build_policy(report_only=report_only)
            if not text or header in response or getattr(response, exempt, False):
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = text
        # As django-csp: a nonce asked for after the header is written is an error.
        request.csp_nonce = csp.middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response
