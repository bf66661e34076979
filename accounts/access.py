"""Who may see and do what, in one place.

Every page, API route, consumer and task entry point narrows its querysets with these methods;
an object outside the caller's teams is simply not found (404), never "forbidden".

- ``visible_to(user)``: any role in the owning team (viewer, operator, admin).
- ``operable_by(user)``: operator or admin (run, cancel, retry, edit profiles).
- ``administrable_by(user)``: admin (members, endpoints, credentials).

Superusers pass every check. Inactive and anonymous users pass none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from accounts.models import User


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Team admin"


OPERATE_ROLES = (Role.OPERATOR, Role.ADMIN)
ADMIN_ROLES = (Role.ADMIN,)


def _is_real(user: Any) -> bool:
    return bool(user) and user.is_authenticated and user.is_active


def team_ids_for(user: Any, roles: tuple[str, ...] | None = None) -> models.QuerySet:
    """A subquery of the ids of the teams in which `user` holds one of `roles` (any if None)."""
    from accounts.models import Membership

    memberships = Membership.objects.filter(user_id=user.pk)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return memberships.values("team_id")


class TeamScopedQuerySet(models.QuerySet):
    """For models owned by a team; `team_field` is the lookup path to that team."""

    team_field = "team"

    def _restrict(self, user: User | Any, roles: tuple[str, ...] | None) -> models.QuerySet:
        if not _is_real(user):
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(**{f"{self.team_field}__in": team_ids_for(user, roles)})

    def visible_to(self, user: User | Any) -> models.QuerySet:
        return self._restrict(user, None)

    def operable_by(self, user: User | Any) -> models.QuerySet:
        return self._restrict(user, OPERATE_ROLES)

    def administrable_by(self, user: User | Any) -> models.QuerySet:
        return self._restrict(user, ADMIN_ROLES)
