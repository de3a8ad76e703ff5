"""seatmgr settings, read from the environment.

With no environment at all the app runs on its embedded defaults: SQLite,
Celery tasks executed in-process, email stored in the database and readable
at /_dev/mail/ (DEBUG only). Production sets DATABASE_URL, REDIS_URL,
SECRET_KEY, ALLOWED_HOSTS and DEBUG=0 (see docker-compose.yml).
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"  # noqa: S105

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
    "accounts",
    "audit",
    "devmail",
    "subscriptions",
    "licensing",
    "agreements",
    "billing",
    "portal",
    "backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "seatmgr.sqlite3")),
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
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run in-process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
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
    "requeue-seat-syncs": {
        "task": "licensing.tasks.requeue_seat_syncs",
        "schedule": 30.0,
    },
    # Periods renew (or, when cancelled at period end, end) within a minute of their end.
    "roll-subscription-periods": {
        "task": "subscriptions.tasks.roll_subscription_periods",
        "schedule": 60.0,
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
}

# Secrets stored in the database (connected-org credentials) are encrypted with this
# Fernet key (comma-separate several to rotate; the first encrypts).
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
# Certificate authorities for Salesforce's TLS (empty: the system's). Tests set it to
# their local Salesforce stand-in's certificate.
SALESFORCE_CA_BUNDLE = os.environ.get("SALESFORCE_CA_BUNDLE", "")

# --- Stripe -----------------------------------------------------------------
# Production talks to api.stripe.com (STRIPE_API_BASE unset) and pages load Stripe.js
# from js.stripe.com: card numbers go from Stripe's own script straight to Stripe,
# never through this app (PCI DSS SAQ A). Development and tests talk to localstripe:
# scripts/run and the test session start one and set STRIPE_API_BASE to it, and
# Stripe.js then comes from its stand-in at <STRIPE_API_BASE>/js.stripe.com/v3/.
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
ACCOUNT_EMAIL_VERIFICATION = "none"
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
EMAIL_URL = os.environ.get("EMAIL_HOST", "")
if EMAIL_URL:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = EMAIL_URL
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    # Kept in the database and readable at /_dev/mail/ while DEBUG is on.
    EMAIL_BACKEND = "devmail.backends.StoredEmailBackend"

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
X_FRAME_OPTIONS = "SAMEORIGIN"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every handler writes unique links' tokens as /l/<redacted>/ (seatmgr/log_redaction.py).
    "filters": {"redact_link_tokens": {"()": "seatmgr.log_redaction.RedactLinkTokens"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_link_tokens"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_link_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers (its DEBUG console, mail_admins) would write unredacted
        # copies: its records go to the root's handler only.
        "django": {"handlers": []},
        # runserver's access log, as Django sets it up, with the filter.
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

# --- Client IP behind proxies ---------------------------------------------
# How many proxies in front of the app append to X-Forwarded-For (a TLS proxy: 1).
# The client's address is then the entry that many places from the right; with 0
# the header is ignored and REMOTE_ADDR is the client (accounts/client_ip.py).
try:
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT") or "0")
except ValueError as error:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be a number of proxies (0, 1, …).") from error
