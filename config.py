"""Configuration from the environment. Every setting has an embedded default so that
`make run` works on a fresh machine with no server: SQLite and the in-process job runner."""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def _secret_key() -> str:
    """A stable key per instance: generated once and kept outside the repository."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


class Config:
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'crm.sqlite3'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Unset: the embedded default, `flask crm serve` runs the scheduler and the jobs in-process.
    # Set: the web process never runs jobs; `flask crm scheduler` and `flask crm worker` do.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    SCHEDULER_INTERVAL = float(os.environ.get("SCHEDULER_INTERVAL", "1"))
    SCHEDULER_MAX_CLAIM = int(os.environ.get("SCHEDULER_MAX_CLAIM", "5000"))
    JOB_BATCH_SIZE = int(os.environ.get("JOB_BATCH_SIZE", "100"))
    JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "5"))
    JOB_RETRY_BASE_SECONDS = float(os.environ.get("JOB_RETRY_BASE_SECONDS", "30"))
    JOB_RETRY_MAX_SECONDS = float(os.environ.get("JOB_RETRY_MAX_SECONDS", "3600"))
    # A row handed to a worker this long ago and not finished is handed over again.
    JOB_LEASE_SECONDS = int(os.environ.get("JOB_LEASE_SECONDS", "120"))
    # Shorter than the lease: a job RQ gave up on is handed over again, not one still running.
    JOB_TIMEOUT = int(os.environ.get("JOB_TIMEOUT", "90"))
    # A worker beats this often, and is taken for dead (its job handed over) this long after
    # its last beat; a worker killed on this machine can be restarted under its name at once.
    WORKER_HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", "1"))
    WORKER_DEAD_SECONDS = int(os.environ.get("WORKER_DEAD_SECONDS", "5"))
    TIMEZONE = os.environ.get("TIMEZONE", "Europe/Moscow")
    # Office hours (local time, HH:MM) for "N working hours" and "N working days" deadlines.
    WORK_DAY_START = os.environ.get("WORK_DAY_START", "09:00")
    WORK_DAY_END = os.environ.get("WORK_DAY_END", "18:00")
    # When each working day's report tasks are created (local HH:MM); empty: WORK_DAY_START.
    REPORTS_CREATE_AT = os.environ.get("REPORTS_CREATE_AT", "")

    # Where the product is reached from outside: links in letters (an approval's decision
    # link) are built on it.
    BASE_URL = os.environ.get("BASE_URL", "http://localhost:5000")
    APPROVAL_LINK_MAX_AGE = int(os.environ.get("APPROVAL_LINK_MAX_AGE", str(7 * 24 * 3600)))
    # The payment service signs its notifications (POST /api/v1/payments/notify) with this
    # key: HMAC-SHA256 of the body in X-Signature. Unset: the endpoint does not exist.
    PAYMENT_WEBHOOK_SECRET = os.environ.get("PAYMENT_WEBHOOK_SECRET", "")
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_FROM = os.environ.get("SMTP_FROM", "crm@localhost")
    # SMTP_SSL: TLS from the first byte (port 465); SMTP_STARTTLS: upgrade a plain connection.
    SMTP_SSL = os.environ.get("SMTP_SSL", "").lower() in ("1", "true", "yes", "on")
    SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "").lower() in ("1", "true", "yes", "on")
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "10"))
    # "log": SMS are only written to the "crm.sms" log; "package.module:ClassName": a gateway.
    SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "log")

    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "attachments"))
    UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", str(20 * 1024 * 1024)))
    UPLOAD_ALLOWED_EXTENSIONS = os.environ.get(
        "UPLOAD_ALLOWED_EXTENSIONS",
        "pdf,doc,docx,xls,xlsx,odt,ods,txt,csv,png,jpg,jpeg,gif,zip",
    ).split(",")
    # Werkzeug refuses bodies over this with 413 before any view runs.
    MAX_CONTENT_LENGTH = UPLOAD_MAX_BYTES + 1024 * 1024
    # Deleted records stay this many days in «Корзина», then a daily job purges them.
    TRASH_RETENTION_DAYS = int(os.environ.get("TRASH_RETENTION_DAYS", "30"))

    # Flask-AppBuilder
    APP_NAME = "CRM"
    APP_THEME = ""
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "admin"
    AUTH_ROLE_PUBLIC = "public"
    AUTH_USER_REGISTRATION = False
    FAB_ADD_SECURITY_API = False  # its schemas break on marshmallow 4
    FAB_API_SWAGGER_UI = True
    FAB_UPDATE_PERMS = True
    BABEL_DEFAULT_LOCALE = "ru"
    BABEL_DEFAULT_TIMEZONE = TIMEZONE
    LANGUAGES = {"ru": {"flag": "ru", "name": "Русский"}}
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Production behind HTTPS: the session cookie never travels over plain HTTP.
    SESSION_COOKIE_SECURE = _flag("CRM_SECURE_COOKIES")
    # Behind N reverse proxies (nginx: 1) the client's address and scheme are read from
    # X-Forwarded-For/-Proto; without this every client looks like the proxy's address.
    PROXY_COUNT = int(os.environ.get("CRM_PROXY_COUNT", "0"))

    # Sign-in throttling (app/throttle.py): the N-th wrong password in a row locks the
    # account for M minutes; failed attempts from one address are limited too.
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "10"))
    LOGIN_LOCK_MINUTES = int(os.environ.get("LOGIN_LOCK_MINUTES", "15"))
    LOGIN_ADDRESS_LIMIT = os.environ.get("LOGIN_ADDRESS_LIMIT", "50 per 15 minutes")
    # Flask-Limiter (created by Flask-AppBuilder): counters in Redis when there is one, so
    # every web process shares them; a Redis outage lets logins through to the account lock.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = REDIS_URL or "memory://"
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = True
    PAGE_SIZE = 25
