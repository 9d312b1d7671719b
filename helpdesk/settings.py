"""Settings, read from the environment through strict parsers.

Defaults are safe for production (DEBUG off, secure cookies, a secret key required); the dev
runner (`make run`) turns DEBUG on. When DATABASE_URL/REDIS_URL are unset, the values written by
the embedded-services launcher to `var/services.env` are used, so `manage.py` commands reach the
same embedded PostgreSQL and Redis that `make run` started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# numpy (KB search) must not spread one request's small matrix product over every core: on a
# busy machine OpenBLAS's thread pool makes a 0.3 ms product take 15 ms. Set before numpy loads.
for _blas_threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_threads, "1")

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
_services_env = VAR_DIR / "services.env"
if _services_env.exists() and "DATABASE_URL" not in os.environ:
    # The services `make run` started, taken as a whole: once the environment names a
    # database, nothing of the file applies (a stale DATABASE_HOST must not redirect it).
    environ.Env.read_env(str(_services_env), overwrite=False)

TESTING = "pytest" in sys.modules or env.bool("HELPDESK_TESTING", default=False)
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "dev-only-insecure-key-not-for-production"  # noqa: S105
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if (DEBUG or TESTING) else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

BEHIND_TLS = env.bool("BEHIND_TLS", default=not (DEBUG or TESTING))
SESSION_COOKIE_SECURE = BEHIND_TLS
CSRF_COOKIE_SECURE = BEHIND_TLS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# HSTS only where the site is served over TLS (the header is sent on secure requests only).
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=31_536_000) if BEHIND_TLS else 0
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured("HSTS_SECONDS must be 0 (off) or a positive number of seconds.")
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

INSTALLED_APPS = [
    "daphne",
    "helpdesk.admin_site.HelpdeskAdminConfig",  # django.contrib.admin, for the Admin role
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.postgres",
    "allauth",
    "allauth.account",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "js_lib_htmx",
    "django_celery_beat",
    "channels",
    "anymail",
    "helpdesk",
    "tickets",
    "channels_in",
    "kb",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# --- Content-Security-Policy (django-csp) ------------------------------------------------------
# Scripts only from our origin, each tag with the request's nonce; no inline handlers, no eval
# (htmx is told so in base.html). Images from us and data: only: an email's remote images are
# shown through their own per-message policy (tickets/remote_images.py, the desk's ticket view).
# connect-src 'self' covers our websockets (CSP3 matches ws:/wss: of the same host).
# The chat widget runs inside the customer's page, under the customer's policy; ours covers the
# desk, the portal, the admin and the widget's demo page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "media-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "frame-src": [NONE],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
    }
}

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"
WSGI_APPLICATION = "helpdesk.wsgi.application"
SITE_ID = 1

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
                "tickets.context_processors.desk",
                "csp.context_processors.nonce",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
if "DATABASE_URL" not in os.environ:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set and no embedded services are running. "
        "Use `make run` / `make test` (they start embedded PostgreSQL and Redis), "
        "or set DATABASE_URL and REDIS_URL."
    )
DATABASES = {"default": env.db("DATABASE_URL")}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("Only PostgreSQL is supported (DATABASE_URL must be postgres://).")
_db_host = env.str("DATABASE_HOST", default="")
if _db_host:  # a socket directory: django-environ does not decode %2F hosts
    DATABASES["default"]["HOST"] = _db_host
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if TESTING else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_helpdesk")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer, cache ---------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL is not set (see DATABASE_URL above).")


def _redis_for_celery(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = f"?{parts.query}" if parts.query else ""
        # the scheme names our transport (helpdesk.broker), as CELERY_BROKER_TRANSPORT does
        # for TCP URLs (kombu lets a `x+socket://` URL's prefix choose the transport)
        return f"helpdesk-redis+socket://{parts.path}{query}"
    return url


CELERY_BROKER_URL = _redis_for_celery(REDIS_URL)
CELERY_BROKER_TRANSPORT = "helpdesk.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# How long a task a worker took comes back to its queue after that worker died (see
# helpdesk.broker): per queue, each above its tasks' longest run and longest retry countdown
# (ingest: backoff up to 120 s; deliver: countdowns up to HELPDESK_DELIVERY_RETRY_MAX, and
# a send may wait on a slow server; reports may rebuild for most of an hour). The database
# sweeper (channels_in.recovery) recovers stuck rows sooner.
HELPDESK_QUEUE_VISIBILITY_TIMEOUTS: dict[str, int] = {
    "default": env.int("VISIBILITY_TIMEOUT_DEFAULT", default=600),
    "ingest": env.int("VISIBILITY_TIMEOUT_INGEST", default=300),
    "deliver": env.int("VISIBILITY_TIMEOUT_DELIVER", default=1200),
    "sla": env.int("VISIBILITY_TIMEOUT_SLA", default=600),
    "reports": env.int("VISIBILITY_TIMEOUT_REPORTS", default=3600),
    "search": env.int("VISIBILITY_TIMEOUT_SEARCH", default=300),
    # a bulk job commits batch by batch; one batch takes seconds, a whole job minutes
    "bulk": env.int("VISIBILITY_TIMEOUT_BULK", default=1800),
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": HELPDESK_QUEUE_VISIBILITY_TIMEOUTS["default"],
    "queue_visibility_timeouts": HELPDESK_QUEUE_VISIBILITY_TIMEOUTS,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ("tickets.queues.route_task",)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout by default, and channels-redis waits
            # on BZPOPMIN for 5 s: an idle socket's consumer then dies of a read timeout.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": env.str("CHANNELS_PREFIX", default="asgi"),
            # an agent's inbox socket hears every chat of its teams start and end: a burst of
            # hundreds must queue, not be dropped (the default holds 100 per socket)
            "capacity": 2000,
        },
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_PREFIX", default="hd"),
    }
}

# --- Auth ------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "tickets.backends.RoleBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Mandatory: a verified email is what links a portal login to that address's tickets.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_ALLOW_REGISTRATION = env.bool("ACCOUNT_ALLOW_REGISTRATION", default=True)
LOGIN_REDIRECT_URL = "home"
LOGIN_URL = "account_login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- I18n, static, media ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# MEDIA_URL is mapped by no route (helpdesk/urls.py): stored files leave only through the
# access-checked download views. Nor may they sit where the static file server looks.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))


def _overlap(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


for _served in [STATIC_ROOT, *STATICFILES_DIRS]:
    if _overlap(MEDIA_ROOT, Path(_served)):
        raise ImproperlyConfigured(
            f"MEDIA_ROOT ({MEDIA_ROOT}) must not overlap a static files folder ({_served}): "
            "attachments would be served to anyone, unchecked."
        )
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if (DEBUG or TESTING)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=30 * 1024 * 1024)
HELPDESK_MAX_ATTACHMENT_BYTES = env.int("HELPDESK_MAX_ATTACHMENT_BYTES", default=20 * 1024 * 1024)
HELPDESK_MAX_INBOUND_BYTES = env.int("HELPDESK_MAX_INBOUND_BYTES", default=40 * 1024 * 1024)

# --- Recovery after a crash (channels_in.recovery, swept by beat every minute) ----------------
# An inbound row claimed (or queued) this many seconds ago and not finished is re-queued.
HELPDESK_RECOVER_INBOUND_AFTER = env.int("HELPDESK_RECOVER_INBOUND_AFTER", default=180)
# A delivery in `sending` this long is resolved by its channel's guarantee; above the
# longest send (SMTP timeouts, large uploads).
HELPDESK_RECOVER_SENDING_AFTER = env.int("HELPDESK_RECOVER_SENDING_AFTER", default=900)
# A row whose processing never finishes (the worker dies or raises each time) fails after:
HELPDESK_INBOUND_MAX_ATTEMPTS = env.int("HELPDESK_INBOUND_MAX_ATTEMPTS", default=5)
HELPDESK_DELIVERY_MAX_ATTEMPTS = env.int("HELPDESK_DELIVERY_MAX_ATTEMPTS", default=8)
# The longest countdown of a delivery's retry: below the deliver queue's visibility timeout.
HELPDESK_DELIVERY_RETRY_MAX = env.int("HELPDESK_DELIVERY_RETRY_MAX", default=600)
if HELPDESK_DELIVERY_RETRY_MAX >= HELPDESK_QUEUE_VISIBILITY_TIMEOUTS["deliver"]:
    raise ImproperlyConfigured(
        "HELPDESK_DELIVERY_RETRY_MAX must stay below VISIBILITY_TIMEOUT_DELIVER: a retry "
        "waiting longer than the visibility timeout runs twice."
    )

# --- Email -----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="support@helpdesk.localhost")
HELPDESK_EMAIL_DOMAIN = env.str("HELPDESK_EMAIL_DOMAIN", default="helpdesk.localhost")
HELPDESK_BASE_URL = env.str("HELPDESK_BASE_URL", default="http://localhost:8000")

# --- Knowledge base and self-service ---------------------------------------------------------
# Requests a minute per client on the public KB search and bot APIs; 0 turns the limit off.
HELPDESK_PUBLIC_API_RATE = env.int("HELPDESK_PUBLIC_API_RATE", default=60)
if HELPDESK_PUBLIC_API_RATE < 0:
    raise ImproperlyConfigured("HELPDESK_PUBLIC_API_RATE must be 0 (off) or a positive number.")
# "auto" uses pgvector when the database has the extension, else a numpy scan
KB_VECTOR_BACKEND = env.str("KB_VECTOR_BACKEND", default="auto")
if KB_VECTOR_BACKEND not in ("auto", "numpy", "pgvector"):
    raise ImproperlyConfigured("KB_VECTOR_BACKEND must be auto, numpy or pgvector.")
# "python" (default): trigram similarity on a per-process index; "sql"/"auto": pg_trgm
KB_TRIGRAM_BACKEND = env.str("KB_TRIGRAM_BACKEND", default="python")
if KB_TRIGRAM_BACKEND not in ("auto", "python", "sql"):
    raise ImproperlyConfigured("KB_TRIGRAM_BACKEND must be python, sql or auto.")
# The bot answers only above this search confidence (calibrated with `manage.py kb_eval`).
KB_BOT_THRESHOLD = env.float("KB_BOT_THRESHOLD", default=0.5)
KB_DEFAULT_LOCALE = env.str("KB_DEFAULT_LOCALE", default="en")

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "DESCRIPTION": "Tickets, messages and contacts of the help desk.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # the docs pages' scripts come from our static files (drf-spectacular-sidecar), no CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI's validator badge would call validator.swagger.io: off
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"expected_client_errors": {"()": "helpdesk.log_filters.ExpectedClientErrors"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "pgserver": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
        # an expected 403/404 is one warning line, not a traceback
        "django.request": {"filters": ["expected_client_errors"]},
    },
}

if TESTING:
    # Hashing cost dominates user creation in tests; production keeps Django's default.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
