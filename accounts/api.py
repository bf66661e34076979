"""The `teams` API: teams the caller can see, their members and roles."""

from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from accounts import services
from accounts.access import ADMINISTER, VIEW, Principal, Role, object_for
from accounts.models import Membership, Team, User
from syncportal.api import errors
from syncportal.errors import Forbidden, Invalid

router = Router(tags=["teams"])

READ = errors(401, 403, 404)
LIST = errors(401, 403, 422)
WRITE = errors(400, 401, 403, 404, 409, 422)


class TeamOut(Schema):
    id: int
    name: str
    slug: str
    created_at: datetime
    my_role: str | None = Field(None, description="The caller's role; null for superusers.")


class TeamIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    slug: str = Field("", max_length=50, description="Derived from the name when empty.")


class MemberOut(Schema):
    user_id: int
    username: str
    role: Role
    source: Membership.Source
    created_at: datetime

    @staticmethod
    def resolve_username(membership: Membership) -> str:
        return membership.user.get_username()


class MemberIn(Schema):
    username: str = Field(..., min_length=1, max_length=150)
    role: Role = Role.VIEWER


class RoleIn(Schema):
    role: Role


def _teams(principal: Principal):
    mine = Membership.objects.filter(team=OuterRef("pk"), user_id=principal.user.pk)
    return Team.objects.visible_to(principal).annotate(my_role=Subquery(mine.values("role")[:1]))


@router.get("", response={200: list[TeamOut], **LIST}, summary="List the teams you can see")
@paginate
def list_teams(request: HttpRequest):
    return _teams(request.auth)


@router.post("", response={201: TeamOut, **WRITE}, summary="Create a team (superusers)")
def create_team(request: HttpRequest, payload: TeamIn):
    if not request.auth.is_superuser:
        raise Forbidden("Only superusers create teams.")
    team = services.create_team(
        name=payload.name, slug=payload.slug, actor=request.auth.user, request=request
    )
    return Status(201, team)


@router.get("/{int:team_id}", response={200: TeamOut, **READ}, summary="One team")
def get_team(request: HttpRequest, team_id: int):
    return get_object_or_404(_teams(request.auth), pk=team_id)


@router.get(
    "/{int:team_id}/members",
    response={200: list[MemberOut], **READ, **LIST},
    summary="The team's members",
)
@paginate
def list_members(request: HttpRequest, team_id: int):
    team = object_for(request.auth, Team.objects.all(), VIEW, pk=team_id)
    return team.memberships.select_related("user").order_by("user__username")


@router.post(
    "/{int:team_id}/members",
    response={201: MemberOut, **WRITE},
    summary="Add a member (team admins)",
)
def add_member(request: HttpRequest, team_id: int, payload: MemberIn):
    team = object_for(request.auth, Team.objects.all(), ADMINISTER, pk=team_id)
    user = User.objects.filter(username=payload.username, is_active=True).first()
    if user is None:
        raise Invalid(f"No active user is named {payload.username!r}.", field="username")
    membership = services.add_member(
        team, user, payload.role, actor=request.auth.user, request=request
    )
    return Status(201, membership)


def _membership(request: HttpRequest, team_id: int, user_id: int) -> Membership:
    """A member of a team the caller administers (404 outside their teams, 403 otherwise)."""
    team = object_for(request.auth, Team.objects.all(), ADMINISTER, pk=team_id)
    return get_object_or_404(team.memberships.select_related("user", "team"), user_id=user_id)


@router.patch(
    "/{int:team_id}/members/{int:user_id}",
    response={200: MemberOut, **WRITE},
    summary="Change a member's role (team admins)",
)
def set_role(request: HttpRequest, team_id: int, user_id: int, payload: RoleIn):
    membership = _membership(request, team_id, user_id)
    return services.set_role(membership, payload.role, actor=request.auth.user, request=request)


@router.delete(
    "/{int:team_id}/members/{int:user_id}",
    response={204: None, **WRITE},
    summary="Remove a member (team admins)",
)
def remove_member(request: HttpRequest, team_id: int, user_id: int):
    membership = _membership(request, team_id, user_id)
    services.remove_member(membership, actor=request.auth.user, request=request)
    return Status(204, None)
