"""A long job history generated straight into PostgreSQL (one INSERT ... SELECT over
generate_series), for measuring the job routes with a million jobs stored: going through the
ORM would take most of an hour for what the database writes in seconds.

The rows look like years of scheduled runs: spread evenly over `days` up to now (ids grow with
`created_at`, as they do in real history), round-robin over the given profiles, 80 % succeeded,
10 % partial, 10 % failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

INSERT = """
INSERT INTO transfers_job (
    team_id, profile_id, profile_name, options, state, trigger, idempotency_key, plan,
    objects_total, bytes_total, objects_done, bytes_done, objects_skipped, objects_failed,
    objects_deleted, throughput_bps, created_at, started_at, finished_at, command, error,
    lease_owner, attempts, prediction_basis
)
SELECT
    %(team)s,
    (%(profiles)s::bigint[])[1 + g %% %(profile_count)s],
    %(names)s::text[],
    '{"mode": "copy", "verify_after": true}'::jsonb,
    CASE WHEN g %% 10 = 3 THEN 'failed' WHEN g %% 10 = 7 THEN 'partial' ELSE 'succeeded' END,
    'schedule', '',
    jsonb_build_object(
        'route', 'server-side copy', 'mode', 'copy', 'objects_to_copy', o,
        'bytes_to_copy', o * 65536, 'objects_to_delete', 0, 'objects_unchanged', 0,
        'objects_rejected', 0, 'sample_to_copy', '[]'::jsonb, 'sample_to_delete', '[]'::jsonb,
        'sample_rejected', '[]'::jsonb
    ),
    o, o * 65536, o, o * 65536, 0, 0, 0,
    1000000 + (g * 7919) %% 999000000,
    t, t, t + make_interval(secs => 1 + g %% 3600),
    's5cmd --json run', '', '', 1, ''
FROM generate_series(1::bigint, %(count)s::bigint) AS g,
     LATERAL (SELECT 1 + (g * 48271) %% 100000 AS o,
                     %(start)s::timestamptz + (g - 1) * %(step)s::interval AS t) AS x
"""


def generate_jobs(
    cursor, *, team_id: int, profiles: list[tuple[int, str]], count: int, end: datetime, days: int
) -> None:
    """Insert `count` finished jobs of `team_id`, the newest at `end`, then VACUUM ANALYZE (as
    autovacuum would have long since done to old rows: hint bits set, visibility map up to
    date, statistics fresh)."""
    step = timedelta(days=days) / count
    sql = INSERT.replace("%(names)s::text[]", "(%(names)s::text[])[1 + g %% %(profile_count)s]")
    cursor.execute(
        sql,
        {
            "team": team_id,
            "profiles": [pk for pk, _ in profiles],
            "names": [name for _, name in profiles],
            "profile_count": len(profiles),
            "count": count,
            "start": end - step * count,
            "step": step,
        },
    )
    cursor.execute("VACUUM ANALYZE transfers_job")
