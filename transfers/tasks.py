"""Celery tasks of the transfers app: thin wrappers that take ids and call services."""

from celery import shared_task


@shared_task(name="syncportal.ping")
def ping(payload: str = "pong") -> str:
    """Round-trips through the broker and a worker; used by health checks and tests."""
    return payload
