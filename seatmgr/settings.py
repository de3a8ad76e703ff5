"""seatmgr settings, read from the environment.

They fail closed: with no environment at all DEBUG is off, and the settings
refuse to load until production's requirements are met (SECRET_KEY, a shared
cache in REDIS_URL, FIELD_ENCRYPTION_KEY, an SMTP server in EMAIL_HOST; see
docker-compose.yml). The embedded default (`./scripts/run`) sets DEBUG=1,
DEV_MAILBOX=1 and a SECRET_KEY of its own: SQLite, Celery tasks executed
in-process, a cache in files that its processes share, email stored in the
database and readable at /_dev/mail/.
"""

import base64
import hashlib
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from cryptography.fernet import Fernet, MultiFernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


DEBUG = env_bool("DEBUG", False)
# No default, not even for development: a key in the repository signs anyone's sessions.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set (./scripts/run and ./scripts/test set one of their own)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
VENDOR_NAME = os.environ.get("VENDOR_NAME", "Opero")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "csp",
    "accounts",
    "audit",
    "outbox",
    "devmail",
    "subscriptions",
    "licensing",
    "agreements",
    "billing",
    "portal",
    "backoffice",
]

MIDDLEWARE = [
    # First: every line logged while serving a request, and every task it queues, carry its id.
    "observability.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "seatmgr.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "seatmgr.urls"
WSGI_APPLICATION = "seatmgr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["django.templatetags.static", "billing.templatetags.money"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "seatmgr.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Persistent connections are checked before each request or task reuses one, so a
    # connection PostgreSQL dropped (a restart, a failover, pg_terminate_backend) costs
    # a reconnect, not the next request's 500.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "seatmgr.sqlite3")),
            # Concurrent requests (and run_periodic_tasks beside the web server) wait for
            # each other instead of failing with "database is locked": a transaction takes
            # the write lock when it begins (a read lock upgraded later cannot wait), the
            # others wait up to `timeout` seconds, and WAL lets reads go on meanwhile.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "seatmgr"),
        }
    }
elif not DEBUG:
    # A cache per process would keep answering from what it saw last: a revoked API key
    # or a removed licence would go on working in every other gunicorn worker, and each
    # worker would count rate limits on its own.
    raise ImproperlyConfigured("REDIS_URL must be set when DEBUG is off: every process must share one cache.")
else:
    # The embedded default runs two processes (the web server and run_periodic_tasks):
    # they share the licence checks' generation (subscriptions/hot_cache.py) and the
    # rate limits through files.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ.get("CACHE_DIR", str(BASE_DIR / "var" / "cache")),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run in-process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Queues by urgency, so that a burst of one kind never waits in front of another:
