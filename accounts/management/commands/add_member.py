"""Add a user to a team, or change their role: `manage.py add_member TEAM USER --role admin`."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services
from accounts.access import Role
from accounts.models import Membership, Team, User
from syncportal.errors import DomainError


class Command(BaseCommand):
    help = "Add a user to a team with a role; an existing member gets the new role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="Team slug.")
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.VIEWER)

    def handle(self, *args, team: str, username: str, role: str, **options) -> None:
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team has the slug {team!r}.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is named {username!r}.")
        existing = Membership.objects.filter(team=team_obj, user=user).first()
        try:
            if existing is None:
                services.add_member(team_obj, user, role)
                verb = "Added"
            else:
                services.set_role(existing, role)
                verb = "Updated"
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"{verb}: {user} is {role} of {team_obj}."))
