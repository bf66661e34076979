from __future__ import annotations

import json

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.access import Role, TeamScopedQuerySet, audit_readable, may_read_audit


class User(AbstractUser):
    """A person who signs in, locally or through single sign-on."""

    is_auditor = models.BooleanField(
        "auditor",
        default=False,
        help_text="Read-only access to the audit trail of every team.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def __str__(self) -> str:
        return self.get_username()

    @cached_property
    def team_memberships(self) -> list[Membership]:
        """The user's memberships with their teams, by team name, read once per user object.

        A page's user is loaded afresh for each request (the session's), so this is what the
        request's role checks share: the MFA policy, the Audit link, which buttons to show
        (`TeamRights`), the dashboard's list of teams; one query instead of one each. Access to
        objects is not decided from it: the querysets read the memberships themselves
        (`accounts.access.narrow`), as does the API, whose token callers are kept longer."""
        if self.pk is None:
            return []
        return list(self.memberships.select_related("team").order_by("team__name", "pk"))

    @cached_property
    def may_read_audit(self) -> bool:
        """Whether the audit trail (`/audit/`) has anything for this user to read."""
        return may_read_audit(self)


class TeamQuerySet(TeamScopedQuerySet):
    team_field = "pk"


class Team(models.Model):
    """A group of people that owns endpoints, profiles and jobs; the unit of access."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="team_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team_detail", args=[self.slug])


class MembershipQuerySet(TeamScopedQuerySet):
    pass


class Membership(models.Model):
    """A user's role in one team: viewer reads, operator runs, admin also manages."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Added by an admin"
        SSO = "sso", "From the single sign-on groups claim"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # SSO-sourced memberships follow the groups claim at each sign-in; manual ones are kept.
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.team}"


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> models.QuerySet:
        """Not revoked, not expired, owned by an active user."""
        return self.filter(
            revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
        )


class ApiToken(models.Model):
    """A personal access token: only its SHA-256 is stored; bound to teams and a scope."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    teams = models.ManyToManyField(Team, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "write"]), name="apitoken_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, who) -> models.QuerySet:
        """The events `who` (a user or an API principal) may read: see `accounts.access`."""
        return audit_readable(self, who, team_field="team_id")


class AuditEvent(models.Model):
    """One security- or data-relevant action, append-only and HMAC-chained to the one before."""

    created_at = models.DateTimeField(db_index=True)
    # No database-level foreign keys: the trail must outlive the users and teams it names,
    # and deleting them must never touch (UPDATE) an audit row.
    actor = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["team", "-id"]), models.Index(fields=["actor", "-id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action}"

    @property
    def details_json(self) -> str:
        return json.dumps(self.details, indent=2, sort_keys=True, ensure_ascii=False)