# "urgent" for what a customer is waiting for (payments and their outcome, refunds, the
# seat count's push to the connected org), "email" for emails, "batch" for periodic
# sweeps and the Stripe bookkeeping nobody waits for. Code names the kind, never a
# queue. CELERY_QUEUE_PREFIX keeps runs that share one Redis (benchmarks, parallel test
# runs) apart. A worker started without -Q consumes all three; production runs one for
# "urgent" and one for "email,batch" (docker-compose.yml).
CELERY_QUEUE_PREFIX = os.environ.get("CELERY_QUEUE_PREFIX", "")
CELERY_QUEUES_BY_KIND = {kind: f"{CELERY_QUEUE_PREFIX}{kind}" for kind in ("urgent", "email", "batch")}
CELERY_TASK_QUEUES = {queue: {"routing_key": queue} for queue in CELERY_QUEUES_BY_KIND.values()}
# A task missing from the routes below still reaches a worker.
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUES_BY_KIND["batch"]
CELERY_TASK_ROUTES = {
    name: {"queue": CELERY_QUEUES_BY_KIND[kind]}
    for kind, names in {
        # Outbox messages are published to the queue of their own kind (a charge or a
        # refund: urgent; an email: email; Stripe bookkeeping: batch); this route is
        # only the fallback.
        "urgent": [
            "outbox.tasks.run_message",
            "licensing.tasks.deliver_seat_sync",
        ],
        "email": [
            "subscriptions.tasks.send_retrieved_links",
        ],
        "batch": [
            "outbox.tasks.dispatch_due",
            "outbox.tasks.prune_done_messages",
            "billing.tasks.reconcile_payments",
            "licensing.tasks.requeue_seat_syncs",
            "licensing.tasks.apply_live_seat_changes",
            "subscriptions.tasks.roll_subscription_periods",
            "subscriptions.tasks.expire_seat_change_quotes",
            "backoffice.tasks.apply_scheduled_decreases",
            "backoffice.tasks.send_approval_digests",
            "subscriptions.tasks.retry_cache_invalidations",
        ],
    }.items()
    for name in names
}
# Outbox messages of these kinds run in the process that committed them, right after
# the commit, instead of going to a worker (as every kind does where tasks run
# in-process); the dispatcher still retries them.
OUTBOX_IN_PROCESS_KINDS = env_list("OUTBOX_IN_PROCESS_KINDS", "")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TIMEZONE = "UTC"
# Keep workers' database connections across tasks (Celery's Django fixup otherwise
# closes them after every task); stale or broken ones are still dropped before each
# task (seatmgr/celery.py).
CELERY_DB_REUSE_MAX = 200
CELERY_BEAT_SCHEDULE = {
    # Side effects whose message was lost, or that wait for a retry (outbox/services.py).
    "dispatch-outbox": {
        "task": "outbox.tasks.dispatch_due",
        "schedule": 5.0,
    },
    # Pushes whose task was lost (a Redis restart, a killed worker) are requeued once
    # REQUEUE_GRACE (30 s) overdue, within 10 s more: back within 40 s (BENCHMARKS.md).
    "requeue-seat-syncs": {
        "task": "licensing.tasks.requeue_seat_syncs",
        "schedule": 10.0,
    },
    # A seat change whose count reached the org is applied (and its admin told) even if
    # the process that recorded the delivery stopped before applying it.
    "apply-live-seat-changes": {
        "task": "licensing.tasks.apply_live_seat_changes",
        "schedule": 60.0,
    },
    # Periods renew (or, when cancelled at period end, end) within a minute of their end.
    "roll-subscription-periods": {
        "task": "subscriptions.tasks.roll_subscription_periods",
        "schedule": 60.0,
    },
    # Licence-check cache invalidations that could not reach Redis: the cache is
    # bypassed for their organizations until one of these runs gets them through.
    "retry-cache-invalidations": {
        "task": "subscriptions.tasks.retry_cache_invalidations",
        "schedule": 10.0,
    },
    "expire-seat-change-quotes": {
        "task": "subscriptions.tasks.expire_seat_change_quotes",
        "schedule": 300.0,
    },
    # Payments whose outcome never reached us (a lost webhook, a crash mid-call).
    "reconcile-payments": {
        "task": "billing.tasks.reconcile_payments",
        "schedule": 120.0,
    },
    # Approved decreases take effect within a minute of their period end.
    "apply-scheduled-decreases": {
        "task": "backoffice.tasks.apply_scheduled_decreases",
        "schedule": 60.0,
    },
    "approval-digests": {
        "task": "backoffice.tasks.send_approval_digests",
        "schedule": crontab(hour=7, minute=0),
    },
    # Outbox messages done a month ago are deleted (outbox.services.KEEP_DONE).
    "prune-outbox": {
        "task": "outbox.tasks.prune_done_messages",
        "schedule": crontab(hour=3, minute=30),
    },
}

# Secrets stored in the database (connected-org credentials) are encrypted with this
# Fernet key (comma-separate several to rotate; the first encrypts). Production must
# set it: a key derived from SECRET_KEY would change with SECRET_KEY's rotation, and
# whoever learns SECRET_KEY would read every stored secret. Development derives one so
# that a SECRET_KEY is all it needs.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
if not FIELD_ENCRYPTION_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be set when DEBUG is off "
            "(a Fernet key: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        )
    FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(("field-encryption:" + SECRET_KEY).encode()).digest()
    ).decode()
try:
    # Refuse a key Fernet cannot use now, not at the first connector secret it would encrypt.
    MultiFernet([Fernet(key.strip()) for key in FIELD_ENCRYPTION_KEY.split(",") if key.strip()])
except ValueError as error:
    raise ImproperlyConfigured(
        f"FIELD_ENCRYPTION_KEY is not a list of Fernet keys (32 url-safe base64-encoded bytes): {error}"
    ) from None
