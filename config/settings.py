"""CareRelay settings: one module, driven by environment variables.

Embedded defaults (no variables set) give a working development install: SQLite under
var/, eager tasks, the simulator channel, console e-mail, keys generated into
var/dev-keys.json. `DJANGO_ENV=production` refuses to start on any of those defaults.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config import devkeys
from config.env import env, secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("CARERELAY_VAR_DIR", default=str(BASE_DIR / "var")))

DJANGO_ENV = env("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"

# --- Secrets -------------------------------------------------------------------------------
SECRET_KEY = secret("SECRET_KEY")
_phi_keys = secret("PHI_MASTER_KEYS")
if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY.startswith("dev-") or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "Production needs SECRET_KEY (or SECRET_KEY_FILE): at least 50 random characters."
        )
    if not _phi_keys:
        raise ImproperlyConfigured(
            "Production needs PHI_MASTER_KEYS (or PHI_MASTER_KEYS_FILE): comma-separated "
            "base64 keys of 32 bytes, newest first. Generate one with "
            "`python manage.py generate_master_key`."
        )
else:
    _dev = devkeys.load_or_create(VAR_DIR / "dev-keys.json")
    SECRET_KEY = SECRET_KEY or _dev["SECRET_KEY"]
    _phi_keys = _phi_keys or _dev["PHI_MASTER_KEYS"]

# Master key ring for PHI data keys: newest first; the first wraps, every key unwraps.
PHI_MASTER_KEYS = [k.strip() for k in _phi_keys.split(",") if k.strip()]
if PRODUCTION:
    # A malformed ring would pass start-up and fail every PHI page: refuse to start instead
    # (development gets the same finding as a system-check warning, accounts.checks).
    from accounts.crypto import key_ring_problems

    if _ring_problems := key_ring_problems(PHI_MASTER_KEYS):
        raise ImproperlyConfigured(" ".join(_ring_problems) + " Generate a key with "
                                   "`python manage.py generate_master_key`.")

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Production needs ALLOWED_HOSTS, e.g. ALLOWED_HOSTS=app.example.org")
# What providers call back: webhook signatures are computed over this public URL.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])
# How long a worker process may reuse a channel it loaded for a webhook (0 turns the cache off):
# a change to a channel reaches every process within this time.
WEBHOOK_CHANNEL_CACHE_SECONDS = env.float("WEBHOOK_CHANNEL_CACHE_SECONDS", default=10.0)
# How long a process reuses an API key's row (the token is verified every time): a revoked key
# is refused at once where it was revoked, and everywhere within this.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=2.0)
# How long a process may reuse what an organisation's plan allows (its partner-API budget; on a
# paid plan with overage, that sends may go) before asking again (0: no cache): a plan change
# reaches every process's throttle and sends within this time (billing/plan_cache.py).
BILLING_PLAN_CACHE_SECONDS = env.float("BILLING_PLAN_CACHE_SECONDS", default=10.0)
# How long the shared cache keeps "does anyone listen to this organisation's inbound messages"
# (messaging/interest.py); changes invalidate it at once, this bounds interest that ends with time.
INBOUND_INTEREST_CACHE_SECONDS = env.int("INBOUND_INTEREST_CACHE_SECONDS", default=300)

# --- Applications --------------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    # Its AbstractAPIKey is the base of accounts.ApiKey (the library's own APIKey table stays unused).
    "rest_framework_api_key",
    "csp",
    # Accounts and access security: two_factor before its plugins; axes records sign-in failures.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "two_factor",
    "two_factor.plugins.phonenumber",
    "phonenumber_field",
    "axes",
]
LOCAL_APPS = [
    "audit",
    "accounts",
    "billing",
    "contacts",
    "messaging",
    "campaigns",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Provider webhooks (/webhooks/) stop here: signed machine requests need no session, user or
    # browser policy (messaging/webhook_middleware.py says what still applies).
    "messaging.webhook_middleware.ProviderWebhookMiddleware",
    # Permissions-Policy and no-store on signed-in pages; before WhiteNoise so static files get it too.
    "accounts.access_middleware.SecurityHeadersMiddleware",
    # Partner-API requests (key-authenticated, JSON) stop here too (accounts/partner_api/middleware.py):
    # after the security headers, which their answers keep.
    "accounts.partner_api.middleware.PartnerApiMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks the session's user as OTP-verified (user.is_verified()): after authentication.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "audit.middleware.RequestContextMiddleware",
    # Enters the django-scopes tenant scope for every request: after authentication.
    "accounts.middleware.TenantScopeMiddleware",
    # Idle and absolute session limits, then the gate (verified e-mail, required 2FA): after the
    # tenant scope, whose organisation sets the idle timeout and may require 2FA of everyone.
    "accounts.access_middleware.SessionLifetimeMiddleware",
    "accounts.access_middleware.AccessGateMiddleware",
    # django-axes must come last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

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
                "accounts.context_processors.tenant",
            ],
        },
    },
]

# --- Data ----------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'carerelay.sqlite3'}"
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        # Parameters bound by the server, and a statement prepared on its connection from its fifth
        # run (psycopg's threshold; Django turns it off by default for transaction-mode poolers):
        # PostgreSQL then skips parsing and, mostly, planning: its CPU per intake answer fell by a
        # third (9.3 → 5.8 ms in-process). Behind PgBouncer in transaction mode (before 1.21's
        # max_prepared_statements) set DB_PREPARED_STATEMENTS=false. PostgreSQL may then keep one
        # (generic) plan for all runs of a statement: a hot lookup through a partial index states
        # the index's condition as a literal (receipts, the webhook's contact and conversation;
        # tests/plans.py), and plans made on empty tables are redone at autovacuum's next ANALYZE.
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",  # one client per pool: see the module
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "carerelay",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background work -----------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
# kombu's Redis transport with one client per channel, not one per publish (config/redis_broker.py);
# a rediss:// URL keeps kombu's own, which reads TLS from the scheme.
CELERY_BROKER_TRANSPORT = "config.redis_broker:Transport" if REDIS_URL.startswith("redis://") else None
CELERY_RESULT_BACKEND = None
# No Redis (the embedded default): tasks run in-process, right away.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task whose worker died unacknowledged is handed to another worker after this long;
# workers sweep for such tasks every few seconds (kombu's default sweep is ~100 s).
_visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
# A worker whose broker consumer stays deaf this long while tasks wait for it shuts down, for its
# supervisor to start a fresh one (config/worker_watchdog.py); 0 turns the watchdog off.
CELERY_WORKER_STALL_SECONDS = env.int("CELERY_WORKER_STALL_SECONDS", default=120)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _visibility_timeout,
    "unacked_restore_interval": min(10, max(1, _visibility_timeout // 3)),
    "unacked_restore_throttle": 1,
}
# Celery beat (the `beat` service in docker-compose.yml): periodic sweeps, by task name.
CELERY_BEAT_SCHEDULE = {
    # Sends whose task was lost (broker down at commit) go out late, never not at all.
    "requeue-stalled-messages": {"task": "messaging.requeue_stalled_messages", "schedule": 300.0},
    # Webhook deliveries whose task was lost; idempotency keys past their 24 hours.
    "sweep-webhook-deliveries": {"task": "accounts.sweep_webhook_deliveries", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "accounts.purge_idempotency_keys", "schedule": 3600.0},
    # Account e-mails kept while the broker was unreachable (accounts.outbox) go out within a
    # minute of its return.
    "send-pending-account-emails": {"task": "accounts.send_pending_emails", "schedule": 60.0},
    # Rotated-out data keys are deleted once no process can still hold them and no row needs them.
    "purge-retired-data-keys": {"task": "accounts.purge_retired_data_keys", "schedule": 3600.0},
    # Running imports without a heartbeat are resumed; lost hand-offs handed again.
    "sweep-contact-imports": {"task": "contacts.sweep_contact_imports", "schedule": 60.0},
    # Scheduled campaigns start within this many seconds of their time.
    "start-due-campaigns": {"task": "campaigns.start_due_campaigns", "schedule": 30.0},
    # A running campaign whose dispatcher went quiet is handed on.
    "resume-quiet-campaign-dispatchers": {"task": "campaigns.resume_quiet_dispatchers", "schedule": 60.0},
    # Silent intake sessions are reminded and expired (outside the patient's quiet hours).
    "intake-sweep-sessions": {"task": "intake.sweep_sessions", "schedule": 300.0},
    # Hourly: each organisation's billing period ends at midnight in its own time zone.
    "close-billing-periods": {"task": "billing.close_billing_periods", "schedule": 3600.0},
}

# Webhook deliveries to partners have a queue of their own: a slow partner never delays sends.
CELERY_TASK_ROUTES = {"accounts.deliver_webhook": {"queue": "webhooks"},
                      "accounts.sweep_webhook_deliveries": {"queue": "webhooks"}}
# The queue tasks go to unless routed (tests run each worker on a private queue: a task a worker
# sends itself, such as the dispatcher chain's next link, must reach that queue too).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# dispatch_batch schedules per-message tasks only this far ahead (Celery holds a task with an
# ETA in the worker; past the broker's visibility timeout Redis would hand it out again) and
# comes back once for the rest.
MESSAGING_SCHEDULE_HORIZON_SECONDS = env.int("MESSAGING_SCHEDULE_HORIZON_SECONDS",
                                             default=max(60, _visibility_timeout // 2))

# --- Passwords, sessions -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Accounts and access security ---------------------------------------------------------
# Axes first: it refuses locked-out username+IP pairs before any password is checked.
AUTHENTICATION_BACKENDS = [
    # django-axes' backend plus the per-account lock (accounts.lockout).
    "accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failures for one e-mail from one address lock that pair for 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock lasts 30 minutes from the fifth failure: tries during it neither count nor extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The lockout page says when sign-in opens again (accounts/locked_out.html).
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The sign-in wizard posts "auth-username"; e-mails are compared lower-cased.
AXES_USERNAME_CALLABLE = "accounts.lockout.username_from_request"
# Axes keeps the POST of failed attempts: the wizard's password and code fields are cleansed.
AXES_PASSWORD_FORM_FIELD = "auth-password"  # noqa: S105 - a form field name, not a password
AXES_SENSITIVE_PARAMETERS = ["password", "token-otp_token", "backup-otp_token", "auth-username",
                             "username", "csrfmiddlewaretoken"]
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Axes' log lines name the account by a keyed hash, never the typed e-mail (or a password typed there).
AXES_CLIENT_STR_CALLABLE = "accounts.lockout.client_str"
# Codes by SMS/WhatsApp go through CareRelay's own messaging layer (accounts.otp_delivery).
TWO_FACTOR_SMS_GATEWAY = "accounts.two_factor_gateway.MessagingGateway"
TWO_FACTOR_LOGIN_TIMEOUT = 300
TWO_FACTOR_QR_FACTORY = "qrcode.image.svg.SvgPathImage"
# No "remember this browser": every sign-in to PHI asks for the second factor.
TWO_FACTOR_REMEMBER_COOKIE_AGE = None
OTP_TOTP_ISSUER = "CareRelay"
PHONENUMBER_DEFAULT_REGION = env("DEFAULT_PHONE_REGION", default="US")
# Sessions: idle logoff per organisation (default 15 min), 12 hours at most however active.
SESSION_IDLE_TIMEOUT_DEFAULT_MINUTES = 15
SESSION_ABSOLUTE_LIFETIME_SECONDS = 12 * 60 * 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME_SECONDS
EMAIL_VERIFICATION_MAX_AGE_SECONDS = 3 * 24 * 60 * 60
INVITATION_LIFETIME_HOURS = 72
# Password reset links work once, for one hour (accounts.tokens checks this, not PASSWORD_RESET_TIMEOUT).
PASSWORD_RESET_LINK_MAX_AGE_SECONDS = 60 * 60
PASSWORD_RESET_TIMEOUT = PASSWORD_RESET_LINK_MAX_AGE_SECONDS
# Public forms' rate limits, counted in the cache: (attempts, window in seconds).
SIGNUP_RATE_LIMIT_PER_IP = (5, 60 * 60)
PASSWORD_RESET_RATE_LIMIT_PER_IP = (10, 60 * 60)
PASSWORD_RESET_RATE_LIMIT_PER_EMAIL = (3, 60 * 60)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=()"
)
if PRODUCTION:
    # __Host- cookies are Secure, host-only and path=/ by the browser's own rule.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Used to read national-format phone numbers when an organisation sets no region.
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", default="US")

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- E-mail --------------------------------------------------------------------------------
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="CareRelay <no-reply@localhost>")

# --- Security headers ----------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Strict CSP: our own static files only, nothing inline, no CDN.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The load balancer probes health over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Providers (real SDKs are pointed at local fakes in tests by these URLs only) -----------
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", default="https://api.twilio.com")
TELNYX_API_BASE_URL = env("TELNYX_API_BASE_URL", default="https://api.telnyx.com/v2")
WHATSAPP_GRAPH_BASE_URL = env("WHATSAPP_GRAPH_BASE_URL", default="https://graph.facebook.com/v21.0")

# --- API -----------------------------------------------------------------------------------
# Partner systems authenticate with organisation API keys only (no session, so no CSRF);
# accounts.partner_api.viewsets.TenantViewSet owns scope, permissions and idempotency.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "accounts.partner_api.schema.ApiAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.partner_api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend",
                                "rest_framework.filters.OrderingFilter"],
    "DEFAULT_PAGINATION_CLASS": "accounts.partner_api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "accounts.partner_api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests per minute per key when no plan sets one (billing's resolver replaces it).
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=600)
# The plan's requests per minute (billing); its refusal (a plan without the API) is a 402.
API_RATE_LIMIT_RESOLVER = env("API_RATE_LIMIT_RESOLVER", default="billing.services.api_requests_per_minute")
IDEMPOTENCY_KEY_HOURS = 24
# Outbound event webhooks: loopback targets only in development and tests (SSRF guard).
WEBHOOKS_ALLOW_LOOPBACK = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=not PRODUCTION)
SPECTACULAR_SETTINGS = {
    "TITLE": "CareRelay API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "DESCRIPTION": "Partner API of CareRelay: contacts, conversations and messages, campaigns, intake "
                   "and usage of one organisation, chosen by the API key. See docs/api.md.",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}

# SMS/WhatsApp is one choice set (a contact's preferred channel, consent, a channel's kind):
# one name in the schema.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "ChannelKindEnum": "contacts.models.CHANNELS",
    "CampaignKindEnum": "campaigns.models.CampaignKind",
    "CampaignStatusEnum": "campaigns.models.CampaignState",
}

# --- Logging: no PHI ever reaches these handlers (see STYLE.md) -----------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"},
                # axes logs every sign-in with the typed e-mail at INFO; the audit log has what we need.
                "axes": {"level": "WARNING"},
                # The provider clients log every request at INFO: Twilio's SDK its query parameters
                # (a Messages look-up's To number is PHI) and headers, httpx each URL (WhatsApp
                # media URLs carry signed tokens). Eight lines a send, too, on the campaign hot path.
                "twilio.http_client": {"level": "WARNING"},
                "httpx": {"level": "WARNING"}},
}

# A quota refusal no view caught becomes a 402 page saying what to do (axes stays last).
MIDDLEWARE.insert(MIDDLEWARE.index("axes.middleware.AxesMiddleware"),
                  "billing.middleware.QuotaExceededMiddleware")

# The product areas' own settings (config/settings_product.py).
from config.settings_product import *  # noqa: E402,F403
