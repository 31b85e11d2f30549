"""Configuration classes, chosen by ``APP_ENV`` and read from environment variables.

Production fails fast: without its secrets and public address, with a short ``SECRET_KEY``
or an address that is not https. Every operational setting (``TUNABLES``) may be set from the
environment and is parsed and checked at start, each error naming its variable. Only
development falls back to SQLite and an in-process Redis stand-in. docs/operations.md lists
every variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """The environment does not hold what this mode needs to start."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _is_file(raw: str) -> bool:
    """Whether ``raw`` names a file; a key's bare base64 is no file name (and may be longer
    than a file name may be)."""
    try:
        return Path(raw).is_file()
    except OSError:
        return False


def _pem(name: str) -> str:
    """A PEM value given inline or as a path to a file holding it."""
    raw = _env(name)
    if raw and not raw.startswith("-----BEGIN") and _is_file(raw):
        return Path(raw).read_text()
    return raw.replace("\\n", "\n")


def _alipay_key(name: str, label: str) -> str:
    """An Alipay key as PEM: Alipay's console and key tool give the bare base64 body."""
    value = _pem(name)
    if value and "-----BEGIN" not in value:
        body = "".join(value.split())
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        value = f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
    return value


# Sessions, CSRF tokens and study tokens are signed with SECRET_KEY.
MIN_SECRET_KEY_LENGTH = 32


@dataclass(frozen=True)
class Tunable:
    """An operational setting a deployment may set from the environment variable of the same
    name. Its kind (whole number, number, true/false, seconds, text) is the kind of its
    default; numbers outside ``minimum``–``maximum`` are refused."""

    minimum: float | None = None
    maximum: float | None = None
    # For text: a check that returns what is wrong with a value, or None.
    check: Callable[[str], str | None] | None = None


def _rate_limits(raw: str) -> str | None:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        return "must be rate limits such as '20 per minute;200 per hour'"
    return None


def _pem_certificates_file(raw: str) -> str | None:
    if not _is_file(raw):
        return "names no file"
    if b"-----BEGIN CERTIFICATE-----" not in Path(raw).read_bytes():
        return "must be a PEM file of certificates (-----BEGIN CERTIFICATE-----)"
    return None


def _log_level(raw: str) -> str | None:
    names = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    return None if raw.upper() in names else "must be one of " + ", ".join(names)


def _queue_name(raw: str) -> str | None:
    return "must be a queue name without spaces" if any(c.isspace() for c in raw) else None


def _invoice_provider(raw: str) -> str | None:
    return None if raw in ("staff", "wechatpay") else "must be staff or wechatpay"


def _registry_adapter(raw: str) -> str | None:
    return None if raw in ("excel", "https") else "must be excel or https"


def _sentinels(raw: str) -> str | None:
    from infra.redis_client import parse_sentinels

    try:
        parse_sentinels(raw)
    except ValueError:
        return "must be Sentinel addresses such as 'redis-a:26379,redis-b:26379,redis-c:26379'"
    return None


