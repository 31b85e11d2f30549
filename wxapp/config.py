"""Configuration classes, chosen by ``APP_ENV`` and read from environment variables.

Production fails fast on missing secrets; only development falls back to SQLite and an
in-process Redis stand-in.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """The environment does not hold what this mode needs to start."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


def _pem(name: str) -> str:
    """A PEM value given inline or as a path to a file holding it."""
    raw = _env(name)
    if raw and not raw.startswith("-----BEGIN") and Path(raw).is_file():
        return Path(raw).read_text()
    return raw.replace("\\n", "\n")


class BaseConfig:
    APP_ENV = "production"
    DEBUG = False
    TESTING = False

    SECRET_KEY = ""
    SQLALCHEMY_DATABASE_URI = ""
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    REDIS_URL = ""
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
    MAX_CONTENT_LENGTH = 25 * 1024 * 1024

    WTF_CSRF_TIME_LIMIT = 8 * 3600
    # Flask-WTF's translations need Flask-Babel; WTForms' own Chinese ones are used instead
    # (see wxapp.register_extensions).
    WTF_I18N_ENABLED = False

    RATELIMIT_STORAGE_URI = ""
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "gx-limit"
    # Login and password reset: per client address and per account.
    LOGIN_LIMIT_PER_IP = "30 per minute;300 per hour"
    LOGIN_LIMIT_PER_ACCOUNT = "6 per 5 minutes;20 per hour"
    # The public certificate check, per client address (numbers are not to be enumerated).
    VERIFY_LIMIT_PER_IP = "20 per minute;200 per hour"

    # Who issues invoices: "staff" (the console; see services/paperwork/invoices.py for API providers).
    INVOICE_PROVIDER = "staff"

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

    WECHAT_PAY_MCHID = ""
    WECHAT_PAY_APIV3_KEY = ""
    WECHAT_PAY_CERT_SERIAL = ""
    WECHAT_PAY_PRIVATE_KEY = ""
    WECHAT_PAY_PUBLIC_KEY = ""
    WECHAT_PAY_PUBLIC_KEY_ID = ""
    WECHAT_PAY_API_BASE = "https://api.mch.weixin.qq.com"
    # Outside WeChat the pay page links here (the simulator's cashier); empty in production.
    WECHAT_PAY_CASHIER_URL = ""
    # Notifications whose Wechatpay-Timestamp is further than this from our clock are refused.
    WECHAT_PAY_NOTIFY_MAX_AGE = 300
    # Unpaid orders close after this many minutes (time_expire at WeChat Pay).
    ORDER_PAY_MINUTES = 30
    # Lines a designee may paste into one group purchase.
    GROUP_PURCHASE_MAX_LINES = 2000

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
            "TRUSTED_PROXIES": _env_int("TRUSTED_PROXIES", 0),
            "STORAGE_DIR": _env("STORAGE_DIR"),
            "STUDY_MEDIA_DIR": _env("STUDY_MEDIA_DIR"),
            "LOG_LEVEL": _env("LOG_LEVEL"),
            "SMS_PROVIDER": _env("SMS_PROVIDER"),
            "VERIFY_LIMIT_PER_IP": _env("VERIFY_LIMIT_PER_IP"),
            "INVOICE_PROVIDER": _env("INVOICE_PROVIDER"),
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
        }
        templates = {
            name.removeprefix("WECHAT_TEMPLATE_").lower(): value.strip()
            for name, value in os.environ.items()
            if name.startswith("WECHAT_TEMPLATE_") and value.strip()
        }
        if templates:
            values["WECHAT_TEMPLATE_IDS"] = templates
        return {key: value for key, value in values.items() if value}

    @classmethod
    def check(cls, config: dict[str, Any]) -> None:
        missing = [
            env_name
            for env_name, key in (
                ("SECRET_KEY", "SECRET_KEY"),
                ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"),
                ("REDIS_URL", "REDIS_URL"),
            )
            if not config.get(key)
        ]
        if missing:
            raise ConfigurationError(
                "production mode needs these environment variables: " + ", ".join(missing)
            )


# The simulator accepts any template id; these name the kinds for readable logs.
SIMULATOR_TEMPLATE_IDS = {
    kind: f"sim-template-{kind}"
    for kind in (
        "payment_received",
        "certificate_ready",
        "review_result",
        "invoice_issued",
        "deadline_reminder",
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
    WECHAT_TEMPLATE_IDS = SIMULATOR_TEMPLATE_IDS
    SMS_PROVIDER = "log"  # the code is in the server's log
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
        if not config["WECHAT_PAY_PRIVATE_KEY"]:
            # Keys shared with the simulator, generated once (see infra/pay_keys.py).
            from infra.pay_keys import load_or_create_pay_keys

            keys = load_or_create_pay_keys(PROJECT_ROOT / "instance")
            config.update(keys.platform_config())


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
    # Tests reach WeChat only through a simulator they start; anything else is refused at
    # once on a closed local port, never sent to the real hosts.
    WECHAT_API_BASE = WECHAT_OPEN_BASE = WECHAT_MP_BASE = "http://127.0.0.1:9"
    WECHAT_PAY_API_BASE = "http://127.0.0.1:9/pay"

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
        config["RATELIMIT_STORAGE_URI"] = config.get("REDIS_URL") or "memory://"
    cls.check(config)
    return config
