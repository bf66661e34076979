"""Who may see and do what, in one place.

Every page, API route, consumer and task entry point narrows its querysets with these methods;
an object outside the caller's teams is simply not found (404), never "forbidden".

- ``visible_to(who)``: any role in the owning team (viewer, operator, admin).
- ``operable_by(who)``: operator or admin (run, cancel, retry, edit profiles).
- ``administrable_by(who)``: admin (members, endpoints, credentials).

``who`` is a user (pages, consumers) or a `Principal` (API routes: ``request.auth``). A
principal made from a personal API token reaches only the teams the token is bound to, and a
read-scope token reaches nothing through ``operable_by``/``administrable_by``. Because the
narrowing happens here, every queryset that uses these methods honours tokens without knowing
about them.

Superusers pass every check (within a token's teams). Inactive and anonymous users pass none.
The audit trail has its own rule (`AUDIT_READERS`): auditors and superusers read every team's,
team admins their teams'.

This module imports no models (they import it): memberships are reached through the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Team admin"


OPERATE_ROLES = (Role.OPERATOR, Role.ADMIN)
ADMIN_ROLES = (Role.ADMIN,)


def is_real(user: Any) -> bool:
    return bool(user) and user.is_authenticated and user.is_active


@dataclass(frozen=True)
class Principal:
    """The caller of an API route: a user, possibly narrowed by the API token it presented."""

    user: Any
    # None: everything the user's memberships allow; otherwise only these teams.
    team_ids: frozenset[int] | None = None
    can_write: bool = True
    token: Any = None  # the accounts.models.ApiToken presented, if any

    @classmethod
    def for_token(cls, token: Any) -> Principal:
        return cls(
            user=token.user,
            team_ids=frozenset(token.teams.values_list("pk", flat=True)),
            can_write=token.scope == "write",
            token=token,
        )

    @property
    def is_authenticated(self) -> bool:
        return is_real(self.user)

    @property
    def is_superuser(self) -> bool:
        return self.is_authenticated and self.user.is_superuser


def as_principal(who: Any) -> Principal:
    return who if isinstance(who, Principal) else Principal(user=who)


def caller(request: Any) -> Principal:
    """The principal of a request: the API's `request.auth`, or the session's user."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Principal) else Principal(user=request.user)


def team_ids_for(user: Any, roles: tuple[str, ...] | None = None) -> models.QuerySet:
    """A subquery of the ids of the teams in which `user` holds one of `roles` (any if None)."""
    memberships = user.memberships.all()
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return memberships.values("team_id")


def narrow(
    queryset: models.QuerySet,
    who: Any,
    *,
    team_field: str,
    roles: tuple[str, ...] | None,
    write: bool,
    audit: bool = False,
) -> models.QuerySet:
    """`queryset` cut to the teams in which `who` holds one of `roles` (any if None), and to a
    token's teams; nothing for a read-only token when `write`. Superusers reach every team, and
    so do auditors when `audit` (reading the audit trail)."""
    principal = as_principal(who)
    user = principal.user
    if not is_real(user) or (write and not principal.can_write):
        return queryset.none()
    if not _reaches_every_team(user, audit=audit):
        queryset = queryset.filter(**{f"{team_field}__in": team_ids_for(user, roles)})
    if principal.team_ids is not None:
        queryset = queryset.filter(**{f"{team_field}__in": principal.team_ids})
    return queryset


def _reaches_every_team(user: Any, *, audit: bool) -> bool:
    return user.is_superuser or (audit and user.is_auditor)


class TeamScopedQuerySet(models.QuerySet):
    """For models owned by a team; `team_field` is the lookup path to that team."""

    team_field = "team"

    def _restrict(self, who: Any, roles: tuple[str, ...] | None, *, write: bool):
        return narrow(self, who, team_field=self.team_field, roles=roles, write=write)

    def visible_to(self, who: Any) -> models.QuerySet:
        return self._restrict(who, None, write=False)

    def operable_by(self, who: Any) -> models.QuerySet:
        return self._restrict(who, OPERATE_ROLES, write=True)

    def administrable_by(self, who: Any) -> models.QuerySet:
        return self._restrict(who, ADMIN_ROLES, write=True)


# --- The audit trail ---------------------------------------------------------------------------
# Auditors and superusers read every team's trail (and the events of no team, such as sign-ins);
# team admins read their teams'. The `/audit/` page, its CSV, the API's `audit` routes and the
# navigation all ask here.

AUDIT_REFUSAL = "Only team admins, auditors and superusers read the audit trail."


def audit_readable(queryset: models.QuerySet, who: Any, *, team_field: str) -> models.QuerySet:
    """`queryset` (of audit events, or of teams) cut to the teams whose trail `who` reads."""
    return narrow(queryset, who, team_field=team_field, roles=ADMIN_ROLES, write=False, audit=True)


def may_read_audit(who: Any) -> bool:
    """Whether the audit trail has anything for `who` to read."""
    principal = as_principal(who)
    if not principal.is_authenticated:
        return False
    if _reaches_every_team(principal.user, audit=True):
        return True
    if not isinstance(who, Principal):
        # A page's user: the same rule (an admin role in some team) over the memberships the
        # request has read already (`User.team_memberships`).
        return any(role in ADMIN_ROLES for role in roles_of(who).values())
    return audit_readable(principal.user.memberships.all(), who, team_field="team").exists()


def roles_of(user: Any) -> dict[int, str]:
    """Team id -> role of a signed-in page user, from the memberships read once per request
    (`User.team_memberships`); nothing for anyone else. For what a page shows (buttons, links,
    the MFA policy): objects are found through the querysets above."""
    if not is_real(user):
        return {}
    return {m.team_id: m.role for m in user.team_memberships}


def teams_where(user: Any, roles: tuple[str, ...]) -> frozenset[int] | None:
    """The ids of the teams in which a page user holds one of `roles`; None for a superuser,
    who holds every team (ask the querysets, `operable_by`/`administrable_by`)."""
    if is_real(user) and user.is_superuser:
        return None
    return frozenset(team for team, role in roles_of(user).items() if role in roles)


# What a caller needs to do with an object: `object_for(who, queryset, OPERATE, pk=...)`.
VIEW = "view"
OPERATE = "operate"
ADMINISTER = "administer"
_NEEDS = {
    VIEW: ("visible_to", ""),
    OPERATE: ("operable_by", "Only the team's operators and admins may do this."),
    ADMINISTER: ("administrable_by", "Only the team's admins may do this."),
}


def object_for(who: Any, queryset: models.QuerySet, need: str, **lookup: Any) -> Any:
    """The object of `queryset` matching `lookup` if `who` (a user, or the API's principal)
    may `need` it (VIEW, OPERATE or ADMINISTER): `Http404` when they cannot even see it (other
    teams' objects do not exist), `PermissionDenied` (403) when they see it but their role or a
    read-only token does not allow `need`. Pages, the API and the commands all find objects
    with it."""
    method, refusal = _NEEDS[need]
    # `lookup` names one object (a pk, a unique slug): no ORDER BY. Ordering by the model's
    # default made Django hash every selected column (a job page's select_related is ~100) to
    # match them against the ordering, a tenth of the page's time.
    found = next(iter(queryset.visible_to(who).filter(**lookup).order_by()[:1]), None)
    if found is None:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches.")
    if need != VIEW and not getattr(queryset, method)(who).filter(pk=found.pk).exists():
        raise PermissionDenied(refusal)
    return found