# Every setting below is read from the environment in production and development (test mode
# reads only TEST_DATABASE_URL and TEST_REDIS_URL, so that a developer's shell never changes
# what the suite sees). docs/operations.md lists each with its default and meaning; a test
# keeps that list complete.
TUNABLES: dict[str, Tunable] = {
    # Web
    "TRUSTED_PROXIES": Tunable(minimum=0),
    "PERMANENT_SESSION_LIFETIME": Tunable(minimum=300),
    "STAFF_SESSION_IDLE_SECONDS": Tunable(minimum=60),
    "LEARNER_SESSION_IDLE_SECONDS": Tunable(minimum=60),
    "MAX_CONTENT_LENGTH": Tunable(minimum=1024 * 1024),
    "WTF_CSRF_TIME_LIMIT": Tunable(minimum=300),
    "LOG_LEVEL": Tunable(check=_log_level),
    "STORAGE_DIR": Tunable(),
    # PostgreSQL and Redis
    "DATABASE_PREPARED_STATEMENTS": Tunable(),
    "DATABASE_POOL_SIZE": Tunable(minimum=1),
    "DATABASE_MAX_OVERFLOW": Tunable(minimum=0),
    "DATABASE_POOL_TIMEOUT": Tunable(minimum=1),
    "REDIS_SENTINELS": Tunable(check=_sentinels),
    "REDIS_SENTINEL_MASTER": Tunable(check=_queue_name),
    # Rate limits
    "RATELIMIT_STORAGE_URI": Tunable(),
    "LOGIN_LIMIT_PER_IP": Tunable(check=_rate_limits),
    "LOGIN_LIMIT_PER_ACCOUNT": Tunable(check=_rate_limits),
    "VERIFY_LIMIT_PER_IP": Tunable(check=_rate_limits),
    # Providers and background jobs
    "SMS_PROVIDER": Tunable(),
    "SMS_DAILY_LIMIT_PER_PHONE": Tunable(minimum=1),
    "SMS_DAILY_LIMIT_PER_ADDRESS": Tunable(minimum=1),
    "INVOICE_PROVIDER": Tunable(check=_invoice_provider),
    "FAPIAO_TAX_CODE": Tunable(),
    "REGISTRY_ADAPTER": Tunable(check=_registry_adapter),
    "REGISTRY_TIMEOUT_SECONDS": Tunable(minimum=1),
    "REGISTRY_MAX_ATTEMPTS": Tunable(minimum=1),
    "CERTIFICATE_TSA_URL": Tunable(),
    "CERTIFICATE_TSA_TRUST_ROOTS": Tunable(check=_pem_certificates_file),
    "VERIFY_PDF_MAX_BYTES": Tunable(minimum=64 * 1024),
    "RQ_QUEUE": Tunable(check=_queue_name),
    # Retention (the retention command, docs/operations.md)
    "RETENTION_ROSTER_PREVIEW_DAYS": Tunable(minimum=1),
    "RETENTION_ROSTER_FILE_DAYS": Tunable(minimum=1),
    "RETENTION_VOUCHER_SCREENSHOT_DAYS": Tunable(minimum=1),
    "RETENTION_PAY_NOTIFY_SAMPLE_DAYS": Tunable(minimum=1),
    # Uploads
    "ROSTER_MAX_ROWS": Tunable(minimum=1),
    "ROSTER_MAX_FILE_BYTES": Tunable(minimum=1024),
    "ROSTER_MAX_UNCOMPRESSED_BYTES": Tunable(minimum=1024),
    # The official account
    "WECHAT_MESSAGE_MAX_BYTES": Tunable(minimum=1024),
    "WECHAT_DEDUPE_SECONDS": Tunable(minimum=20),
    "WECHAT_REPLY_WAIT_SECONDS": Tunable(minimum=0.5, maximum=4.5),
    "WECHAT_OAUTH_WECHAT_BROWSER_ONLY": Tunable(),
    "WECHAT_REMINDER_DAILY_QUOTA": Tunable(minimum=0),
    # Payments
    "WECHAT_PAY_NOTIFY_MAX_AGE": Tunable(minimum=30),
    "WECHAT_PAY_FAILOVER_SECONDS": Tunable(minimum=0),
    "PAY_NOTIFY_MAX_BYTES": Tunable(minimum=4096),
    "PAY_NOTIFY_SAMPLE_PER_HOUR": Tunable(minimum=0),
    "PAY_NOTIFY_SAMPLE_BODY_BYTES": Tunable(minimum=256),
    "ORDER_PAY_MINUTES": Tunable(minimum=5, maximum=7 * 24 * 60),
    "GROUP_PURCHASE_MAX_LINES": Tunable(minimum=1),
    "GROUP_LOOKUP_LIMIT_PER_LEARNER": Tunable(check=_rate_limits),
    "GROUP_LOOKUP_LIMIT_PER_ADDRESS": Tunable(check=_rate_limits),
    "GROUP_LOOKUP_AUDIT_LINES": Tunable(minimum=1),
    # The study ledger's rhythm and write-behind
    "STUDY_MEDIA_DIR": Tunable(),
    "STUDY_HEARTBEAT_SECONDS": Tunable(minimum=1),
    "STUDY_MIN_HEARTBEAT_SECONDS": Tunable(minimum=0),
    "STUDY_MAX_SEGMENT_SECONDS": Tunable(minimum=1),
    "STUDY_SLACK_SECONDS": Tunable(minimum=0),
    "STUDY_MAX_RATE": Tunable(minimum=1.0),
    "STUDY_QUESTION_MIN_SECONDS": Tunable(minimum=1),
    "STUDY_QUESTION_MAX_SECONDS": Tunable(minimum=1),
    "STUDY_QUESTION_TIMEOUT_SECONDS": Tunable(minimum=10),
    "STUDY_SESSION_IDLE_SECONDS": Tunable(minimum=60),
    "STUDY_FLUSH_INTERVAL_SECONDS": Tunable(minimum=1),
    "STUDY_FLUSH_BATCH": Tunable(minimum=1),
    "STUDY_SESSION_FLUSH_SECONDS": Tunable(minimum=1),
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _parse_tunable(name: str, raw: str, default: Any, tunable: Tunable) -> Any:
    """The environment's text as the kind of ``default``, or a ConfigurationError naming it."""
    value: Any
    if isinstance(default, bool):
        if raw.lower() not in _TRUE + _FALSE:
            raise ConfigurationError(f"{name} must be true or false (1/0, yes/no), got {raw!r}")
        return raw.lower() in _TRUE
    if isinstance(default, int | timedelta):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    elif isinstance(default, float):
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ConfigurationError(f"{name} must be a finite number, got {raw!r}")
    else:
        problem = tunable.check(raw) if tunable.check else None
        if problem:
            raise ConfigurationError(f"{name} {problem}, got {raw!r}")
        return raw.upper() if name == "LOG_LEVEL" else raw
    if tunable.minimum is not None and value < tunable.minimum:
        raise ConfigurationError(f"{name} must be at least {tunable.minimum:g}, got {raw!r}")
    if tunable.maximum is not None and value > tunable.maximum:
        raise ConfigurationError(f"{name} must be at most {tunable.maximum:g}, got {raw!r}")
    # Seconds, as Flask itself takes them for PERMANENT_SESSION_LIFETIME.
    return timedelta(seconds=value) if isinstance(default, timedelta) else value


def _tunables_from_environment(cls: type[BaseConfig]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, tunable in TUNABLES.items():
        raw = _env(name)
        if raw:
            values[name] = _parse_tunable(name, raw, getattr(cls, name), tunable)
    return values


def _check_study_rhythm(config: dict[str, Any]) -> None:
    """Settings that only make sense together (the player and the ledger share them)."""
    rules = (
        (
            "STUDY_MIN_HEARTBEAT_SECONDS",
            "STUDY_HEARTBEAT_SECONDS",
            config["STUDY_MIN_HEARTBEAT_SECONDS"] < config["STUDY_HEARTBEAT_SECONDS"],
            "must be less than",
        ),
        (
            "STUDY_HEARTBEAT_SECONDS",
            "STUDY_MAX_SEGMENT_SECONDS",
            config["STUDY_HEARTBEAT_SECONDS"] <= config["STUDY_MAX_SEGMENT_SECONDS"],
            "must not exceed",
        ),
        (
            "STUDY_HEARTBEAT_SECONDS",
            "STUDY_SESSION_IDLE_SECONDS",
            config["STUDY_HEARTBEAT_SECONDS"] < config["STUDY_SESSION_IDLE_SECONDS"],
            "must be less than",
        ),
        (
            "STUDY_QUESTION_MIN_SECONDS",
            "STUDY_QUESTION_MAX_SECONDS",
            config["STUDY_QUESTION_MIN_SECONDS"] <= config["STUDY_QUESTION_MAX_SECONDS"],
            "must not exceed",
        ),
    )
    for first, second, holds, relation in rules:
        if not holds:
            raise ConfigurationError(
                f"{first} ({config[first]}) {relation} {second} ({config[second]})"
            )


class BaseConfig:
    APP_ENV = "production"
    DEBUG = False
    TESTING = False

    SECRET_KEY = ""
    SQLALCHEMY_DATABASE_URI = ""
    # Statement parameters (phones, ID numbers, names) stay out of database errors and logs.
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    # psycopg prepares statements it runs often; PgBouncer in transaction pooling before 1.21
    # (or without max_prepared_statements) cannot keep them: turn them off behind it.
    DATABASE_PREPARED_STATEMENTS = True
    # Connections each process keeps, the extra it may open under load, and how long a request
    # waits for one before it is refused (503, in Chinese) rather than queueing without end.
    DATABASE_POOL_SIZE = 5
    DATABASE_MAX_OVERFLOW = 5
    DATABASE_POOL_TIMEOUT = 5  # whole seconds (Flask-SQLAlchemy passes it on as such)
    REDIS_URL = ""
    # Redis behind Sentinel: the Sentinels' addresses and the name of the primary they watch.
    # Every Redis user (the app, the write-behind, RQ, rate limits) then asks them for the
    # primary, and again after a failover; REDIS_URL then gives only the password and number.
    REDIS_SENTINELS = ""
    REDIS_SENTINEL_MASTER = "gx"
    # Development swaps the Redis client for an in-process stand-in.
    REDIS_STANDIN = False
    PUBLIC_BASE_URL = ""
    # Reverse proxies in front (nginx, a load balancer): how many X-Forwarded-* hops to trust.
    TRUSTED_PROXIES = 0

    SESSION_COOKIE_NAME = "gx_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    PERMANENT_SESSION_LIFETIME = timedelta(days=7)
    # Logins are held in Redis (services/accounts/sessions.py) and end when idle this long.
    STAFF_SESSION_IDLE_SECONDS = 30 * 60
    LEARNER_SESSION_IDLE_SECONDS = 2 * 3600
    MAX_CONTENT_LENGTH = 25 * 1024 * 1024

    WTF_CSRF_TIME_LIMIT = 8 * 3600
    # Flask-WTF's translations need Flask-Babel; WTForms' own Chinese ones are used instead
    # (see wxapp.register_extensions).
    WTF_I18N_ENABLED = False

    RATELIMIT_STORAGE_URI = ""
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "gx-limit"
    # Redis down: count in this process's memory instead (Flask-Limiter logs the switch and
    # goes back once Redis answers), never an error page; a Redis that hangs gives up soon.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2}
    # Failed logins and password resets: per account (an ID number and a phone of the same
    # account count together) — the real guard — and per client address, high enough for a
    # whole unit behind one NAT at the deadline.
    LOGIN_LIMIT_PER_IP = "100 per minute;1000 per hour"
    LOGIN_LIMIT_PER_ACCOUNT = "6 per 5 minutes;20 per hour"
    # The public certificate check, per client address (numbers are not to be enumerated).
    VERIFY_LIMIT_PER_IP = "20 per minute;200 per hour"

    # The key that signs certificate PDFs (services/paperwork/signing.py): a PKCS#12 file and
    # its password, or PEM files of the key, its certificate and the CA chain. Development and
    # the tests generate their own CA under the instance folder instead (CERTIFICATE_SIGNING_DEV_CA).
    CERTIFICATE_SIGNING_PKCS12 = ""
    CERTIFICATE_SIGNING_PKCS12_PASSWORD = ""
    CERTIFICATE_SIGNING_KEY = ""
    CERTIFICATE_SIGNING_KEY_PASSWORD = ""
    CERTIFICATE_SIGNING_CERT = ""
    CERTIFICATE_SIGNING_CHAIN = ""
    CERTIFICATE_SIGNING_DEV_CA = False
    # An RFC 3161 timestamp authority; empty: signatures carry the signer's clock only.
    CERTIFICATE_TSA_URL = ""
    # PEM file of the timestamp authorities' root certificates /verify trusts for timestamps.
    CERTIFICATE_TSA_TRUST_ROOTS = ""
    # The largest PDF the public check at /verify accepts.
    VERIFY_PDF_MAX_BYTES = 5 * 1024 * 1024

    # Who issues invoices: "staff" (the console) or "wechatpay" (WeChat Pay's fapiao API; see
    # services/paperwork/fapiao.py). The tax classification code of what is invoiced
    # (税收分类编码, 18-19 digits): 非学历教育服务.
    INVOICE_PROVIDER = "staff"
    FAPIAO_TAX_CODE = "3070201020000000000"

    # The provincial registry outbox (services/paperwork/registry.py): "excel" (batch files
    # staff upload) or "https" (signed JSON to REGISTRY_ENDPOINT, with retries).
    REGISTRY_ADAPTER = "excel"
    REGISTRY_ENDPOINT = ""
    REGISTRY_PLATFORM_ID = ""
    REGISTRY_SECRET = ""
    REGISTRY_TIMEOUT_SECONDS = 10
    REGISTRY_MAX_ATTEMPTS = 10

    # werkzeug's hash spec; scrypt with its defaults in production.
    PASSWORD_HASH_METHOD = "scrypt"

    # Files the platform keeps (certificates, uploads, reports): outside the web root.
    STORAGE_DIR = str(PROJECT_ROOT / "instance" / "storage")

    # Background jobs: RQ on the configured Redis; synchronous where no worker runs.
    RQ_QUEUE = "default"
    RQ_ASYNC = True

    # Text messages for 首次登录 codes (services/accounts/sms.py). None until a provider is
    # configured: production never writes codes to its log.
    SMS_PROVIDER = ""
    # Codes sent each day (Beijing time) to one phone, and asked for from one client address.
    SMS_DAILY_LIMIT_PER_PHONE = 5
    SMS_DAILY_LIMIT_PER_ADDRESS = 50

    # How long personal data is kept where nothing else needs it (``flask retention run``,
    # services/retention.py; the privacy notice quotes these): roster previews never
    # confirmed (uploads and reports with full ID numbers and phones), the files of imported
    # rosters, voucher screenshots once reviewed, samples of unverified pay notifications.
    RETENTION_ROSTER_PREVIEW_DAYS = 7
    RETENTION_ROSTER_FILE_DAYS = 30
    RETENTION_VOUCHER_SCREENSHOT_DAYS = 180
    RETENTION_PAY_NOTIFY_SAMPLE_DAYS = 14

    # Roster import (附件2): bounds that keep a hostile upload from exhausting a worker.
    ROSTER_MAX_ROWS = 20_000
    ROSTER_MAX_FILE_BYTES = 10 * 1024 * 1024
    # A 20,000-row roster inflates to about 6 MB; openpyxl may parse a sheet whole at load.
    ROSTER_MAX_UNCOMPRESSED_BYTES = 32 * 1024 * 1024

    WECHAT_APPID = ""
    WECHAT_SECRET = ""
    WECHAT_TOKEN = ""
    WECHAT_AES_KEY = ""
    WECHAT_API_BASE = "https://api.weixin.qq.com"
    WECHAT_OPEN_BASE = "https://open.weixin.qq.com"
    WECHAT_MP_BASE = "https://mp.weixin.qq.com"
    # The account's original id (原始ID, gh_…): messages addressed elsewhere are refused.
    WECHAT_ORIGINAL_ID = ""
    # Message pushes: largest body read, how long a MsgId is remembered, and how long a
    # retried push waits for the first one's answer (WeChat gives up after 5 s).
    WECHAT_MESSAGE_MAX_BYTES = 64 * 1024
    WECHAT_DEDUPE_SECONDS = 300
    WECHAT_REPLY_WAIT_SECONDS = 4.0
    # The OAuth entry only redirects WeChat's own browser (MicroMessenger) to WeChat;
    # other browsers go straight to the login page.
    WECHAT_OAUTH_WECHAT_BROWSER_ONLY = True
    # Template ids by message kind (see services/wechat/notify.py); WECHAT_TEMPLATE_<KIND> in the environment.
    WECHAT_TEMPLATE_IDS: dict[str, str] = {}
    # Deadline reminders sent a day at most, leaving the rest of WeChat's template quota
    # (100 000 a day by default) to payment, certificate and invoice messages.
    WECHAT_REMINDER_DAILY_QUOTA = 50_000

    WECHAT_PAY_MCHID = ""
    WECHAT_PAY_APIV3_KEY = ""
    WECHAT_PAY_CERT_SERIAL = ""
    WECHAT_PAY_PRIVATE_KEY = ""
    WECHAT_PAY_PUBLIC_KEY = ""
    WECHAT_PAY_PUBLIC_KEY_ID = ""
    WECHAT_PAY_API_BASE = "https://api.mch.weixin.qq.com"
    # WeChat Pay's backup host, used when the primary does not answer (empty: none).
    WECHAT_PAY_BACKUP_API_BASE = "https://api2.mch.weixin.qq.com"
    # After the primary failed to answer, calls go to the backup first for this long.
    WECHAT_PAY_FAILOVER_SECONDS = 60
    # The platform certificate (平台证书, PEM) while moving to public-key mode: WeChat Pay signs
    # with either during that week; each notification is checked with the key its serial names.
    WECHAT_PAY_PLATFORM_CERT = ""
    # Outside WeChat the pay page links here (the simulator's cashier); empty in production.
    WECHAT_PAY_CASHIER_URL = ""
    # Notifications whose Wechatpay-Timestamp is further than this from our clock are refused.
    WECHAT_PAY_NOTIFY_MAX_AGE = 300
    # What /pay/notify and /pay/refund-notify read and keep (services/payments/notifications.py):
    # the largest body, and of notifications that do not verify, a sample an hour per kind
    # with bodies cut short.
    PAY_NOTIFY_MAX_BYTES = 64 * 1024
    PAY_NOTIFY_SAMPLE_PER_HOUR = 10
    PAY_NOTIFY_SAMPLE_BODY_BYTES = 4096
    # Unpaid orders close after this many minutes (time_expire at WeChat Pay).
    ORDER_PAY_MINUTES = 30
    # Lines a designee may paste into one group purchase.
    GROUP_PURCHASE_MAX_LINES = 2000
    # Distinct ID numbers a group purchase may look up (services/payments/group_lookups.py),
    # and the size of a check that is written to the audit log.
    GROUP_LOOKUP_LIMIT_PER_LEARNER = "2500 per hour;5000 per day"
    GROUP_LOOKUP_LIMIT_PER_ADDRESS = "5000 per hour;20000 per day"
    GROUP_LOOKUP_AUDIT_LINES = 200

    # Alipay (开放平台 application, RSA2): unset ALIPAY_APP_ID and Alipay is not offered.
    ALIPAY_APP_ID = ""
    ALIPAY_PRIVATE_KEY = ""  # the application's private key
    ALIPAY_PUBLIC_KEY = ""  # Alipay's public key (支付宝公钥), not the application's
    ALIPAY_API_BASE = "https://openapi.alipay.com/gateway.do"

    # Mount the WeChat simulator at /_sim (development only).
    SIMULATOR_MOUNT = False

    LOG_LEVEL = "INFO"

    # The study ledger (services/study/rules.py). Media paths that are not absolute URLs are
    # served from STUDY_MEDIA_DIR (default: STORAGE_DIR/media).
    STUDY_MEDIA_DIR = ""
    STUDY_HEARTBEAT_SECONDS = 12  # what the player is told to keep
    STUDY_MIN_HEARTBEAT_SECONDS = 2  # closer heartbeats are refused (flood guard)
    STUDY_MAX_SEGMENT_SECONDS = 30  # one heartbeat never covers a longer stretch
    STUDY_SLACK_SECONDS = 5  # unused wall time carried to the next heartbeat, at most
    STUDY_MAX_RATE = 1.0  # faster playback covers nothing
    STUDY_QUESTION_MIN_SECONDS = 300  # 防挂机: watched time between two questions
    STUDY_QUESTION_MAX_SECONDS = 900
    STUDY_QUESTION_TIMEOUT_SECONDS = 180  # unanswered this long: the session pauses
    STUDY_SESSION_IDLE_SECONDS = 1800  # no heartbeat this long: the session has expired
    STUDY_FLUSH_INTERVAL_SECONDS = 2  # write-behind of credit to PostgreSQL
    STUDY_FLUSH_BATCH = 500
    # Sessions' evidence counters are written less often than credit (their loss bound).
    STUDY_SESSION_FLUSH_SECONDS = 10
    # Development runs the write-behind in a thread of the web process.
    STUDY_FLUSH_IN_PROCESS = False

    @classmethod
    def from_environment(cls) -> dict[str, Any]:
        """Values this mode takes from the environment (empty ones are left out)."""
        values: dict[str, Any] = {
            "SECRET_KEY": _env("SECRET_KEY"),
            "SQLALCHEMY_DATABASE_URI": _normalise_database_url(_env("DATABASE_URL")),
            "REDIS_URL": _env("REDIS_URL"),
            "PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL").rstrip("/"),
            "WECHAT_APPID": _env("WECHAT_APPID"),
            "WECHAT_SECRET": _env("WECHAT_SECRET"),
            "WECHAT_TOKEN": _env("WECHAT_TOKEN"),
            "WECHAT_AES_KEY": _env("WECHAT_AES_KEY"),
            "WECHAT_API_BASE": _env("WECHAT_API_BASE").rstrip("/"),
            "WECHAT_OPEN_BASE": _env("WECHAT_OPEN_BASE").rstrip("/"),
            "WECHAT_MP_BASE": _env("WECHAT_MP_BASE").rstrip("/"),
            "WECHAT_ORIGINAL_ID": _env("WECHAT_ORIGINAL_ID"),
            "WECHAT_PAY_MCHID": _env("WECHAT_PAY_MCHID"),
            "WECHAT_PAY_APIV3_KEY": _env("WECHAT_PAY_APIV3_KEY"),
            "WECHAT_PAY_CERT_SERIAL": _env("WECHAT_PAY_CERT_SERIAL"),
            "WECHAT_PAY_PRIVATE_KEY": _pem("WECHAT_PAY_PRIVATE_KEY"),
            "WECHAT_PAY_PUBLIC_KEY": _pem("WECHAT_PAY_PUBLIC_KEY"),
            "WECHAT_PAY_PUBLIC_KEY_ID": _env("WECHAT_PAY_PUBLIC_KEY_ID"),
            "WECHAT_PAY_API_BASE": _env("WECHAT_PAY_API_BASE").rstrip("/"),
            "WECHAT_PAY_BACKUP_API_BASE": _env("WECHAT_PAY_BACKUP_API_BASE").rstrip("/"),
            "WECHAT_PAY_PLATFORM_CERT": _pem("WECHAT_PAY_PLATFORM_CERT"),
            "ALIPAY_APP_ID": _env("ALIPAY_APP_ID"),
            "ALIPAY_PRIVATE_KEY": _alipay_key("ALIPAY_PRIVATE_KEY", "PRIVATE KEY"),
            "ALIPAY_PUBLIC_KEY": _alipay_key("ALIPAY_PUBLIC_KEY", "PUBLIC KEY"),
            "ALIPAY_API_BASE": _env("ALIPAY_API_BASE"),
            "REGISTRY_ENDPOINT": _env("REGISTRY_ENDPOINT"),
            "REGISTRY_PLATFORM_ID": _env("REGISTRY_PLATFORM_ID"),
            "REGISTRY_SECRET": _env("REGISTRY_SECRET"),
            "CERTIFICATE_SIGNING_PKCS12": _env("CERTIFICATE_SIGNING_PKCS12"),
            "CERTIFICATE_SIGNING_PKCS12_PASSWORD": _env("CERTIFICATE_SIGNING_PKCS12_PASSWORD"),
            "CERTIFICATE_SIGNING_KEY": _env("CERTIFICATE_SIGNING_KEY"),
            "CERTIFICATE_SIGNING_KEY_PASSWORD": _env("CERTIFICATE_SIGNING_KEY_PASSWORD"),
            "CERTIFICATE_SIGNING_CERT": _env("CERTIFICATE_SIGNING_CERT"),
            "CERTIFICATE_SIGNING_CHAIN": _env("CERTIFICATE_SIGNING_CHAIN"),
        }
        templates = {
            name.removeprefix("WECHAT_TEMPLATE_").lower(): value.strip()
            for name, value in os.environ.items()
            if name.startswith("WECHAT_TEMPLATE_") and value.strip()
        }
        if templates:
            values["WECHAT_TEMPLATE_IDS"] = templates
        present = {key: value for key, value in values.items() if value}
        # Set tunables count even when false or zero (TRUSTED_PROXIES=0, …_ONLY=false).
        return present | _tunables_from_environment(cls)

    @classmethod
    def check(cls, config: dict[str, Any]) -> None:
        missing = [
            env_name
            for env_name, key in (
                ("SECRET_KEY", "SECRET_KEY"),
                ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"),
                ("REDIS_URL", "REDIS_URL"),
                ("PUBLIC_BASE_URL", "PUBLIC_BASE_URL"),
            )
            if not config.get(key) and not (key == "REDIS_URL" and config.get("REDIS_SENTINELS"))
        ]
        if missing:
            raise ConfigurationError(
                "production mode needs these environment variables: " + ", ".join(missing)
            )
        problems = []
        if len(config["SECRET_KEY"]) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long "
                f"(it signs sessions, CSRF tokens and study tokens); it has "
                f"{len(config['SECRET_KEY'])}"
            )
        base = urlsplit(config["PUBLIC_BASE_URL"])
        if base.scheme != "https" or not base.hostname or base.query or base.fragment:
            problems.append(
                "PUBLIC_BASE_URL must be the https:// address learners reach, such as "
                "https://gx.example.cn (WeChat Pay's notify URL, OAuth's redirect and the "
                f"certificates' QR code are built from it); got {config['PUBLIC_BASE_URL']!r}"
            )
        if config["REGISTRY_ADAPTER"] == "https":
            registry = ("REGISTRY_ENDPOINT", "REGISTRY_PLATFORM_ID", "REGISTRY_SECRET")
            registry_missing = [name for name in registry if not config.get(name)]
            if registry_missing:
                problems.append(
                    "REGISTRY_ADAPTER=https needs " + ", ".join(registry_missing) + " too"
                )
            elif urlsplit(config["REGISTRY_ENDPOINT"]).scheme != "https":
                problems.append(
                    "REGISTRY_ENDPOINT must be an https:// address; got "
                    f"{config['REGISTRY_ENDPOINT']!r}"
                )
        alipay = ("ALIPAY_APP_ID", "ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")
        alipay_missing = [name for name in alipay if not config.get(name)]
        if alipay_missing and len(alipay_missing) < len(alipay):
            problems.append(
                "Alipay is half configured: set " + ", ".join(alipay_missing) + " too (or none "
                "of ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY, ALIPAY_PUBLIC_KEY to leave Alipay out)"
            )
        problems += _signing_problems(config)
        if problems:
            raise ConfigurationError("; ".join(problems))


