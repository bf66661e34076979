"""Create a team: `manage.py create_team "Data Platform" [--slug data-platform]`."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services
from syncportal.errors import DomainError


class Command(BaseCommand):
    help = "Create a team (recorded in the audit trail as done by the system)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--slug", default="", help="URL name; derived from the name if empty.")

    def handle(self, *args, name: str, slug: str, **options) -> None:
        try:
            team = services.create_team(name=name, slug=slug)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"Created team {team.name!r} (slug {team.slug})."))
