"""Create a personal API token and print it once: `manage.py create_api_token USER --team SLUG`."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services
from accounts.models import ApiToken, Team, User
from syncportal.errors import DomainError


class Command(BaseCommand):
    help = "Create a personal API token; the token is printed once and only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--team", action="append", required=True, help="Team slug (repeat for several)."
        )
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--name", default="command line")
        parser.add_argument(
            "--days", type=int, default=90, help=f"Lifetime, 1..{settings.API_TOKEN_MAX_DAYS}."
        )

    def handle(self, *args, username, team, scope, name, days, **options) -> None:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user is named {username!r}.")
        teams = list(Team.objects.filter(slug__in=team))
        missing = set(team) - {t.slug for t in teams}
        if missing:
            raise CommandError(f"Unknown team(s): {', '.join(sorted(missing))}.")
        try:
            token, secret = services.create_api_token(
                user, name=name, scope=scope, teams=teams, expires_in_days=days
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Token {token.prefix}… for {user} ({scope}, expires {token.expires_at:%Y-%m-%d}). "
            "Store it now; it cannot be shown again:"
        )
        self.stdout.write(secret)