def _signing_problems(config: dict[str, Any]) -> list[str]:
    """Files named for the signing key must exist; a key needs its certificate."""
    problems = []
    for name in (
        "CERTIFICATE_SIGNING_PKCS12",
        "CERTIFICATE_SIGNING_KEY",
        "CERTIFICATE_SIGNING_CERT",
        "CERTIFICATE_SIGNING_CHAIN",
    ):
        if config.get(name) and not _is_file(config[name]):
            problems.append(f"{name} names no file: {config[name]!r}")
    if bool(config.get("CERTIFICATE_SIGNING_KEY")) != bool(config.get("CERTIFICATE_SIGNING_CERT")):
        problems.append(
            "CERTIFICATE_SIGNING_KEY and CERTIFICATE_SIGNING_CERT go together (the key and "
            "its certificate, PEM files)"
        )
    return problems


# The simulator accepts any template id; these name the kinds for readable logs.
SIMULATOR_TEMPLATE_IDS = {
    kind: f"sim-template-{kind}"
    for kind in (
        "payment_received",
        "certificate_ready",
        "review_result",
        "invoice_issued",
        "deadline_reminder",
        "deadline_subscription",
        "study_withdrawn",
    )
}


class ProductionConfig(BaseConfig):
    pass


class DevelopmentConfig(BaseConfig):
    APP_ENV = "development"
    DEBUG = True
    SECRET_KEY = "development-only-secret-key"
    SQLALCHEMY_DATABASE_URI = f"sqlite:///{PROJECT_ROOT / 'instance' / 'dev.sqlite3'}"
    REDIS_STANDIN = True
    RATELIMIT_STORAGE_URI = "memory://"
    SESSION_COOKIE_SECURE = False
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    RQ_ASYNC = False
    SIMULATOR_MOUNT = True
    WECHAT_APPID = "wx0000000000dev01"
    WECHAT_SECRET = "development-secret"
    WECHAT_TOKEN = "devtoken"
    WECHAT_ORIGINAL_ID = "gh_0000000dev01"
    # The simulator's pages play WeChat's browser, so every browser takes the OAuth path.
    WECHAT_OAUTH_WECHAT_BROWSER_ONLY = False
    WECHAT_PAY_MCHID = "1900000001"
    ALIPAY_APP_ID = "2021000000000001"
    WECHAT_TEMPLATE_IDS = SIMULATOR_TEMPLATE_IDS
    SMS_PROVIDER = "log"  # the code is in the server's log
    CERTIFICATE_SIGNING_DEV_CA = True
    LOG_LEVEL = "DEBUG"
    # Demo chapters are a few minutes long: ask within the first one.
    STUDY_QUESTION_MIN_SECONDS = 20
    STUDY_QUESTION_MAX_SECONDS = 60
    STUDY_FLUSH_IN_PROCESS = True

    @classmethod
    def check(cls, config: dict[str, Any]) -> None:
        # Development talks to the simulator mounted in the same process, unless told otherwise.
        simulator = config["PUBLIC_BASE_URL"] + "/_sim"
        for key in ("WECHAT_API_BASE", "WECHAT_OPEN_BASE", "WECHAT_MP_BASE"):
            if config[key] == getattr(BaseConfig, key):
                config[key] = simulator
        if config["WECHAT_PAY_API_BASE"] == BaseConfig.WECHAT_PAY_API_BASE:
            config["WECHAT_PAY_API_BASE"] = simulator + "/pay"
            config["WECHAT_PAY_CASHIER_URL"] = simulator + "/pay/cashier"
        if config["WECHAT_PAY_BACKUP_API_BASE"] == BaseConfig.WECHAT_PAY_BACKUP_API_BASE:
            config["WECHAT_PAY_BACKUP_API_BASE"] = ""  # the simulator is in this process
        if config["ALIPAY_API_BASE"] == BaseConfig.ALIPAY_API_BASE:
            config["ALIPAY_API_BASE"] = simulator + "/alipay/gateway.do"
        if not config["REGISTRY_ENDPOINT"]:
            # The simulated registry and its development credentials (wechat_sim/registry.py).
            config["REGISTRY_ENDPOINT"] = simulator + "/registry/api/records"
            config["REGISTRY_PLATFORM_ID"] = config["REGISTRY_PLATFORM_ID"] or "GX-DEV-PLATFORM"
            config["REGISTRY_SECRET"] = (
                config["REGISTRY_SECRET"] or "development-registry-secret-0000"
            )
        # Keys shared with the simulator, generated once (see infra/pay_keys.py).
        from infra.pay_keys import load_or_create_alipay_keys, load_or_create_pay_keys

        if not config["WECHAT_PAY_PRIVATE_KEY"]:
            config.update(load_or_create_pay_keys(PROJECT_ROOT / "instance").platform_config())
        if not config["ALIPAY_PRIVATE_KEY"]:
            config.update(load_or_create_alipay_keys(PROJECT_ROOT / "instance").platform_config())


