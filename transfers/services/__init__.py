"""Business operations of the transfers app: one function per operation.

Each owns its transaction, its audit event and its after-commit side effects (task enqueue,
broadcast). Callers pass objects they have already narrowed with `visible_to`/`operable_by`/
`administrable_by`. Bad input raises `ValidationError` with per-field messages; a request that
does not fit the current state raises `transfers.errors.Conflict`.
"""

from transfers.services.browse import (
    browse_endpoint,
    count_prefix_usage,
    endpoint_buckets,
    prefix_usage_of,
)
from transfers.services.endpoints import (
    create_endpoint,
    delete_endpoint,
    rotate_endpoint_secret,
    test_endpoint,
    update_endpoint,
)
from transfers.services.jobs import (
    approve_job,
    cancel_job,
    continue_job,
    retry_job,
    start_job,
)
from transfers.services.notifications import (
    add_notification,
    delete_notification,
    update_notification,
)
from transfers.services.previews import cancel_preview, start_preview
from transfers.services.profiles import (
    create_profile,
    delete_profile,
    preview_profile,
    update_profile,
)
from transfers.services.schedules import run_scheduled

__all__ = [
    "add_notification",
    "approve_job",
    "browse_endpoint",
    "cancel_job",
    "cancel_preview",
    "continue_job",
    "count_prefix_usage",
    "create_endpoint",
    "create_profile",
    "delete_endpoint",
    "delete_notification",
    "delete_profile",
    "endpoint_buckets",
    "prefix_usage_of",
    "preview_profile",
    "retry_job",
    "rotate_endpoint_secret",
    "run_scheduled",
    "start_job",
    "start_preview",
    "test_endpoint",
    "update_endpoint",
    "update_notification",
    "update_profile",
]
