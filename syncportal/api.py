"""The REST API root, mounted at /api/v1/: authentication, errors and pagination for every router.

Conventions (see the README's API section), which each app's router in `<app>/api.py` follows:

- Authentication: `Authorization: Bearer <personal access token>`, or the browser session
  (then CSRF applies to writes). Routes get `request.auth`, an `accounts.access.Principal`;
  narrow every queryset with it (`Model.objects.visible_to(request.auth)`), never with
  `request.user`, so that a token's teams and scope apply.
- Objects outside the caller's reach: `get_object_or_404(Model.objects.visible_to(request.auth),
  ...)` -> 404. Visible but not allowed (a viewer writing): raise `Forbidden` -> 403.
- Errors are JSON `{"detail": "...", "errors": [{"field": ..., "message": ...}]}`; raise the
  exceptions of `syncportal.errors` from services and let the handlers below map them.
- Lists use `@paginate` (limit/offset) and answer `{"items": [...], "count": N}`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyCookie, HttpBearer

from accounts.access import Principal
from accounts.security import mfa_missing
from accounts.services import use_api_token
from syncportal.errors import DomainError, Forbidden, Invalid

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Unauthenticated(Exception):
    """Credentials were presented but are not valid (bad, expired or revoked token)."""


class ErrorOut(Schema):
    detail: str
    errors: list[dict[str, Any]] | None = None


def _admit(request: HttpRequest, principal: Principal) -> Principal:
    """Policy shared by both ways in: MFA enrolment where required, read-only tokens."""
    if mfa_missing(principal.user):
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
        api_token = use_api_token(token)
        if api_token is None:
            raise Unauthenticated("The token is invalid, expired or revoked.")
        return _admit(request, Principal.for_token(api_token))


class SessionAuth(APIKeyCookie):
    """The browser's session cookie; CSRF is checked on writes."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        if request.user.is_authenticated and request.user.is_active:
            return _admit(request, Principal(user=request.user))
        return None


api = NinjaAPI(
    title=f"{settings.SITE_NAME} API",
    version="1",
    description="Teams, endpoints, profiles, jobs and the audit trail. "
    "Authenticate with `Authorization: Bearer <personal access token>`.",
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


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc))


api.add_router("/teams", "accounts.api.router")
