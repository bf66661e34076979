"""The Celery application: `celery -A syncportal worker` / `celery -A syncportal beat`."""

import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncportal.settings")

app = Celery("syncportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.user_preload_options.connect
def _load_settings_or_exit(**kwargs) -> None:
    """Fail a worker or beat start on bad configuration with one line, not a traceback."""
    from django.conf import settings

    from syncportal.env import ConfigError

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces settings to load
    except ConfigError as exc:
        sys.stderr.write(f"syncportal: configuration error: {exc}\n")
        raise SystemExit(2) from None


@signals.worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    from syncportal.metrics import start_worker_heartbeat

    start_worker_heartbeat(sender.hostname)


@signals.worker_shutdown.connect
def _stop_heartbeat(sender=None, **kwargs) -> None:
    from syncportal.metrics import stop_worker_heartbeat

    stop_worker_heartbeat()
