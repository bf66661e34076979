"""The REST API root, mounted at /api/v1/: authentication, errors and pagination for every router.

Conventions, which each app's router in `<app>/api.py` follows (what clients see: docs/api.md;
writing a router: CONTRIBUTING.md, "Adding an API route"):

- Authentication: `Authorization: Bearer <personal access token>`, or the browser session
  (then CSRF applies to writes). Routes get `request.auth`, an `accounts.access.Principal`;
  narrow every queryset with it (`Model.objects.visible_to(request.auth)`), never with
  `request.user`, so that a token's teams and scope apply.
- Objects outside the caller's reach: `get_object_or_404(Model.objects.visible_to(request.auth),
  ...)` -> 404. Visible but not allowed (a viewer writing): raise `Forbidden` -> 403.
- Errors are JSON `{"detail": "...", "errors": [{"field": ..., "message": ...}]}`; raise the
  exceptions of `syncportal.errors` from services and let the handlers below map them.
- Lists use `@paginate` (limit/offset) and answer `{"items": [...], "count": N}`; lists that
  grow while clients walk them (audit) use `@paginate(KeysetPagination)`, which also takes a
  `cursor` (`syncportal.pagination`). The job list, polled hardest, pages with `keyset_page`
  and renders its rows directly (see `transfers.api`).
- Document the errors a route can answer: `response={200: Out, **errors(401, 403, 404)}`.
- Django `ValidationError`s from services become 422 with one entry per field message.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyCookie, HttpBearer

from accounts.access import Principal
from accounts.security import mfa_missing
from accounts.services import sign_in_with_token
from syncportal.errors import DomainError, Forbidden, Invalid

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Unauthenticated(Exception):
    """Credentials were presented but are not valid (bad, expired or revoked token)."""


class FieldError(Schema):
    field: str | None = Field(None, description="The input field, dotted; null: the request.")
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldError] | None = Field(None, description="422 only: what to fix, per field.")


ERROR_MEANINGS = {
    400: "The request body is not JSON.",
    401: "No, bad, expired or revoked credentials.",
    403: "You can see this but may not do it (role, read-only token, MFA not enrolled).",
    404: "Not found for you: objects of other teams are not found either.",
    409: "Conflicts with the current state (e.g. cancelling a finished job).",
    413: "The request body is larger than the server accepts.",
    422: "Invalid input; `errors` lists each field's problem.",
    500: "The server failed; the body's `request_id` names the request in its logs.",
    502: "An endpoint or directory the operation needs cannot be reached.",
}


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The error responses of a route, for its OpenAPI description."""
    return dict.fromkeys(statuses, ErrorOut)


def _admit(request: HttpRequest, principal: Principal, *, mfa: bool | None = None) -> Principal:
    """Policy shared by both ways in: MFA enrolment where required, read-only tokens.
    `mfa`: whether enrolment is missing, when the caller knows already."""
    missing = mfa_missing(principal.user) if mfa is None else mfa
    if missing:
        raise Forbidden("Your role requires two-factor authentication: enrol in the portal first.")
    if request.method not in SAFE_METHODS and not principal.can_write:
        raise Forbidden("This token is read-only.")
    return principal


class TokenAuth(HttpBearer):
    """`Authorization: Bearer spt_...`: a personal access token, narrowed to its teams/scope."""

    def __call__(self, request: HttpRequest) -> Principal | None:
        header = request.headers.get("Authorization")
        if not header:
            return None  # maybe a session
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        login = sign_in_with_token(token)
        if login is None:
            raise Unauthenticated("The token is invalid, expired or revoked.")
        return _admit(request, login.principal, mfa=login.mfa_missing)


class SessionAuth(APIKeyCookie):
    """The browser's session cookie; CSRF is checked on writes."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Principal | None:
        # Ninja checks CSRF before it looks at the cookie, so a caller with no credentials at
        # all would get a 403 about CSRF instead of the 401 that tells it to authenticate. CSRF
        # protects a signed-in browser: check it only once the session has signed someone in.
        if not (request.user.is_authenticated and request.user.is_active):
            return None
        try:
            return super().__call__(request)
        except HttpError as exc:
            if exc.status_code != 403:
                raise
            raise Forbidden(
                "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header."
            ) from None

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        return _admit(request, Principal(user=request.user))


class PortalAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Any) -> str:
        """The view's name (`list_jobs`, `cancel_job`): unique across routers, and what client
        generators turn into method names."""
        return operation.view_func.__name__


api = PortalAPI(
    title=f"{settings.SITE_NAME} API",
    version="1",
    description="Teams, endpoints, profiles, jobs and the audit trail. "
    "Authenticate with `Authorization: Bearer <personal access token>`.\n\n"
    'Errors are JSON `{"detail": ..., "errors": [...]}`:\n\n'
    + "\n".join(f"- **{status}**: {meaning}" for status, meaning in ERROR_MEANINGS.items()),
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
)


def _error(
    request: HttpRequest, status: int, detail: str, errors: list | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    response = api.create_response(request, body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(AuthenticationError)
def _not_authenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 401, "Authentication required: send a bearer token or sign in.")


@api.exception_handler(Unauthenticated)
def _bad_credentials(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 401, str(exc))


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 403, str(exc) or "You may not do this.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    errors = None
    if isinstance(exc, Invalid):
        errors = [{"field": exc.field, "message": exc.message}]
    return _error(request, exc.status, exc.message, errors)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        # loc is like ("body", "payload", "role") or ("query", "limit"): keep the field path.
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        if loc and loc[0] in ("query", "path", "header", "cookie"):
            loc = loc[1:]
        errors.append({"field": ".".join(loc) or None, "message": error.get("msg", "invalid")})
    return _error(request, 422, "Invalid input.", errors)


@api.exception_handler(DjangoValidationError)
def _invalid_for_service(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": None if field == NON_FIELD_ERRORS else field, "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": None, "message": message} for message in exc.messages]
    return _error(request, 422, "Invalid input.", errors)


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(request, 413, f"The request body is larger than {limit:,} bytes.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc))


api.add_router("/teams", "accounts.api.router")
api.add_router("/endpoints", "transfers.api.endpoints.router")
api.add_router("/profiles", "transfers.api.profiles.router")
api.add_router("/jobs", "transfers.api.jobs.router")
api.add_router("/previews", "transfers.api.previews.router")
api.add_router("/notifications", "transfers.api.notifications.router")
api.add_router("/audit", "accounts.audit_api.router")


class CeilingOut(Schema):
    ok: bool
    items: list[int]


if settings.BENCH_ROUTES:
    bench = Router(tags=["bench"])

    @bench.get("/ceiling", response=CeilingOut, include_in_schema=False)
    def ceiling(request: HttpRequest) -> dict[str, Any]:
        """The cheapest authenticated API answer (a constant, no query): what the middleware,
        ninja and token authentication cost alone, the benchmark's ceiling for the routes."""
        return {"ok": True, "items": []}

    api.add_router("/bench", bench)
