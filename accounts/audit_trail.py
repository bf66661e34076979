"""Reading the audit trail: filtering and CSV export — shared by the `/audit/` page, its CSV
download and the API's `audit` routes, so the three always agree. Who may read it is
`accounts.access` (`may_read_audit`, `AuditEvent.objects.visible_to`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from accounts.models import AuditEvent

CSV_COLUMNS = (
    "id",
    "created_at",
    "actor",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "team",
    "team_id",
    "ip",
    "user_agent",
    "request_id",
    "details",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): user
# agents, labels and details come from outside, so such cells get a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    """`action` ending in `*` matches by prefix (`job.*`); the time range is [after, before)."""

    actor: str = ""
    team: int | None = None
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None

    def apply(self, events: QuerySet) -> QuerySet:
        if self.actor:
            events = events.filter(actor_label__iexact=self.actor)
        if self.team is not None:
            events = events.filter(team_id=self.team)
        if self.action.endswith("*"):
            events = events.filter(action__startswith=self.action[:-1])
        elif self.action:
            events = events.filter(action=self.action)
        if self.target_type:
            events = events.filter(target_type=self.target_type)
        if self.target_id:
            events = events.filter(target_id=self.target_id)
        if self.created_after is not None:
            events = events.filter(created_at__gte=self.created_after)
        if self.created_before is not None:
            events = events.filter(created_at__lt=self.created_before)
        return events


def events_for(who: Any, filters: Filters) -> QuerySet:
    """The events `who` may read that match `filters`, newest first."""
    events = AuditEvent.objects.visible_to(who).select_related("team")
    return filters.apply(events).order_by("-id")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_lines(events: QuerySet) -> Iterator[str]:
    """The header, then one line per event (times in UTC), read in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _cell(value)
                for value in (
                    event.pk,
                    event.created_at.isoformat(),
                    event.actor_label,
                    event.actor_id,
                    event.action,
                    event.target_type,
                    event.target_id,
                    event.target_label,
                    event.team.name if event.team else "",
                    event.team_id,
                    event.ip,
                    event.user_agent,
                    event.request_id,
                    json.dumps(event.details, sort_keys=True, ensure_ascii=False),
                    event.prev_hash,
                    event.hash,
                )
            ]
        )
