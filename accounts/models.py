from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from accounts.access import Role, TeamScopedQuerySet


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


class MembershipQuerySet(TeamScopedQuerySet):
    pass


class Membership(models.Model):
    """A user's role in one team: viewer reads, operator runs, admin also manages."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
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


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, user) -> models.QuerySet:
        """Auditors and superusers read every team's trail; team admins read their teams'."""
        from accounts.access import ADMIN_ROLES, _is_real, team_ids_for

        if not _is_real(user):
            return self.none()
        if user.is_superuser or user.is_auditor:
            return self
        return self.filter(team_id__in=team_ids_for(user, ADMIN_ROLES))


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
