"""The official account's API clients (wechatpy), pointed at ``WECHAT_API_BASE`` and friends.

The access token comes from ``/cgi-bin/stable_token`` (POST JSON). In its normal mode that
endpoint answers the account's current token for as long as it is valid, so every worker, and
any other system holding the same appid, gets the same token; only a forced refresh
(``force_refresh: true``, which WeChat allows 20 times a day and once per 30 s) replaces it,
and that retires the previous token. So the token still lives in Redis for every worker and
machine, and only one of them refreshes it, under a Redis lock. A 40001 ("not the latest
token") makes a worker ask for a refresh *of the token it used*: if another worker already
replaced it, the new one is taken from Redis and nothing is fetched; otherwise the normal mode
is asked first (another system may have refreshed it) and only when WeChat still answers the
refused token is the refresh forced.

wechatpy 1.8.18 keeps the token's expiry per client instance and hard-codes the token and
``showqrcode`` URLs; the subclasses below replace exactly those parts.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import requests
from flask import current_app
from redis import Redis
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.client.api import WeChatJSAPI, WeChatQRCode
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from infra.redis_client import as_text, get_redis

log = logging.getLogger(__name__)

# invalid credential / invalid access_token / access_token expired
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Refresh this long before WeChat's own expiry, so no worker uses a token in its last minutes.
EXPIRY_MARGIN_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 4


class CredentialUnavailable(RuntimeError):
    """No worker managed to refresh the credential in time."""


# What a call to WeChat can fail with: WeChat's refusal, the network, or no token in time.
WECHAT_FAILURES = (WeChatClientException, requests.RequestException, CredentialUnavailable)


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, WeChatClientException) and exc.errcode is not None:
        return f"{exc.errcode}：{exc.errmsg}"
    if isinstance(exc, requests.RequestException):
        return "无法连接微信接口"
    return str(exc) or type(exc).__name__


class SharedCredential:
    """A short-lived credential cached in Redis for all workers, refreshed by one at a time."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        fetch: Callable[[str | None], tuple[str, int]],
        *,
        lock_seconds: float = 15,
        wait_seconds: float = 8,
    ) -> None:
        self.redis = redis
        self.key = key
        self.fetch = fetch
        self.lock_seconds = lock_seconds
        self.wait_seconds = wait_seconds

    def cached(self) -> str | None:
        value = self.redis.get(self.key)
        return as_text(value) if value else None

    def get(self) -> str:
        return self.cached() or self.refresh(stale=None)

    def refresh(self, stale: str | None) -> str:
        """A fresh value; ``stale`` is the one that failed (``None``: there was none).

        ``fetch`` is given ``stale`` too: it must not answer that value again."""
        with _RedisLock(self.redis, self.key + ":lock", self.lock_seconds, self.wait_seconds):
            current = self.cached()
            if current and current != stale:
                return current  # another worker refreshed it while we waited
            value, expires_in = self.fetch(stale)
            ttl = max(int(expires_in) - EXPIRY_MARGIN_SECONDS, 60)
            self.redis.set(self.key, value, ex=ttl)
            log.info("refreshed %s (valid %s s)", self.key, ttl)
            return value