class TestConfig(BaseConfig):
    APP_ENV = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SESSION_COOKIE_SECURE = False
    PUBLIC_BASE_URL = "http://localhost"
    RQ_ASYNC = False
    WTF_CSRF_ENABLED = True
    # Fast hashes keep the suite quick; the algorithm is the same family.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
    WECHAT_APPID = "wx0000000000test1"
    WECHAT_SECRET = "test-secret"
    WECHAT_TOKEN = "testtoken"
    WECHAT_ORIGINAL_ID = "gh_00000000test"
    WECHAT_OAUTH_WECHAT_BROWSER_ONLY = False
    WECHAT_PAY_MCHID = "1900000001"
    WECHAT_TEMPLATE_IDS = SIMULATOR_TEMPLATE_IDS
    SMS_PROVIDER = "memory"
    CERTIFICATE_SIGNING_DEV_CA = True
    # Tests reach WeChat only through a simulator they start; anything else is refused at
    # once on a closed local port, never sent to the real hosts.
    WECHAT_API_BASE = WECHAT_OPEN_BASE = WECHAT_MP_BASE = "http://127.0.0.1:9"
    WECHAT_PAY_API_BASE = "http://127.0.0.1:9/pay"
    WECHAT_PAY_BACKUP_API_BASE = ""
    ALIPAY_APP_ID = "2021000000000009"
    ALIPAY_API_BASE = "http://127.0.0.1:9/alipay/gateway.do"

    @classmethod
    def from_environment(cls) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if _env("TEST_DATABASE_URL"):
            values["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(_env("TEST_DATABASE_URL"))
        if _env("TEST_REDIS_URL"):
            values["REDIS_URL"] = _env("TEST_REDIS_URL")
        return values

    @classmethod
    def check(cls, config: dict[str, Any]) -> None:
        if not config.get("SQLALCHEMY_DATABASE_URI") or not config.get("REDIS_URL"):
            raise ConfigurationError("test mode needs TEST_DATABASE_URL and TEST_REDIS_URL")


CONFIGS: dict[str, type[BaseConfig]] = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "test": TestConfig,
}


