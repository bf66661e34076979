"""The names of the local demo (`manage.py seed_demo`, `make run`), in one Django-free place so the
launcher can print them without loading Django."""

DEMO_USERNAME = "admin"
DEMO_TEAM_NAME = "Demo team"
DEMO_PROFILE_NAME = "Demo: source to archive"
# The sandbox server accepts any key; these only name the demo endpoint's credentials.
DEMO_ACCESS_KEY = "demo"
DEMO_SECRET_KEY = "demo-sandbox-secret"  # noqa: S105
SOURCE_BUCKET = "demo-source"
ARCHIVE_BUCKET = "demo-archive"
