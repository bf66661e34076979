"""The transfer pages: dashboard, endpoints, profiles and jobs. Views stay thin: a form checks
the input, the access querysets find the object (404 outside the caller's teams, 403 for a
role that may not act), a service does the work, and the page says what happened."""

from transfers.views.browse import endpoint_browse, endpoint_usage
from transfers.views.dashboard import dashboard
from transfers.views.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_detail,
    endpoint_edit,
    endpoint_list,
    endpoint_rotate,
    endpoint_test,
)
from transfers.views.jobs import (
    job_approve,
    job_cancel,
    job_continue,
    job_detail,
    job_failures_csv,
    job_list,
    job_manifest,
    job_retry,
    job_shards,
)
from transfers.views.notifications import (
    notification_add,
    notification_delete,
    notification_enabled,
    profile_deliveries,
)
from transfers.views.profiles import (
    preview_cancel,
    preview_detail,
    profile_create,
    profile_delete,
    profile_detail,
    profile_edit,
    profile_list,
    profile_preview,
    profile_run,
    profile_schedule,
)

__all__ = [
    "dashboard",
    "endpoint_browse",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_detail",
    "endpoint_edit",
    "endpoint_list",
    "endpoint_rotate",
    "endpoint_test",
    "endpoint_usage",
    "job_approve",
    "job_cancel",
    "job_continue",
    "job_detail",
    "job_failures_csv",
    "job_list",
    "job_manifest",
    "job_retry",
    "job_shards",
    "notification_add",
    "notification_delete",
    "notification_enabled",
    "preview_cancel",
    "preview_detail",
    "profile_create",
    "profile_delete",
    "profile_deliveries",
    "profile_detail",
    "profile_edit",
    "profile_list",
    "profile_preview",
    "profile_run",
    "profile_schedule",
]