# Certificate authorities for Salesforce's TLS (empty: the system's). Tests set it to
# their local Salesforce stand-in's certificate.
SALESFORCE_CA_BUNDLE = os.environ.get("SALESFORCE_CA_BUNDLE", "")
# Connected orgs on this machine (http://localhost, 127.0.0.1, ::1) are refused unless this is
# on: for development and tests only. Private, link-local and metadata addresses are always refused.
CONNECTED_ORG_ALLOW_LOOPBACK = env_bool("CONNECTED_ORG_ALLOW_LOOPBACK", False)
if CONNECTED_ORG_ALLOW_LOOPBACK and not DEBUG:
    raise ImproperlyConfigured("CONNECTED_ORG_ALLOW_LOOPBACK cannot be on when DEBUG is off.")

# --- Stripe -----------------------------------------------------------------
# Production talks to api.stripe.com (STRIPE_API_BASE unset) and pages load Stripe.js
# from js.stripe.com: card numbers go from Stripe's own script straight to Stripe,
# never through this app (PCI DSS SAQ A). Development and tests talk to the strict
# Stripe stand-in (stripe_standin/, in front of localstripe): scripts/run and the test
# session start one and set STRIPE_API_BASE to it, and Stripe.js then comes from it at
# <STRIPE_API_BASE>/js.stripe.com/v3/. Nothing else changes with STRIPE_API_BASE.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "").rstrip("/")
STRIPE_JS_URL = os.environ.get(
    "STRIPE_JS_URL",
    f"{STRIPE_API_BASE}/js.stripe.com/v3/" if STRIPE_API_BASE else "https://js.stripe.com/v3/",
)
# Webhooks signed longer ago than this (seconds) are refused as replays.
STRIPE_WEBHOOK_TOLERANCE = 300

# --- Auth (django-allauth) ------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Only a verified address signs anyone in: a password sign-in with an unverified
# address stops at "verify your email"; codes and password resets go only to the
# account that verified the address (accounts.forms), and to no one otherwise
# (nothing is sent to unknown addresses). Changing one's address keeps the old one
# until the new one is confirmed, so an unverified address never becomes the login.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_FORMS = {
    "request_login_code": "accounts.forms.VerifiedLoginCodeForm",
    "reset_password": "accounts.forms.VerifiedResetPasswordForm",
}
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
PASSWORD_HASHERS = env_list(
    "PASSWORD_HASHERS",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Email ----------------------------------------------------------------
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "seatmgr <no-reply@seatmgr.local>")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    OUTBOX_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
elif not DEBUG:
    # Refused rather than printed to the console: emails carry unique links and sign-in
    # codes, which do not belong in logs, and no customer would ever receive one.
    raise ImproperlyConfigured("EMAIL_HOST must be set when DEBUG is off: emails must reach people.")
else:
    # Kept in the database, and readable at /_dev/mail/ when DEV_MAILBOX is on.
    OUTBOX_EMAIL_BACKEND = "devmail.backends.StoredEmailBackend"
# Every email goes through the outbox (outbox/mail.py), which sends it with the
# backend above, once, retried until it is accepted.
EMAIL_BACKEND = "outbox.mail.OutboxEmailBackend"

# The mailbox at /_dev/mail/ shows every email of every organization (unique links,
# sign-in codes) to anyone who can reach the server: a developer's machine only.
DEV_MAILBOX = env_bool("DEV_MAILBOX", False)
if DEV_MAILBOX and not DEBUG:
    raise ImproperlyConfigured("DEV_MAILBOX cannot be on when DEBUG is off.")

# --- I18N, time, static ---------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
# SAMEORIGIN, not DENY: the signing page shows the agreement PDF in a frame of its own
# (hence security.W019 silenced below; CSP's frame-ancestors says the same).
X_FRAME_OPTIONS = "SAMEORIGIN"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    # Behind a TLS proxy that sets X-Forwarded-Proto (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading commits the whole domain to HTTPS in browsers for months, beyond this
    # app: the operator's decision (hence security.W021 silenced below).
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W019", "security.W021"]

# Content-Security-Policy (django-csp): our own origin only. seatmgr.csp adds Stripe's
# origins, read from STRIPE_JS_URL and STRIPE_API_BASE on each response, so the policy
# allows exactly the Stripe.js the payment page loads (js.stripe.com in production, a
# localstripe on 127.0.0.1 in development and tests). No inline script or style
# anywhere: pages load their code from /static/. Images may be data: URLs (Swagger
# UI's icons, the drawn signature's preview).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [SELF],
    },
}