class _RedisLock:
    """SET NX with a random owner token; released only by its owner (WATCH/MULTI, no Lua)."""

    def __init__(self, redis: Redis, key: str, lock_seconds: float, wait_seconds: float) -> None:
        self.redis = redis
        self.key = key
        self.lock_ms = int(lock_seconds * 1000)
        self.wait_seconds = wait_seconds
        self.owner = secrets.token_hex(8)

    def __enter__(self) -> _RedisLock:
        deadline = time.monotonic() + self.wait_seconds
        while not self.redis.set(self.key, self.owner, nx=True, px=self.lock_ms):
            if time.monotonic() > deadline:
                raise CredentialUnavailable(f"timed out waiting for {self.key}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self.key)
                if pipe.get(self.key) == self.owner.encode():
                    pipe.multi()
                    pipe.delete(self.key)
                    pipe.execute()
                else:
                    pipe.unwatch()
            except Exception:  # the lock expires on its own; never hide the real outcome
                log.warning("could not release %s", self.key, exc_info=True)


class PlatformQRCode(WeChatQRCode):
    """``showqrcode`` lives on the mp host, which the configuration names."""

    def show(self, ticket: str | dict[str, Any]) -> requests.Response:
        if isinstance(ticket, dict):
            ticket = ticket["ticket"]
        response = requests.get(
            self._client.mp_base + "/cgi-bin/showqrcode",
            params={"ticket": ticket},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        return response

    def get_url(self, ticket: str | dict[str, Any]) -> str:
        from urllib.parse import quote

        value: str = ticket["ticket"] if isinstance(ticket, dict) else ticket
        return f"{self._client.mp_base}/cgi-bin/showqrcode?ticket={quote(value)}"


class PlatformJSAPI(WeChatJSAPI):
    def get_jsapi_ticket(self) -> str:
        return self._client.jsapi_ticket.get()


class PlatformWeChatClient(WeChatClient):
    """wechatpy's client with the token, the jsapi_ticket and the base URLs shared and configured."""

    qrcode = PlatformQRCode()
    jsapi = PlatformJSAPI()

    def __init__(
        self, appid: str, secret: str, *, redis: Redis, api_base: str, mp_base: str
    ) -> None:
        super().__init__(
            appid,
            secret,
            session=RedisStorage(redis, prefix="wechat"),
            timeout=HTTP_TIMEOUT_SECONDS,
            auto_retry=False,
        )
        self.api_base = api_base.rstrip("/")
        self.mp_base = mp_base.rstrip("/")
        self.API_BASE_URL = self.api_base + "/cgi-bin/"
        self.token = SharedCredential(redis, f"wechat:{appid}:access_token", self._fetch_token)
        self.jsapi_ticket = SharedCredential(
            redis, f"wechat:{appid}:jsapi_ticket", self._fetch_jsapi_ticket
        )

    @property
    def access_token(self) -> str:
        return self.token.get()

    def fetch_access_token(self) -> dict[str, Any]:
        """Kept for wechatpy callers: refresh unconditionally, share the result."""
        return {"access_token": self.token.refresh(stale=self.token.cached())}

    def _fetch_token(self, stale: str | None) -> tuple[str, int]:
        value, expires_in = self._stable_token(force_refresh=False)
        if stale is not None and value == stale:
            # WeChat still holds the token it refused (40001): only now is a forced refresh due.
            log.info("WeChat still answers the refused token; forcing a refresh")
            value, expires_in = self._stable_token(force_refresh=True)
        return value, expires_in

    def _stable_token(self, *, force_refresh: bool) -> tuple[str, int]:
        response = self._http.post(
            self.api_base + "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": force_refresh,
            },
            timeout=self.timeout,
        )
        result = self._handle_result(response)
        if not isinstance(result, dict) or "access_token" not in result:
            raise WeChatClientException(None, "no access_token in answer", client=self)
        return result["access_token"], int(result.get("expires_in", 7200))

    def _fetch_jsapi_ticket(self, stale: str | None) -> tuple[str, int]:
        result = self.jsapi.get_ticket("jsapi")
        return result["ticket"], int(result.get("expires_in", 7200))

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = dict(kwargs.pop("params", None) or {})
        if "access_token" in params:  # a caller-supplied token is used as given
            return super()._request(method, url_or_endpoint, params=params, **kwargs)
        token = self.access_token
        try:
            return super()._request(
                method, url_or_endpoint, params={**params, "access_token": token}, **kwargs
            )
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("WeChat refused the access token (%s); refreshing once", exc.errcode)
            token = self.token.refresh(stale=token)
            return super()._request(
                method, url_or_endpoint, params={**params, "access_token": token}, **kwargs
            )


def get_wechat_client() -> PlatformWeChatClient:
    client = current_app.extensions.get("wechat_client")
    if client is None:
        config = current_app.config
        client = PlatformWeChatClient(
            config["WECHAT_APPID"],
            config["WECHAT_SECRET"],
            redis=get_redis(),
            api_base=config["WECHAT_API_BASE"],
            mp_base=config["WECHAT_MP_BASE"],
        )
        current_app.extensions["wechat_client"] = client
    return client


class PlatformOAuth(WeChatOAuth):
    """Web authorisation (网页授权) with the hosts taken from the configuration."""

    def __init__(self, *args: Any, api_base: str, open_base: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.API_BASE_URL = api_base.rstrip("/") + "/"
        self.OAUTH_BASE_URL = open_base.rstrip("/") + "/connect/"

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        return super()._request(method, url_or_endpoint, **kwargs)


def get_wechat_oauth(redirect_uri: str, state: str = "") -> PlatformOAuth:
    config = current_app.config
    return PlatformOAuth(
        config["WECHAT_APPID"],
        config["WECHAT_SECRET"],
        redirect_uri,
        scope="snsapi_base",
        state=state,
        api_base=config["WECHAT_API_BASE"],
        open_base=config["WECHAT_OPEN_BASE"],
    )