def _normalise_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _limiter_storage(config: dict[str, Any]) -> str:
    """Flask-Limiter counts where the app's Redis is: through the Sentinels when there are."""
    if config.get("REDIS_SENTINELS") and not config.get("REDIS_STANDIN"):
        url = urlsplit(config.get("REDIS_URL") or "redis://")
        auth = f":{url.password}@" if url.password else ""
        from infra.redis_client import parse_sentinels

        hosts = ",".join(f"{h}:{p}" for h, p in parse_sentinels(config["REDIS_SENTINELS"]))
        return f"redis+sentinel://{auth}{hosts}/{config['REDIS_SENTINEL_MASTER']}"
    return config.get("REDIS_URL") or "memory://"


def _engine_options(config: dict[str, Any]) -> dict[str, Any]:
    """SQLAlchemy's engine options: the pool's bounds and psycopg's prepared statements."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        options.setdefault("pool_size", config["DATABASE_POOL_SIZE"])
        options.setdefault("max_overflow", config["DATABASE_MAX_OVERFLOW"])
        options.setdefault("pool_timeout", config["DATABASE_POOL_TIMEOUT"])
        if not config["DATABASE_PREPARED_STATEMENTS"]:
            # psycopg 3: never prepare (PgBouncer hands each transaction another server).
            connect_args = dict(options.get("connect_args") or {})
            connect_args["prepare_threshold"] = None
            options["connect_args"] = connect_args
    return options


def build_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole configuration of one app: class defaults, then environment, then overrides."""
    overrides = dict(overrides or {})
    env_name = overrides.get("APP_ENV") or _env("APP_ENV") or "production"
    if env_name not in CONFIGS:
        raise ConfigurationError(f"APP_ENV must be one of {', '.join(CONFIGS)}; got {env_name!r}")
    cls = CONFIGS[env_name]
    config = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
    config.update(cls.from_environment())
    config.update(overrides)
    if not config.get("RATELIMIT_STORAGE_URI"):
        config["RATELIMIT_STORAGE_URI"] = _limiter_storage(config)
    if config["RATELIMIT_STORAGE_URI"].startswith("redis+sentinel://"):
        # The Sentinels themselves answer fast or not at all, like the primary.
        options = dict(config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        options.setdefault("sentinel_kwargs", {"socket_timeout": 1, "socket_connect_timeout": 1})
        config["RATELIMIT_STORAGE_OPTIONS"] = options
    cls.check(config)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(config)
    _check_study_rhythm(config)
    return config
