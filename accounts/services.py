"""Business operations on teams, memberships and API tokens.

Each function owns its transaction and its audit event; pages, API routes and management
commands call these and nothing else changes these rows. Access checks (may this caller
manage this team?) happen before, in the caller, through the access querysets.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import audit
from accounts.access import Role
from accounts.models import ApiToken, Membership, Team, User
from syncportal.errors import Conflict, Invalid

TOKEN_PREFIX = "spt_"  # noqa: S105 - a public marker that makes leaked tokens greppable
# A token's last-used time is written at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


# --- Teams and memberships --------------------------------------------------------------------


def create_team(*, name: str, slug: str = "", actor: Any = None, request: Any = None) -> Team:
    name = name.strip()
    slug = slugify(slug or name)[:50]
    if not name:
        raise Invalid("A team needs a name.", field="name")
    if not slug:
        raise Invalid("The slug must contain letters or digits.", field="slug")
    if Team.objects.filter(name__iexact=name).exists():
        raise Conflict(f"A team named {name!r} already exists.")
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team with the slug {slug!r} already exists.")
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name, slug=slug)
            audit.record(
                "team.created",
                actor=actor,
                target=team,
                team=team,
                details={"slug": slug},
                request=request,
            )
    except IntegrityError:  # a concurrent create won the race
        raise Conflict(f"A team named {name!r} already exists.") from None
    return team


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}; use viewer, operator or admin.", field="role")


def add_member(
    team: Team,
    user: User,
    role: str,
    *,
    actor: Any = None,
    source: str = Membership.Source.MANUAL,
    request: Any = None,
) -> Membership:
    _check_role(role)
    if not user.is_active:
        raise Invalid(f"{user} is deactivated.", field="user")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(team=team, user=user, role=role, source=source)
            audit.record(
                "member.added",
                actor=actor,
                target=user,
                team=team,
                details={"role": role, "source": source},
                request=request,
            )
    except IntegrityError:
        raise Conflict(f"{user} is already a member of {team}.") from None
    return membership


def _other_admins(membership: Membership) -> bool:
    return (
        Membership.objects.filter(team_id=membership.team_id, role=Role.ADMIN)
        .exclude(pk=membership.pk)
        .exists()
    )


def set_role(
    membership: Membership, role: str, *, actor: Any = None, request: Any = None
) -> Membership:
    _check_role(role)
    if membership.role == role:
        return membership
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Role.ADMIN and not _other_admins(membership):
            raise Conflict(f"{membership.user} is the last admin of {membership.team}.")
        previous = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            "member.role_changed",
            actor=actor,
            target=membership.user,
            team=membership.team,
            details={"from": previous, "to": role},
            request=request,
        )
    return membership


def remove_member(
    membership: Membership, *, actor: Any = None, request: Any = None, allow_last_admin=False
) -> None:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Role.ADMIN and not allow_last_admin and not _other_admins(membership):
            raise Conflict(f"{membership.user} is the last admin of {membership.team}.")
        membership.delete()
        audit.record(
            "member.removed",
            actor=actor,
            target=membership.user,
            team=membership.team,
            details={"role": membership.role, "source": membership.source},
            request=request,
        )


def sync_sso_memberships(user: User, groups: Iterable[str], *, request: Any = None) -> None:
    """Apply OIDC_GROUP_MAP to the groups claim of a sign-in.

    Mapped groups grant their team and role (the highest wins when several map to one team);
    memberships that an earlier sign-in granted and that the claim no longer backs are removed.
    Memberships added by an admin are never touched.
    """
    mapping = settings.OIDC_GROUP_MAP
    if not mapping:
        return
    rank = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
    wanted: dict[str, str] = {}
    for group in groups:
        if group in mapping:
            slug, role = mapping[group]
            if slug not in wanted or rank[role] > rank[wanted[slug]]:
                wanted[slug] = role
    teams = {team.slug: team for team in Team.objects.filter(slug__in=wanted)}
    current = {m.team.slug: m for m in user.memberships.select_related("team")}
    for slug, role in wanted.items():
        if slug not in teams:
            continue  # mapped to a team that does not exist (yet): nothing to grant
        membership = current.get(slug)
        if membership is None:
            add_member(teams[slug], user, role, source=Membership.Source.SSO, request=request)
        elif membership.source == Membership.Source.SSO and membership.role != role:
            with contextlib.suppress(Conflict):  # keep the team's last admin until replaced
                set_role(membership, role, request=request)
    for slug, membership in current.items():
        if membership.source == Membership.Source.SSO and slug not in wanted:
            remove_member(membership, request=request, allow_last_admin=True)


# --- People -----------------------------------------------------------------------------------

# What `update_user` changes; activation and passwords have their own operations.
USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_superuser",
    "is_auditor",
)
# Losing one of these ends the user's live sockets, which were authorised with it.
PRIVILEGES = ("is_staff", "is_superuser", "is_auditor")


def _lock_superusers() -> None:
    """Serialise changes that could leave no active superuser (two demotions at once)."""
    list(User.objects.select_for_update().filter(is_superuser=True, is_active=True).values("pk"))


def _refuse_last_superuser(user: User) -> None:
    others = User.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk)
    if not others.exists():
        raise Conflict(f"{user} is the last active superuser; make someone else one first.")


def _check_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(" ".join(exc.messages), field="password") from None


def _end_sockets_after_commit(user: User) -> None:
    from accounts.realtime import end_user_sockets

    user_id = user.pk
    transaction.on_commit(lambda: end_user_sockets(user_id))


def create_user(
    username: str,
    *,
    email: str = "",
    password: str | None = None,
    actor: Any = None,
    request: Any = None,
) -> User:
    """A local account; without a password it can only sign in through single sign-on."""
    username = (username or "").strip()
    if not username:
        raise Invalid("Enter a username.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"A user named {username!r} already exists.")
    user = User(username=username, email=(email or "").strip())
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
            audit.record(
                "user.created",
                actor=actor,
                target=user,
                details={"email": user.email, "usable_password": bool(password)},
                request=request,
            )
    except IntegrityError:
        raise Conflict(f"A user named {username!r} already exists.") from None
    return user


def update_user(user: User, *, actor: Any = None, request: Any = None, **changes: Any) -> User:
    """Change names, email and privileges; the audit event has each change's before and after."""
    unknown = sorted(set(changes) - set(USER_FIELDS))
    if unknown:
        raise Invalid(f"{', '.join(unknown)} cannot be changed here.", field=unknown[0])
    with transaction.atomic():
        _lock_superusers()
        user = User.objects.select_for_update().get(pk=user.pk)
        diff = {
            field: {"from": getattr(user, field), "to": value}
            for field, value in changes.items()
            if getattr(user, field) != value
        }
        if not diff:
            return user
        if "is_superuser" in diff and not changes["is_superuser"] and user.is_active:
            _refuse_last_superuser(user)
        if changes.get("email"):
            try:
                validate_email(changes["email"])
            except ValidationError:
                raise Invalid("Enter a valid email address.", field="email") from None
        if "username" in diff and (
            User.objects.filter(username__iexact=changes["username"]).exclude(pk=user.pk).exists()
        ):
            raise Conflict(f"A user named {changes['username']!r} already exists.")
        for field in diff:
            setattr(user, field, changes[field])
        user.save(update_fields=list(diff))
        audit.record("user.updated", actor=actor, target=user, details=diff, request=request)
        if any(field in diff and not changes[field] for field in PRIVILEGES):
            _end_sockets_after_commit(user)
    return user


