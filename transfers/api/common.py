"""What every section of the transfers API shares: error sets, bounds and the team check."""

from django.http import Http404, HttpRequest

from accounts.access import object_for
from accounts.models import Team
from syncportal.api import errors
from syncportal.errors import Invalid

READ = errors(401, 403, 404)  # 403: e.g. MFA not enrolled
LIST = errors(401, 403, 422)  # 422: a filter or page parameter that does not parse
WRITE = errors(400, 401, 403, 404, 409, 422)  # 400: a body that is not JSON
MAX_INT = 2**31 - 1  # PositiveIntegerField's ceiling on PostgreSQL
NEXT_RUNS = 3
WRITE_ONLY = {"writeOnly": True}
NO_STORE = "no-store"


def team_for(request: HttpRequest, team_id: int, need: str) -> Team:
    """The team named in a request body: unknown to the caller is a 422 on `team_id` (not a
    404: the URL was found), one the caller's role may not `need` a 403."""
    try:
        return object_for(request.auth, Team.objects.all(), need, pk=team_id)
    except Http404:
        raise Invalid("None of your teams has this id.", field="team_id") from None
