"""dcportal settings: one file, every value read from an environment variable.

The README lists every variable. Defaults run out of the box: SQLite under var/ and the
local cloud simulator (python -m dcsim) as the cloud.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from peerlinks.cloud.endpoints import check_region_name, parse_overrides
from peerlinks.encryption import key_from_secret_key, parse_keys

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "True")

# A key that only ever works with DEBUG on, so a forgotten SECRET_KEY cannot reach production.
_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off dcportal needs a real secret key: "
            "export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY is too weak for DEBUG off: use 32 or more random characters.")

# Credentials kept in the database are encrypted with FIELD_ENCRYPTION_KEYS (peerlinks/encryption.py):
# comma-separated Fernet keys, newest first. With DEBUG on and none set, a key derived from SECRET_KEY;
# with DEBUG off and none set, nothing can be stored and `manage.py check` warns (peerlinks.W004).
FIELD_ENCRYPTION_KEYS = parse_keys(os.environ.get("FIELD_ENCRYPTION_KEYS", ""))
if not FIELD_ENCRYPTION_KEYS and DEBUG:
    FIELD_ENCRYPTION_KEYS = [key_from_secret_key(SECRET_KEY)]

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    # Before django_tasks_db: Django takes a management command from the first app in this list that
    # has it, so `manage.py db_worker` is peerlinks' worker (it survives database outages and reports a
    # heartbeat), built on the library's.
    "peerlinks",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "mozilla_django_oidc",
    # The HTTP API (peerlinks/api): its interactive docs are drawn from ninja's own static files, not a CDN.
    "ninja",
]

MIDDLEWARE = [
    "peerlinks.middleware.RequestIdMiddleware",
    # What several parts of one page read (the accounts, their regions' syncs) is read once per GET.
    "peerlinks.per_request.OncePerRequestMiddleware",
    # A database outage answers a plain 503 page (drawn without the database), not a 500.
    "peerlinks.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the switcher's cookie, else the browser's Accept-Language (English when neither fits).
    "django.middleware.locale.LocaleMiddleware",
    # The time zone: the one chosen, else the browser's (set by static/js/timezone.js), else TIME_ZONE.
    "peerlinks.middleware.TimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # LOCAL_LOGIN off: a session opened with a password (before it was switched off) ends.
    "peerlinks.middleware.PasswordSessionsEndMiddleware",
    # A signed-in person's saved language and time zone, on any browser (before that: the browser's).
    "peerlinks.middleware.UserPreferencesMiddleware",
    "peerlinks.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dcportal.urls"
WSGI_APPLICATION = "dcportal.wsgi.application"

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
                "peerlinks.context_processors.nav_counts",
                "peerlinks.context_processors.cloud_status",
                "peerlinks.context_processors.time_zones",
                "peerlinks.context_processors.accounts",
            ],
        },
    },
]

VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'dcportal.sqlite3'}",
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, reading times with psycopg's compiled loader (dcportal/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "dcportal.postgresql"
    if envbool("DATABASE_PREPARED_STATEMENTS", "1"):
        # Values sent apart from the SQL, and a statement run a few times on a connection prepared there:
        # the server parses and plans it once, not on every request (every page's session, user and
        # navigation reads; a list's queries). Needs connections kept (DATABASE_CONN_MAX_AGE) to pay; off
        # behind a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
        DATABASES["default"].setdefault("OPTIONS", {})
        DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, making times aware in fewer steps (dcportal/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "dcportal.sqlite3"
    # Several processes (web, worker) share one SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", envfloat("SQLITE_TIMEOUT", 20.0))
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    # A write-ahead log: readers never wait for a writer (a sync's commit, a worker's recheck), and a commit
    # syncs one file instead of writing, syncing and deleting a rollback journal (an API request's rate
    # count: 3.7 -> 2.3 ms). synchronous=FULL keeps every commit through a power loss, as before. The file
    # must be on a local disk (the log's index is shared memory).
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "peerlinks:home"
LOGOUT_REDIRECT_URL = "login"

# English and Simplified Chinese; catalogs in locale/ (`make messages` updates and compiles them).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Times are shown in the viewer's zone (peerlinks.middleware.TimeZoneMiddleware); this one when the browser
# has not said which and none was chosen, and in mail.
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
# whitenoise serves static files from the web process. With DEBUG off they are the hashed, compressed
# copies `collectstatic` writes (run it before starting gunicorn); with DEBUG on, straight from static/.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security ---------------------------------------------------------------------------------
# With DEBUG off every protection is on unless an environment variable turns it off; `manage.py check
# --deploy` then has nothing to report. Behind a TLS proxy set SECURE_PROXY_SSL_HEADER (the header the
# proxy sets to "https", e.g. X-Forwarded-Proto) so redirects and secure cookies see the real scheme.
_PROD = "False" if DEBUG else "True"
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", _PROD)
# Load balancers probe over plain HTTP on the host's own address.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^readyz/work$"]
if os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip():
    _header = os.environ["SECURE_PROXY_SSL_HEADER"].strip().upper().replace("-", "_")
    SECURE_PROXY_SSL_HEADER = (_header if _header.startswith("HTTP_") else f"HTTP_{_header}", "https")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _PROD)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", _PROD)
# Error pages (DEBUG on) and error reports hide every credential, the cloud's AK/SK included.
DEFAULT_EXCEPTION_REPORTER_FILTER = "dcportal.error_reports.CredentialsHiddenFilter"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", _PROD)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", _PROD)
# Django's database sessions, each read by a query compiled once.
SESSION_ENGINE = "peerlinks.sessions"
# Sessions end after SESSION_COOKIE_AGE seconds (a working day by default) or when the browser closes.
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = envbool("SESSION_EXPIRE_AT_BROWSER_CLOSE", "True")

# Single sign-on (OpenID Connect through mozilla-django-oidc): on when OIDC_CLIENT_ID and the IdP's
# endpoints are set. Authorization code flow with PKCE (S256); the IdP's groups claim gives roles by
# OIDC_ROLE_GROUPS ({"idp-group": "Approver"}), set again at every login. The client secret is hidden
# from error pages (dcportal/error_reports.py hides anything named SECRET).
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_JWKS_ENDPOINT", "")
# The IdP's end_session_endpoint: logging out of dcportal logs out of the IdP too (RP-initiated logout).
OIDC_OP_LOGOUT_ENDPOINT = os.environ.get("OIDC_END_SESSION_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile groups")
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
try:
    OIDC_ROLE_GROUPS = json.loads(os.environ.get("OIDC_ROLE_GROUPS", "") or "{}")
except ValueError:
    raise ImproperlyConfigured('OIDC_ROLE_GROUPS must be JSON such as {"idp-group": "Approver"}') from None
# IdP groups named <prefix><role>-<account> (dcportal-approver-team-b) give a role for that account only.
OIDC_ACCOUNT_GROUP_PREFIX = os.environ.get("OIDC_ACCOUNT_GROUP_PREFIX", "dcportal-")
# The name the login page gives the IdP's button ("Log in with <name>").
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "")
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_STORE_ID_TOKEN = True  # the hint the IdP's logout needs
OIDC_OP_LOGOUT_URL_METHOD = "peerlinks.authentication.end_session_url"
OIDC_TIMEOUT = envfloat("OIDC_TIMEOUT", 10.0)
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
# LOCAL_LOGIN=off: no password logins at all (the login page and the admin's); single sign-on only.
LOCAL_LOGIN = envbool("LOCAL_LOGIN", "True")
if not LOCAL_LOGIN and not (OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT):
    raise ImproperlyConfigured("LOCAL_LOGIN is off and single sign-on is not set up: nobody could log in.")


def form_action_with_idp(endpoint: str) -> list[str]:
    """The CSP's form-action: this site, and the IdP's origin when logging out (a form) leads to it."""
    parts = urlsplit(endpoint)
    return ["'self'", f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else ["'self'"]


# Content Security Policy (django-csp 4): only this site's own scripts, styles and images, never framed.
# htmx is served from /static. htmx 2 adds one <style> element of its own (the .htmx-indicator rule);
# that exact text is allowed by its hash (htmx 2.0.x as vendored by django-htmx), nothing else inline.
# The browser test tests/e2e/test_csp.py fails if an upgrade changes it.
_HTMX_INDICATOR_STYLE = "'sha256-faU7yAF8NxuMTNEwVmBz+VcYeIoBQ2EMHW3WaVxCvnk='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", _HTMX_INDICATOR_STYLE],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": form_action_with_idp(OIDC_OP_LOGOUT_ENDPOINT),
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failures for one username from one address lock
# that pair out for LOGIN_COOLOFF_MINUTES. Attempts live in the database, so every web host sees them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Passwords (the break-glass admin), refused by the switch while LOCAL_LOGIN is off; then the IdP.
    "peerlinks.authentication.LocalLoginSwitch",
    "peerlinks.permissions.GlobalRolesBackend",
    # Roles held for one account (peerlinks.permissions): user.has_perm(perm, account).
    "peerlinks.permissions.AccountRoleBackend",
    "peerlinks.authentication.IdentityProviderBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
# The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies (each appending the address it
# saw to X-Forwarded-For) the entry the outermost one appended. Never the leftmost: the client writes that.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")
AXES_CLIENT_IP_CALLABLE = "dcportal.client_address.client_ip"
AXES_COOLOFF_TIME = envfloat("LOGIN_COOLOFF_MINUTES", 15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429

# LOG_FORMAT=json: one JSON object per line (for log shippers); plain lines otherwise. Both carry the
# request id (X-Request-ID) of the request being served.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "dcportal.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "dcportal.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes reports every login at INFO; lockouts (what matters) are warnings.
        "axes": {"level": "WARNING"},
    },
}

# --- The cloud -------------------------------------------------------------------------------
# CLOUD_ENDPOINT is either one base URL for every service (the simulator, the default) or a
# template with {service} and {region}: https://{service}.{region}.myhuaweicloud.com means Huawei Cloud,
# each host as the official SDK resolves it (peerlinks/cloud/endpoints.py).
CLOUD_ENDPOINT = os.environ.get("CLOUD_ENDPOINT", "http://127.0.0.1:8790")
# Overrides for special clouds: "service=url,service@region=url,..." (services dcaas, er, iam).
try:
    CLOUD_ENDPOINTS = parse_overrides(os.environ.get("CLOUD_ENDPOINTS", ""))
except ValueError as exc:
    raise ImproperlyConfigured(f"CLOUD_ENDPOINTS: {exc}") from None
# Regions whose global DC gateways dcportal manages.
# The account the CLOUD_* settings describe is the first cloud account (peerlinks.models.CloudAccount);
# this is its short name. Admins add more accounts on the Accounts page.
CLOUD_ACCOUNT_NAME = os.environ.get("CLOUD_ACCOUNT_NAME", "main")
CLOUD_REGIONS = envlist("CLOUD_REGIONS", "cn-north-4,cn-east-3,ap-southeast-1")
# Reading stays global unless this is on: then a user without a global role sees only the accounts where
# they hold a role (peerlinks.permissions.readable_accounts).
LIMIT_READING_TO_OWN_ACCOUNTS = envbool("LIMIT_READING_TO_OWN_ACCOUNTS", "False")
try:
    CLOUD_REGIONS = [check_region_name(region) for region in CLOUD_REGIONS]
except ValueError as exc:
    raise ImproperlyConfigured(f"CLOUD_REGIONS: {exc}") from None
# Optional fixed project IDs, "region=project_id,..."; regions not listed are looked up through IAM.
CLOUD_PROJECT_IDS = dict(item.split("=", 1) for item in envlist("CLOUD_PROJECT_IDS", "") if "=" in item)
# "aksk" signs every request with CLOUD_SDK_AK/CLOUD_SDK_SK; "token" uses an IAM user's token.
CLOUD_AUTH = os.environ.get("CLOUD_AUTH", "aksk")
# The official SDK samples' variable names. Without them, the simulator's published demo pair.
CLOUD_SDK_AK = os.environ.get("CLOUD_SDK_AK", "") or "DCSIMDEMOAK000000000"
CLOUD_SDK_SK = os.environ.get("CLOUD_SDK_SK", "") or "DcsimDemoSecretKeyNotForProduction000000"
CLOUD_IAM_USER = os.environ.get("CLOUD_IAM_USER", "")
CLOUD_IAM_PASSWORD = os.environ.get("CLOUD_IAM_PASSWORD", "")
CLOUD_IAM_DOMAIN = os.environ.get("CLOUD_IAM_DOMAIN", "")
CLOUD_CONNECT_TIMEOUT = envfloat("CLOUD_CONNECT_TIMEOUT", 5.0)
CLOUD_READ_TIMEOUT = envfloat("CLOUD_READ_TIMEOUT", 30.0)
CLOUD_MAX_RETRIES = envint("CLOUD_MAX_RETRIES", 3)
CLOUD_PAGE_SIZE = envint("CLOUD_PAGE_SIZE", 500)
if CLOUD_AUTH not in ("aksk", "token"):
    raise ImproperlyConfigured(f"CLOUD_AUTH must be 'aksk' or 'token', got {CLOUD_AUTH!r}")

# --- Background work ------------------------------------------------------------------------
# Django's Tasks API (django-tasks backport) with the database backend: `manage.py db_worker` runs
# them, `manage.py run_scheduler` enqueues the periodic sync. TASKS_BACKEND=immediate runs tasks inline.
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "database")
if TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be 'database' or 'immediate', got {TASKS_BACKEND!r}")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASKS_BACKEND]}}
# Seconds between full syncs of every region; between looks at a change being followed (and rounds of
# change upkeep); between re-checks of links still pending (one listing per gateway with a pending link,
# whoever is watching: 0.5 s, so with a page's 1 s poll a person sees a link turn ACTIVE within ~1.5 s).
SYNC_INTERVAL = envfloat("SYNC_INTERVAL", 60.0)
# Seconds a region's sync claim lasts unless renewed (a running sync renews it between pages): a worker
# killed mid-sync blocks that region this long at most, and a full sync waits this long at most for
# another sync of its region to finish.
SYNC_LEASE = envfloat("SYNC_LEASE", 60.0)
PENDING_RECHECK_INTERVAL = envfloat("PENDING_RECHECK_INTERVAL", 3.0)
PENDING_LINK_RECHECK_INTERVAL = envfloat("PENDING_LINK_RECHECK_INTERVAL", min(0.5, PENDING_RECHECK_INTERVAL))
# Seconds between an open page's looks at something still changing (an open change, a batch's rows), and
# between its one poll's looks at the navigation's counts and the cloud banner.
POLL_INTERVAL = envfloat("POLL_INTERVAL", 2.0)
# Seconds between a page's polls while it shows a pending link's badge (its one poll follows each badge):
# with the re-check above, a person sees a link turn ACTIVE within about 1.5 s of the cloud.
LIVE_FAST_POLL_INTERVAL = envfloat("LIVE_FAST_POLL_INTERVAL", 1.0)
# Cached data older than this many seconds is shown as stale.
STALE_AFTER = envfloat("STALE_AFTER", 300.0)
# A link still pending after this many seconds is listed as pending too long on the dashboard.
PENDING_TOO_LONG = envfloat("PENDING_TOO_LONG", 600.0)
# Seconds a drawn part of a page (the topology map, the link list's table and filters, the dashboard's
# counts and pending links) is kept by each web process under the version of the data it shows
# (peerlinks.data_version): every write moves the version, so this only bounds a change the version
# cannot see (a process killed between its commit and the version's move, an edit made by hand in the
# database). 0: every part drawn on every request.
DRAWN_PART_SECONDS = envfloat("DRAWN_PART_SECONDS", 60.0)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The drawn parts, in each process's memory: at most this many, a third dropped when full.
    "drawn_parts": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "drawn-parts",
        "OPTIONS": {"MAX_ENTRIES": 300},
    },
}

# --- Worker and scheduler processes (peerlinks.services.processes) ------------------------------
# Seconds between heartbeats of each worker and scheduler process.
TASK_HEARTBEAT_INTERVAL = envfloat("TASK_HEARTBEAT_INTERVAL", 10.0)
# A running task whose worker has not been heard from for this many seconds (or that has no heartbeat
# and started this long ago) is marked failed, "worker lost", by the scheduler; nothing re-runs it.
TASK_WORKER_LOST_AFTER = envfloat("TASK_WORKER_LOST_AFTER", 60.0)
# While the database does not answer, workers and the scheduler retry after 0.5 s, doubling up to this
# many seconds (with jitter), instead of exiting.
DATABASE_RETRY_MAX_DELAY = envfloat("DATABASE_RETRY_MAX_DELAY", 10.0)
# /readyz/work answers 503 when the newest worker or scheduler heartbeat is older than this, when a task
# due to run has waited longer than WORK_QUEUE_MAX_WAIT, or one has been running longer than
# WORK_RUNNING_MAX_AGE (seconds).
WORK_HEARTBEAT_MAX_AGE = envfloat("WORK_HEARTBEAT_MAX_AGE", 60.0)
WORK_QUEUE_MAX_WAIT = envfloat("WORK_QUEUE_MAX_WAIT", 300.0)
WORK_RUNNING_MAX_AGE = envfloat("WORK_RUNNING_MAX_AGE", 1800.0)

# --- Change requests ------------------------------------------------------------------------
# Approvals, expiry and change windows are the Policy row, edited in the admin (not settings).
# A change still "executing" this many seconds after its last sign of life is resumed (its worker died).
CHANGE_EXECUTION_LEASE = envfloat("CHANGE_EXECUTION_LEASE", 120.0)
# How long to follow a link to ACTIVE/ERROR (or to its disappearance) before the change ends as failed.
CHANGE_FOLLOW_TIMEOUT = envfloat("CHANGE_FOLLOW_TIMEOUT", 900.0)
# Executions tried on transient cloud errors before the change ends as failed.
CHANGE_MAX_ATTEMPTS = envint("CHANGE_MAX_ATTEMPTS", 6)

# --- HTTP API (/api/v1/, peerlinks/api) -------------------------------------------------------
# Requests per minute one API token may make; more are answered 429 with Retry-After.
API_RATE_LIMIT = envint("API_RATE_LIMIT", 120)
# Hours an Idempotency-Key is remembered: a retry within them gets the first answer again.
API_IDEMPOTENCY_HOURS = envfloat("API_IDEMPOTENCY_HOURS", 24.0)

# --- Email ------------------------------------------------------------------------------------
# Notifications: approvers on submission, requesters on decision, result and expiry. Without
# EMAIL_HOST mail goes to the console (the process log); with it, to that SMTP server.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
# A mail server that does not answer must not hold up the worker that notifies.
EMAIL_TIMEOUT = envfloat("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "dcportal <dcportal@localhost>")
# Where people reach dcportal: links in mails are absolute and start with this.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Webhooks and chat notifications (peerlinks/services/webhooks.py): a receiver gets WEBHOOK_TIMEOUT seconds
# to connect and to answer; a failed delivery is tried WEBHOOK_MAX_ATTEMPTS times in all, waiting
# WEBHOOK_RETRY_BASE seconds after the first failure, three times longer after each next one (at most an
# hour).
WEBHOOK_TIMEOUT = envfloat("WEBHOOK_TIMEOUT", 5.0)
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_RETRY_BASE = envfloat("WEBHOOK_RETRY_BASE", 30.0)