def deactivate_user(user: User, *, actor: Any = None, request: Any = None) -> User:
    """The user can no longer sign in; their sessions, tokens and live sockets stop working."""
    with transaction.atomic():
        _lock_superusers()
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.is_active:
            return user
        if user.is_superuser:
            _refuse_last_superuser(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit.record("user.deactivated", actor=actor, target=user, request=request)
        _end_sockets_after_commit(user)
    return user


def reactivate_user(user: User, *, actor: Any = None, request: Any = None) -> User:
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active:
            return user
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit.record("user.reactivated", actor=actor, target=user, request=request)
    return user


def set_password(
    user: User, password: str | None, *, actor: Any = None, request: Any = None
) -> User:
    """Set a new password, or none (`None`: single sign-on only). Sessions that the old password
    signed in end at their next request (Django checks the password hash they were made with)."""
    if password:
        _check_password(password, user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(update_fields=["password"])
        audit.record(
            "user.password_set",
            actor=actor,
            target=user,
            details={"usable_password": bool(password)},
            request=request,
        )
    return user


def remove_authenticator(authenticator: Any, *, actor: Any = None, request: Any = None) -> None:
    """Take away one of a user's second factors (say, a lost phone), and the recovery codes
    with the last one, as allauth does when people remove their own."""
    from allauth.mfa.models import Authenticator

    codes = Authenticator.Type.RECOVERY_CODES
    with transaction.atomic():
        user = authenticator.user
        kind = authenticator.type
        authenticator.delete()
        if not Authenticator.objects.filter(user=user).exclude(type=codes).exists():
            Authenticator.objects.filter(user=user, type=codes).delete()
        audit.record(
            "mfa.removed", actor=actor, target=user, details={"type": kind}, request=request
        )


# --- API tokens -------------------------------------------------------------------------------


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bindable_teams(user: User):
    """Teams a token of `user` may be bound to: their teams (all teams for superusers/auditors)."""
    if user.is_superuser or user.is_auditor:
        return Team.objects.all()
    return Team.objects.visible_to(user)


def create_api_token(
    user: User,
    *,
    name: str,
    scope: str,
    teams: Iterable[Team],
    expires_in_days: int,
    actor: Any = None,
    request: Any = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its secret, which is never stored and shown only now."""
    name = name.strip()
    if not name:
        raise Invalid("Give the token a name.", field="name")
    if scope not in ApiToken.Scope.values:
        raise Invalid("The scope must be read or write.", field="scope")
    if not 1 <= expires_in_days <= settings.API_TOKEN_MAX_DAYS:
        raise Invalid(
            f"The lifetime must be between 1 and {settings.API_TOKEN_MAX_DAYS} days.",
            field="expires_in_days",
        )
    team_ids = {team.pk for team in teams}
    if not team_ids:
        raise Invalid("Bind the token to at least one team.", field="teams")
    allowed = set(bindable_teams(user).filter(pk__in=team_ids).values_list("pk", flat=True))
    if allowed != team_ids:
        raise Invalid("A token can only be bound to your own teams.", field="teams")

    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:12],
            digest=token_digest(secret),
            scope=scope,
            expires_at=timezone.now() + timedelta(days=expires_in_days),
        )
        token.teams.set(team_ids)
        audit.record(
            "token.created",
            actor=actor or user,
            target=token,
            details={
                "owner": user.get_username(),
                "scope": scope,
                "teams": sorted(team_ids),
                "expires_at": token.expires_at.isoformat(),
            },
            request=request,
        )
    return token, secret


def revoke_api_token(token: ApiToken, *, actor: Any = None, request: Any = None) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token.refresh_from_db()
        if updated:
            audit.record(
                "token.revoked",
                actor=actor,
                target=token,
                details={"owner": token.user.get_username()},
                request=request,
            )
    return token


def use_api_token(secret: str) -> ApiToken | None:
    """The usable token with this secret, its last-used time refreshed; None if there is none."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = ApiToken.objects.usable().select_related("user").filter(digest=token_digest(secret))
    token = token.first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
