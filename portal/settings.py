"""QMedChain settings, read from the environment (12-factor).

QMC_ENV=production switches on the deployment hardening and refuses to start without
SECRET_KEY and QMC_MASTER_KEY in the environment. Every variable is listed in README.md.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from core.logs import logging_config
from portal.localsecrets import env_or_file, env_or_generated

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = os.environ.get("QMC_ENV", "development") == "production"
VAR_DIR = Path(os.environ.get("QMC_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = env_or_generated("SECRET_KEY", VAR_DIR, production=PRODUCTION, nbytes=48)
# 32-byte key (hex) that encrypts private keys at rest; see core/keyvault.py (crypto/sealing.py)
QMC_MASTER_KEY = env_or_generated("QMC_MASTER_KEY", VAR_DIR, production=PRODUCTION)
# during a master-key rotation (manage.py rotate_master_key): the key being replaced, which still
# opens what it sealed; and the original master key as the root of the derived keys (pseudonyms),
# which must not change with the sealing key. Environment, else var/<name>.secret, else unset.
QMC_MASTER_KEY_PREVIOUS = env_or_file("QMC_MASTER_KEY_PREVIOUS", VAR_DIR)
QMC_KEY_DERIVATION_ROOT = env_or_file("QMC_KEY_DERIVATION_ROOT", VAR_DIR)
# keyed HMAC for pseudonymous patient ids on the ledger (derived from the master key if unset)
QMC_PSEUDONYM_KEY = os.environ.get("QMC_PSEUDONYM_KEY", "")
# keyed HMAC for the pseudonymous UIDs and patient IDs of de-identified research instances
# (imaging.research; one key per recipient is derived from it); derived from the master key if unset
QMC_DEID_KEY = os.environ.get("QMC_DEID_KEY", "")

# opt-in (DEBUG=1): its pages show the URLconf and settings to anyone who asks
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "oauth2_provider",
    "portal",
    "imaging",
    "ledger",
    "lab",
    "federation",
]

# (middleware, whether a bearer-token call to /api/ without a cookie runs it too: portal/wsgi.py
# gives those calls API_MIDDLEWARE, without the parts that serve people in a browser)
_MIDDLEWARE = [
    # request counts and latencies by view for /metrics (portal/metrics.py); first and last
    ("django_prometheus.middleware.PrometheusBeforeMiddleware", True),
    # X-Request-ID on every log line of the request and of the Celery tasks it enqueues (core/logs.py)
    ("portal.request_id.RequestIdMiddleware", True),
    ("django.middleware.security.SecurityMiddleware", True),
    ("whitenoise.middleware.WhiteNoiseMiddleware", False),
    ("csp.middleware.CSPMiddleware", True),
    ("portal.headers.SecurityHeadersMiddleware", True),
    ("django.contrib.sessions.middleware.SessionMiddleware", False),
    ("portal.middleware.SessionIdleRefreshMiddleware", False),
    ("django.middleware.common.CommonMiddleware", True),
    ("django.middleware.csrf.CsrfViewMiddleware", False),
    ("django.contrib.auth.middleware.AuthenticationMiddleware", False),
    ("django_otp.middleware.OTPMiddleware", False),
    # times in the signed-in person's time zone (portal/timezones.py)
    ("portal.timezones.UserTimeZoneMiddleware", False),
    ("portal.middleware.SecondFactorRequiredMiddleware", False),
    ("django.contrib.messages.middleware.MessageMiddleware", False),
    ("django.middleware.clickjacking.XFrameOptionsMiddleware", True),
    ("axes.middleware.AxesMiddleware", False),
    ("django_prometheus.middleware.PrometheusAfterMiddleware", True),
]
MIDDLEWARE = [m for m, _ in _MIDDLEWARE]
API_MIDDLEWARE = [m for m, for_api_calls in _MIDDLEWARE if for_api_calls]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                # the red emergency-access banner with time left (portal/context_processors.py)
                "portal.context_processors.emergency_access",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'qmedchain.sqlite3'}"),
        # persistent connections (checked before reuse): a new PostgreSQL connection per
        # Celery task or request cost the pipeline several ms per scan (workers: see
        # portal/celery.py, Celery's own default is one connection per task)
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's, with the per-request health check skipped for a connection in steady use
    # (core/db/postgresql/base.py: one statement fewer per request under load)
    DATABASES["default"]["ENGINE"] = "core.db.postgresql"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # the worker and the web server share the file; wait for locks instead of failing. A
    # transaction takes the write lock when it begins (IMMEDIATE): a deferred one that reads, then
    # writes, fails at once with "database is locked" when another writer got there first
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=30, transaction_mode="IMMEDIATE")
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_qmedchain.sqlite3")}
elif (_prepare_threshold := os.environ.get("DB_PREPARE_THRESHOLD", "2")) != "off":
    # Server-side parameter binding, with each statement prepared once it has run this many
    # times on a connection (psycopg then sends only its name and parameters): PostgreSQL
    # parses and plans the scan pipeline's and the upload's statements once per connection
    # instead of on every run, which halved the database's CPU per scan (bench/pipeline.py).
    # Django turns prepared statements off by default for connection poolers: set
    # DB_PREPARE_THRESHOLD=off behind PgBouncer in transaction mode before 1.21.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=int(_prepare_threshold)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One cache for every process: throttle counters (portal/throttle.py, the API's and the OAuth token
# endpoint's) must not be per process. Redis when CACHE_URL (or REDIS_URL) is set; otherwise files
# under VAR_DIR, which every process on this machine shares and which need no migration.
_cache_url = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL", "")
if _cache_url:
    if not _cache_url.startswith(("redis://", "rediss://", "unix://")):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("CACHE_URL must be a Redis URL (redis://, rediss:// or unix://).")
    # Django's Redis backend, with one client per pool instead of one per call (core/cache.py)
    CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": _cache_url}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": (VAR_DIR / "cache").resolve(),
            # culling (a third of the entries when full) would forget throttle counts
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# the client's address for lock-out and throttles (portal/client_ip.py): REMOTE_ADDR, or behind
# N reverse proxies of ours the X-Forwarded-For entry N hops from the right
QMC_TRUSTED_PROXY_COUNT = int(os.environ.get("QMC_TRUSTED_PROXY_COUNT", "0"))

# who may read /metrics (portal/metrics.py): these client addresses or networks, or a request
# with "Authorization: Bearer $QMC_METRICS_TOKEN" (empty: no token works); everyone else gets 404
QMC_METRICS_ALLOWED_IPS = env_list("QMC_METRICS_ALLOWED_IPS", "127.0.0.1,::1")
QMC_METRICS_TOKEN = os.environ.get("QMC_METRICS_TOKEN", "")

# lock-out after repeated failures (portal/lockout.py): per account from any address, and per
# client address only at a much higher count, since users behind one proxy share an address
AXES_FAILURE_LIMIT = int(os.environ.get("QMC_LOCKOUT_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("QMC_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username"]
QMC_LOCKOUT_IP_FAILURES = int(os.environ.get("QMC_LOCKOUT_IP_FAILURES", "100"))
AXES_HANDLER = "portal.lockout.AccountAndAddressHandler"
AXES_CLIENT_IP_CALLABLE = "portal.client_ip.client_ip"
# W006 warns that "username" alone lets one address try many accounts: the handler above limits
# each address too (QMC_LOCKOUT_IP_FAILURES), which axes' checks cannot see
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# second factor: roles that must have a verified TOTP device before reaching their pages
QMC_2FA_REQUIRED_ROLES = env_list("QMC_2FA_REQUIRED_ROLES", "clinician,admin")
OTP_TOTP_ISSUER = "QMedChain"
# never show a device's key or QR code in the admin (portal/admin.py replaces that admin anyway)
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# inactivity timeout: the session expires after this many idle seconds
SESSION_COOKIE_AGE = int(os.environ.get("QMC_SESSION_IDLE_SECONDS", "1800"))
# ...pushed back at most once a minute, not by a database write on every request
# (portal.middleware.SessionIdleRefreshMiddleware)
QMC_SESSION_REFRESH_SECONDS = int(os.environ.get("QMC_SESSION_REFRESH_SECONDS", "60"))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# cookies are per host, not per port: portals side by side on one host (`make network`) need
# cookie names of their own, or signing in to one signs you out of the others
SESSION_COOKIE_NAME = os.environ.get("QMC_COOKIE_PREFIX", "") + "sessionid"
CSRF_COOKIE_NAME = os.environ.get("QMC_COOKIE_PREFIX", "") + "csrftoken"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "qmedchain@localhost")
PASSWORD_RESET_TIMEOUT = 3600
# reset mails an hour: per target address (beyond it the page is the same, no mail goes out)
# and per client address (beyond it: 429)
QMC_RESET_PER_ACCOUNT = int(os.environ.get("QMC_RESET_PER_ACCOUNT", "3"))
QMC_RESET_PER_ADDRESS = int(os.environ.get("QMC_RESET_PER_ADDRESS", "20"))

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- storage of encrypted blobs ---
QMC_BLOB_DIR = Path(os.environ.get("QMC_BLOB_DIR", VAR_DIR / "blobs"))
IPFS_API_URL = os.environ.get("IPFS_API_URL", "")
# the scan pipeline's fault injection (imaging.pipeline.faults): the reliability tests' worker only
QMC_FAULTS = env_bool("QMC_FAULTS", False)
QMC_MAX_UPLOAD_BYTES = int(os.environ.get("QMC_MAX_UPLOAD_BYTES", str(64 * 1024 * 1024)))
QMC_MAX_PIXELS = int(os.environ.get("QMC_MAX_PIXELS", str(100_000_000)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# the file name a client sent is checked before Django shortens it (core/uploads.py)
FILE_UPLOAD_HANDLERS = [
    "core.uploads.RawFileNameCheck",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- DICOM and DICOMweb (imaging/dicom, imaging/dicomweb) ---
# root of the UIDs the portal makes (the secondary captures of PNG/JPEG uploads): an OID of our
# own under 2.25 (derived from a UUID, ISO/IEC 9834-8, no registration); a registered root may replace it
QMC_DICOM_UID_ROOT = os.environ.get("QMC_DICOM_UID_ROOT", "2.25.146476958164168800025404343699618027770.")
# origins (scheme://host[:port]) whose pages may call /dicomweb from the browser; none by default
QMC_DICOMWEB_CORS_ORIGINS = [
    o.strip() for o in os.environ.get("QMC_DICOMWEB_CORS_ORIGINS", "").split(",") if o.strip()
]
QMC_DICOMWEB_MAX_STOW_BYTES = int(
    os.environ.get("QMC_DICOMWEB_MAX_STOW_BYTES", str(4 * QMC_MAX_UPLOAD_BYTES))
)
QMC_DICOMWEB_MAX_RESULTS = int(os.environ.get("QMC_DICOMWEB_MAX_RESULTS", "1000"))  # QIDO page cap

# --- Celery: settings that keep work from being lost (ARCHITECTURE.md) ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
_fs_broker_dir = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_fs_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_fs_broker_dir / "queue"),
        "data_folder_out": str(_fs_broker_dir / "queue"),
        "processed_folder": str(_fs_broker_dir / "processed"),
        "control_folder": str(_fs_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Redis: a message taken but not acknowledged (acks_late) returns to the queue after this
    # long. It must exceed the longest a message is held: the hard time limit (600 s) plus the
    # longest retry countdown (QMC_SCAN_RETRY_BACKOFF_MAX, 120 s), or a slow task would run
    # twice. Recovery does not wait for it: the database sweep (imaging.leases) dispatches a
    # scan again within seconds of its worker's heartbeat stopping (README "Reliability").
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    # several nodes on one Redis database (the three-node tests): each node's keys under its prefix
    if os.environ.get("CELERY_BROKER_PREFIX"):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = os.environ["CELERY_BROKER_PREFIX"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# worker processes keep their database connection between tasks (portal/celery.py says how);
# Celery's fixup still replaces it after this many tasks
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "500"))
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600  # the pool process is killed; its scans are swept (heartbeat stops)
CELERY_TASK_SOFT_TIME_LIMIT = 540  # the scan is marked failed with a reason
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# on a lost broker connection a running task could not be acknowledged: it is stopped (its
# scan is dispatched again by the sweep), which also silences Celery's warning about it
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# the worker's consumer without Gossip (elections we do not use; it logged "Error on
# restarting Gossip: AttributeError" after every broker restart)
CELERY_WORKER_CONSUMER = "portal.celery:Consumer"
CELERY_BEAT_SCHEDULE: dict = {
    "heartbeat": {"task": "portal.heartbeat", "schedule": 60.0},
    "consents-sweep": {"task": "portal.consents_sweep", "schedule": 60.0},
    # signs and appends anything pending, then checkpoints every N entries or T seconds
    "ledger-checkpoint": {"task": "ledger.checkpoint", "schedule": 30.0},
    # each worker process sweeps every few seconds (imaging.leases); this is a backstop
    "imaging-requeue-stalled": {"task": "imaging.requeue_stalled", "schedule": 60.0},
}
LEDGER_ORIGIN = os.environ.get("LEDGER_ORIGIN", "qmedchain.local/ledger")
LEDGER_CHECKPOINT_EVERY = int(os.environ.get("LEDGER_CHECKPOINT_EVERY", "64"))
LEDGER_CHECKPOINT_SECONDS = int(os.environ.get("LEDGER_CHECKPOINT_SECONDS", "60"))
# ledger entries are signed in batches (ledger.services.schedule_append): by an append task
# this many seconds after an event is recorded (by a request or a worker), or inline every
# N-th scan of a worker
LEDGER_APPEND_DELAY = float(os.environ.get("LEDGER_APPEND_DELAY", "0.25"))
LEDGER_APPEND_BATCH = int(os.environ.get("LEDGER_APPEND_BATCH", "16"))
# worker processes (on PostgreSQL) sign and append on a thread of their own (ledger.appender)
LEDGER_APPENDER_THREAD = os.environ.get("LEDGER_APPENDER_THREAD", "1") == "1"
# threads that sign one append batch at once (pqcrypto's Falcon releases the GIL); 1 = in turn
LEDGER_SIGN_THREADS = int(os.environ.get("LEDGER_SIGN_THREADS", str(min(4, os.cpu_count() or 1))))
# one Falcon-512 signature per append batch, over the batch's Merkle root (README, "What each
# ledger signature covers"); "0" signs each entry on its own, as entries before batch signing
LEDGER_BATCH_SIGNING = os.environ.get("LEDGER_BATCH_SIGNING", "1") == "1"
# seconds a process keeps a bearer token's row (portal/api_client_selectors.py; dropped in
# every process when a token, client, policy or user changes); 0 reads it on every request
API_TOKEN_CACHE_SECONDS = float(os.environ.get("API_TOKEN_CACHE_SECONDS", "5"))
# the hospital network (federation/): this node's name, public base URL and witness name, the
# witness policy (Sigsum format; "" = a majority of the witness peers), outbound HTTP timeout
FEDERATION_NODE_NAME = os.environ.get("QMC_NODE_NAME", "QMedChain demo hospital")
FEDERATION_BASE_URL = os.environ.get("QMC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
FEDERATION_WITNESS_NAME = os.environ.get("QMC_WITNESS_NAME", f"{LEDGER_ORIGIN.split('/')[0]}/witness")
FEDERATION_POLICY_FILE = os.environ.get("QMC_WITNESS_POLICY", "")
FEDERATION_HTTP_TIMEOUT = float(os.environ.get("FEDERATION_HTTP_TIMEOUT", "5"))
FEDERATION_MONITOR_SECONDS = int(os.environ.get("FEDERATION_MONITOR_SECONDS", "30"))
# fetch the peers' checkpoints and gossip, compare them with what this node saw (federation.monitor)
CELERY_BEAT_SCHEDULE["federation-monitor"] = {
    "task": "federation.monitor_peers",
    "schedule": float(FEDERATION_MONITOR_SECONDS),
    "options": {"expires": float(FEDERATION_MONITOR_SECONDS)},  # a run that waited a period is stale
}
# push the newest checkpoint to every witness that has not cosigned it (federation.push): the
# catch-up after a witness was down, whatever became of the push task's retries
FEDERATION_PUSH_SECONDS = float(os.environ.get("FEDERATION_PUSH_SECONDS", "30"))
CELERY_BEAT_SCHEDULE["federation-push-pending"] = {
    "task": "federation.push_pending",
    "schedule": FEDERATION_PUSH_SECONDS,
    "options": {"expires": FEDERATION_PUSH_SECONDS},
}
# sync the peers' signed clinician directories: the remote clinicians patients here may grant
FEDERATION_DIRECTORY_SECONDS = float(os.environ.get("FEDERATION_DIRECTORY_SECONDS", "300"))
CELERY_BEAT_SCHEDULE["federation-sync-directories"] = {
    "task": "federation.sync_directories",
    "schedule": FEDERATION_DIRECTORY_SECONDS,
    "options": {"expires": FEDERATION_DIRECTORY_SECONDS},
}
# add-checkpoint requests a client address may make per minute (federation/views_protocol.py)
FEDERATION_WITNESS_PER_MINUTE = int(os.environ.get("QMC_WITNESS_PER_MINUTE", "600"))
QMC_BREAKGLASS_HOURS = int(os.environ.get("QMC_BREAKGLASS_HOURS", "4"))
# a clinician's patient searches (emergency access) per hour (portal/views_consent.py)
QMC_PATIENT_SEARCHES_PER_HOUR = int(os.environ.get("QMC_PATIENT_SEARCHES_PER_HOUR", "30"))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.ClientCredentialsAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.AuthenticatedWithScope"],
    "EXCEPTION_HANDLER": "core.api.errors.problem_exception_handler",
    # DRF's browsable pages allow inline styles (their templates have them): portal/api/renderers.py
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "portal.api.renderers.BrowsableAPIRenderer",
    ],
    # JSON nesting depth and numbers bounded (core/api/parsers.py); body size by DATA_UPLOAD_MAX_*
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "core.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.api.throttles.CountingAnonRateThrottle",
        "portal.api.throttles.CountingUserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("QMC_THROTTLE_ANON", "120/min"),
        "user": os.environ.get("QMC_THROTTLE_USER", "600/min"),
    },
    # the throttles' client address: the same rule as portal/client_ip.py (0 = REMOTE_ADDR only)
    "NUM_PROXIES": QMC_TRUSTED_PROXY_COUNT,
}
# OAuth2 client credentials for third-party systems (django-oauth-toolkit). Scopes per resource.
OAUTH2_PROVIDER = {
    "SCOPES": {
        "scans:read": "List and read scans, diagnoses and images the patient consented to",
        "scans:write": "Upload scans for patients who consented to uploads",
        "consents:read": "Read consents granted to this client",
        "ledger:read": "Read the public ledger",
        "history:read": "Read access history (patients only)",
        "lab:read": "Read quantum-lab runs",
        "lab:write": "Start quantum-lab runs",
    },
    "DEFAULT_SCOPES": ["scans:read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("QMC_TOKEN_SECONDS", "3600")),
    "PKCE_REQUIRED": True,
    # RFC 9700 (OAuth 2.0 Security BCP): refuse the legacy behaviours (bandit's B105 reads
    # the names with PASSWORD or TOKEN in them as passwords: these are flags)
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,  # nosec B105
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # nosec B105
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    # only administrator-registered, active clients get tokens, with the scopes their policy allows
    "OAUTH2_VALIDATOR_CLASS": "portal.oauth.PortalOAuth2Validator",
    "SCOPES_BACKEND_CLASS": "portal.oauth.PolicyScopes",
    "APPLICATION_ADMIN_CLASS": "portal.api_client_admin.ApiClientApplicationAdmin",
}
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# POSTs to /o/token/ (and /o/revoke_token/, /o/introspect/) per client id and per address; 429 beyond
QMC_TOKEN_RATE_PER_CLIENT = os.environ.get("QMC_TOKEN_RATE_PER_CLIENT", "20/min")
QMC_TOKEN_RATE_PER_ADDRESS = os.environ.get("QMC_TOKEN_RATE_PER_ADDRESS", "120/min")

SPECTACULAR_SETTINGS = {
    "TITLE": "QMedChain API",
    "DESCRIPTION": "Consent-governed sharing of medical images. Quantum components are simulations.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI from drf-spectacular-sidecar's static files: the docs page needs no CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- response headers, in every environment (Permissions-Policy, Cache-Control: portal/headers.py) ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# no inline script or style anywhere: pages load static/js and static/css only; the scan page's
# images are data: URIs. Inline styles only on the API docs page (portal/api/docs.py) and DRF's
# browsable API pages (portal/api/renderers.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# one line per record on stderr: JSON (timestamp, level, logger, message, request_id, task_id) by
# default in production, text in development; LOG_FORMAT=json|text chooses (core/logs.py)
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = logging_config(fmt=LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO"))
# an expected 403 (PermissionDenied) is one warning line, without a traceback (portal/log_filters.py)
LOGGING["filters"]["expected_refusals"] = {"()": "portal.log_filters.ExpectedRefusals"}
LOGGING["loggers"]["django.request"] = {"filters": ["expected_refusals"]}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
