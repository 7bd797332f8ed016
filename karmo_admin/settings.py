"""Settings for Karmo Admin, read from the environment (and an optional .env)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# Everything written outside the database (sandbox state, exports) lives under one directory,
# so two instances with different data directories never touch each other.
KARMO_DATA_DIR = env.path("KARMO_DATA_DIR", default=BASE_DIR / "var")
VAR_DIR = Path(KARMO_DATA_DIR)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="insecure-dev-key-change-me-in-production-0123456789"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "axes",
    "django_tasks_db",
    "accounts",
    "ops",
]

MIDDLEWARE = [
    "ops.middleware.OpsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.AuditContextMiddleware",
    "accounts.middleware.NoStoreMiddleware",
    "accounts.staff.middleware.StaffSessionMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "karmo_admin.urls"
WSGI_APPLICATION = "karmo_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'karmo.sqlite3'}"),
}
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
DATABASE_ROUTERS = ["ops.routing.ReplicaRouter"]
for _database in DATABASES.values():
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # Persistent connections for long-lived web and task processes, checked before reuse.
        _database["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
        _database["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "karmo_cache",
    }
}

TASKS = {
    "default": {
        "BACKEND": env.str("KARMO_TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username or address before any password check.
    "axes.backends.AxesStandaloneBackend",
    "accounts.staff.backends.ModelBackend",
    "django_otp_webauthn.backends.WebAuthnBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("KARMO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Hashed, compressed names need `collectstatic` first, so only deployments turn this on.
KARMO_STATIC_MANIFEST = env.bool("KARMO_STATIC_MANIFEST", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if KARMO_STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
}
# Behind a TLS-terminating proxy (README, "Running in production").
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("KARMO_SESSION_SECONDS", default=12 * 3600)  # absolute lifetime
X_FRAME_OPTIONS = "DENY"

MAILERS = {
    "default": {
        "BACKEND": env.str(
            "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="karmo-admin@localhost")

# Provider selection and credentials (see README, "Configuration").
KARMO_PROVIDER = env.str("KARMO_PROVIDER", default="sandbox")
KARMO_SANDBOX_FLAVOR = env.str("KARMO_SANDBOX_FLAVOR", default="workos")
KARMO_SANDBOX_DIR = env.path("KARMO_SANDBOX_DIR", default=VAR_DIR / "sandbox")
KARMO_SANDBOX_URL = env.str("KARMO_SANDBOX_URL", default="")
KARMO_PROVIDER_TIMEOUT = env.float("KARMO_PROVIDER_TIMEOUT", default=10.0)
KARMO_PROVIDER_MAX_RETRIES = env.int("KARMO_PROVIDER_MAX_RETRIES", default=3)
KARMO_PROVIDER_RETRY_AFTER_CAP = env.float("KARMO_PROVIDER_RETRY_AFTER_CAP", default=30.0)
# Requests per second the provider allows (0: its published limit) and the share we use.
KARMO_PROVIDER_RATE_LIMIT = env.float("KARMO_PROVIDER_RATE_LIMIT", default=0.0)
KARMO_PROVIDER_RATE_FRACTION = env.float("KARMO_PROVIDER_RATE_FRACTION", default=0.8)
KARMO_SYNC_CONCURRENCY = env.int("KARMO_SYNC_CONCURRENCY", default=8)
KARMO_VERIFY_AFTER_CHANGE = env.bool("KARMO_VERIFY_AFTER_CHANGE", default=True)
# Webhook signing secrets (WorkOS's, and Stytch's Svix `whsec_…`) and the accepted clock skew.
WORKOS_WEBHOOK_SECRET = env.str("WORKOS_WEBHOOK_SECRET", default="")
STYTCH_WEBHOOK_SECRET = env.str("STYTCH_WEBHOOK_SECRET", default="")
# The signing key ZITADEL returned when the Actions v2 target was created.
ZITADEL_WEBHOOK_SECRET = env.str("ZITADEL_WEBHOOK_SECRET", default="")
KARMO_WEBHOOK_TOLERANCE_SECONDS = env.int("KARMO_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Refused webhooks audited per provider and minute (per process); the rest are logged.
KARMO_WEBHOOK_REFUSALS_AUDITED = env.int("KARMO_WEBHOOK_REFUSALS_AUDITED", default=30)
KARMO_RECONCILE_HOURS = env.int("KARMO_RECONCILE_HOURS", default=24)  # 0: no schedule
KARMO_FEED_POLL_SECONDS = env.int("KARMO_FEED_POLL_SECONDS", default=30)  # 0: no schedule
# What staff with no scope of their own or through a group see: "all" or "none".
KARMO_DEFAULT_SCOPE = env.str("KARMO_DEFAULT_SCOPE", default="all")

WORKOS_API_KEY = env.str("WORKOS_API_KEY", default="")
WORKOS_BASE_URL = env.str("WORKOS_BASE_URL", default="https://api.workos.com")
STYTCH_PROJECT_ID = env.str("STYTCH_PROJECT_ID", default="")
STYTCH_SECRET = env.str("STYTCH_SECRET", default="")
STYTCH_ENVIRONMENT = env.str("STYTCH_ENVIRONMENT", default="test")
STYTCH_BASE_URL = env.str("STYTCH_BASE_URL", default="")
ZITADEL_DOMAIN = env.str("ZITADEL_DOMAIN", default="")
ZITADEL_BASE_URL = env.str("ZITADEL_BASE_URL", default="")
ZITADEL_TOKEN = env.str("ZITADEL_TOKEN", default="")
ZITADEL_PROJECT_ID = env.str("ZITADEL_PROJECT_ID", default="")
ZITADEL_USE_V3ALPHA = env.bool("ZITADEL_USE_V3ALPHA", default=False)

KARMO_REQUEST_EXPIRY_HOURS = env.int("KARMO_REQUEST_EXPIRY_HOURS", default=72)
KARMO_EXPIRY_SWEEP_MINUTES = env.int("KARMO_EXPIRY_SWEEP_MINUTES", default=15)  # 0: no schedule
# Time-bound reactivations: the longest allowed, and how often the task ends due ones.
KARMO_TIME_LIMIT_MAX_DAYS = env.int("KARMO_TIME_LIMIT_MAX_DAYS", default=30)
KARMO_TIME_LIMIT_SWEEP_MINUTES = env.int("KARMO_TIME_LIMIT_SWEEP_MINUTES", default=5)  # 0: none
KARMO_SYNC_BATCH_SIZE = env.int("KARMO_SYNC_BATCH_SIZE", default=5000)
KARMO_SYNC_HEARTBEAT_SECONDS = env.float("KARMO_SYNC_HEARTBEAT_SECONDS", default=10.0)
KARMO_SYNC_STALE_SECONDS = env.float("KARMO_SYNC_STALE_SECONDS", default=60.0)
KARMO_API_RATE_LIMIT = env.int("KARMO_API_RATE_LIMIT", default=600)  # per token per minute

# Signed checkpoints of the audit log (see README, "Audit evidence").
KARMO_AUDIT_SIGNING_KEY = env.str("KARMO_AUDIT_SIGNING_KEY", default="")
KARMO_AUDIT_CHECKPOINT_DIR = env.path(
    "KARMO_AUDIT_CHECKPOINT_DIR", default=VAR_DIR / "audit-checkpoints"
)
KARMO_AUDIT_WITNESS_URL = env.str("KARMO_AUDIT_WITNESS_URL", default="")
# The witness's public key: its cosignatures are kept only when they verify against it.
KARMO_AUDIT_WITNESS_KEY = env.str("KARMO_AUDIT_WITNESS_KEY", default="")
KARMO_AUDIT_CHECKPOINT_SECONDS = env.int("KARMO_AUDIT_CHECKPOINT_SECONDS", default=60)

# Operations (README, "Running in production").
KARMO_METRICS_TOKEN = env.str("KARMO_METRICS_TOKEN", default="")
KARMO_WORKER_HEARTBEAT_SECONDS = env.float("KARMO_WORKER_HEARTBEAT_SECONDS", default=5.0)
KARMO_WORKER_STALE_SECONDS = env.float("KARMO_WORKER_STALE_SECONDS", default=60.0)
KARMO_TASK_MAX_ATTEMPTS = env.int("KARMO_TASK_MAX_ATTEMPTS", default=3)
KARMO_LOG_FORMAT = env.str("KARMO_LOG_FORMAT", default="text")
# Staff sign-in (see README, "Staff sign-in").
KARMO_SESSION_IDLE_MINUTES = env.int("KARMO_SESSION_IDLE_MINUTES", default=30)
KARMO_REAUTH_MINUTES = env.int("KARMO_REAUTH_MINUTES", default=15)
# The sandbox's demo logins sign in with a password alone; real deployments ask these roles
# for a second factor (helpdesk, manager, auditor, superuser).
KARMO_MFA_REQUIRED_FOR = env.list(
    "KARMO_MFA_REQUIRED_FOR",
    default=[] if KARMO_PROVIDER == "sandbox" else ["manager", "auditor", "superuser"],
)
KARMO_LOCKOUT_FAILURES = env.int("KARMO_LOCKOUT_FAILURES", default=5)
KARMO_LOCKOUT_MINUTES = env.int("KARMO_LOCKOUT_MINUTES", default=15)

AXES_FAILURE_LIMIT = KARMO_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=KARMO_LOCKOUT_MINUTES)
# Either the username or the address alone is enough to be locked out.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# The peer address only: a client-chosen X-Forwarded-For must not pick whom the lockout hits.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_VERBOSE = False

OTP_TOTP_ISSUER = "Karmo Admin"
OTP_WEBAUTHN_RP_NAME = "Karmo Admin"
OTP_WEBAUTHN_RP_ID = env.str("KARMO_WEBAUTHN_RP_ID", default="localhost")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list("KARMO_WEBAUTHN_ORIGINS", default=["http://localhost:8000"])
# A passkey is a second factor here, never a way around the password (and its lockout).
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ops.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "ops.logs.KarmoJsonFormatter"},
        "text": {
            "()": "ops.logs.KarmoTextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if KARMO_LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        }
    },
    "loggers": {
        "karmo": {"handlers": ["console"], "level": env.str("KARMO_LOG_LEVEL", default="INFO")},
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Python warnings, captured as log records when KARMO_LOG_FORMAT=json (ops.apps).
        "py.warnings": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