# --- API ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "subscriptions.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only, no browsable API: the API is for programs (README, API).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["subscriptions.api_http.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "subscriptions.api_http.JSONOnlyNegotiation",
    "DEFAULT_METADATA_CLASS": "subscriptions.api_http.ApiMetadata",
    "DEFAULT_THROTTLE_CLASSES": ["subscriptions.api_throttling.ApiKeyRateThrottle"],
    # Per API key (or signed-in person); the licence check has a limit of its own.
    "DEFAULT_THROTTLE_RATES": {"api": "1200/min", "licence_check": "60000/min"},
    "DEFAULT_SCHEMA_CLASS": "subscriptions.api_schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "seatmgr.api_errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "subscriptions.api_http.Pagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "seatmgr API",
    "DESCRIPTION": "Subscriptions, org users and licences of one organization. "
    "Authenticate with `Authorization: Api-Key <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["subscriptions.api_schema.drop_url_aliases"],
    "ENUM_NAME_OVERRIDES": {
        "OrgUserStatusEnum": "licensing.models.OrgUser.Status",
        "SubscriptionStatusEnum": "subscriptions.models.Subscription.Status",
    },
}

# Every line carries the request (or task) id; LOG_FORMAT=json writes one JSON object per
# line (time, level, logger, message, request_id, exception) for a log collector. Celery's
# worker and beat log through this too (seatmgr/celery.py), and gunicorn's logs follow
# LOG_FORMAT (seatmgr/gunicorn_logging.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be text or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every handler writes unique links' tokens as /l/<redacted>/ (seatmgr/log_redaction.py),
    # before the request id is added and the line formatted.
    "filters": {
        "redact_link_tokens": {"()": "seatmgr.log_redaction.RedactLinkTokens"},
        "request_id": {"()": "observability.logging.RequestIdFilter"},
    },
    "formatters": {
        "text": {"format": "{asctime} {levelname} {name} [{request_id}] {message}", "style": "{"},
        "json": {"()": "observability.logging.JsonFormatter"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] [{request_id}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["redact_link_tokens", "request_id"],
            "formatter": LOG_FORMAT,
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server" if LOG_FORMAT == "text" else "json",
            "filters": ["redact_link_tokens", "request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers (its DEBUG console, mail_admins) would write unredacted
        # copies: its records go to the root's handler only. Each error is logged once,
        # by `django.request` (the API's too: seatmgr/api_errors.py).
        "django": {"handlers": []},
        # runserver's access log, as Django sets it up, with the filter.
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # The Stripe library logs every request and response at INFO (URLs with the ids of
        # customers and payments, and searches by our metadata): its warnings and errors
        # only. The gateway says what failed in its own words (billing/gateways/stripe.py).
        "stripe": {"level": "WARNING"},
    },
}

# --- Error tracking (Sentry) -------------------------------------------------
# Only with SENTRY_DSN: without it, nothing is sent anywhere. No personal data (send_default_pii
# off), and unique links' tokens are redacted from every event (seatmgr/sentry.py).
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "")

# --- Health (/health/) ---------------------------------------------------------
# The Celery worker and beat write a heartbeat every HEARTBEAT_INTERVAL seconds (into the
# cache, and a file in HEARTBEAT_DIR for the container's own healthcheck); /health/ reports
# one older than HEARTBEAT_STALE_AFTER as failing.
HEARTBEAT_INTERVAL = env_int("HEARTBEAT_INTERVAL", 15)
HEARTBEAT_STALE_AFTER = env_int("HEARTBEAT_STALE_AFTER", 4 * HEARTBEAT_INTERVAL)
HEARTBEAT_DIR = Path(os.environ.get("HEARTBEAT_DIR", str(BASE_DIR / "var" / "heartbeat")))
CELERY_BEAT_SCHEDULER = "seatmgr.celery:HeartbeatScheduler"
# Beat wakes up at least this often, so its heartbeat never waits for the next due task.
CELERY_BEAT_MAX_LOOP_INTERVAL = HEARTBEAT_INTERVAL

# --- Client IP behind proxies ---------------------------------------------
# How many proxies in front of the app append to X-Forwarded-For (a TLS proxy: 1).
# The client's address is then the entry that many places from the right; with 0
# the header is ignored and REMOTE_ADDR is the client (accounts/client_ip.py).
try:
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT") or "0")
except ValueError as error:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be a number of proxies (0, 1, …).") from error

# Last, once every setting above is known.
if SENTRY_DSN:
    from seatmgr.sentry import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
