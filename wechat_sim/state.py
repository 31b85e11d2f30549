"""What the simulated WeChat remembers: its users, tokens, codes, menu, QR codes and the
messages the platform sent. One instance per simulator app, safe across threads."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

ACCESS_TOKEN_SECONDS = 7200
# Fetching a new access_token leaves the previous one valid for five more minutes.
OLD_TOKEN_GRACE_SECONDS = 300
OAUTH_CODE_SECONDS = 300
# stable_token: the normal mode renews the token in its last five minutes; a forced refresh is
# allowed 20 times a day, 30 s apart, and retires the previous token after a grace period.
STABLE_RENEW_BEFORE_SECONDS = 300
FORCE_REFRESH_DAILY_LIMIT = 20
FORCE_REFRESH_INTERVAL_SECONDS = 30
FORCE_REFRESH_GRACE_SECONDS = 20
# Template messages a day per account (WeChat's default is 100 000; tests set it low).
TEMPLATE_DAILY_QUOTA = 100_000
# How long WeChat remembers a template message's client_msg_id.
CLIENT_MSG_ID_SECONDS = 600


class QuotaRefusal(Exception):
    """WeChat refuses a call over one of its limits, with its errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def _midnight(now: float) -> float:
    """The start of the day in Beijing time, when WeChat's daily quotas reset."""
    return now - (now + 8 * 3600) % 86400


@dataclass(frozen=True)
class SimUser:
    openid: str
    nickname: str
    note: str
    is_snapshotuser: bool = False


# The demo seed binds the first two to demo learners; the others start unbound.
DEMO_USERS = (
    SimUser("oDEMO_zhangwei", "张伟", "已绑定学员 张伟"),
    SimUser("oDEMO_lina", "李娜", "已绑定学员 李娜"),
    SimUser("oDEMO_guest1", "王芳", "未绑定（可注册或登录后绑定）"),
    SimUser("oDEMO_guest2", "刘洋", "未绑定（可注册或登录后绑定）"),
    SimUser("oDEMO_snapshot", "快照页用户", "朋友圈快照页，不是真实用户", is_snapshotuser=True),
)


@dataclass
class Token:
    value: str
    expires_at: float
    stable: bool = False  # from /cgi-bin/stable_token, kept apart from /cgi-bin/token's
    retired: bool = False  # a newer token replaced it: past its grace it is "not latest"
    refused: bool = False  # WeChat refuses it although stable_token still answers it


@dataclass
class OAuthCode:
    openid: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class SimState:
    users: dict[str, SimUser] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)
    tokens: dict[str, Token] = field(default_factory=dict)
    token_fetches: int = 0
    stable_token: Token | None = None
    stable_calls: int = 0
    # Times of the forced refreshes; the day's count is of those since the simulated midnight.
    forced_refreshes: list[float] = field(default_factory=list)
    force_refresh_grace: float = FORCE_REFRESH_GRACE_SECONDS
    jsapi_tickets: list[str] = field(default_factory=list)
    oauth_codes: dict[str, OAuthCode] = field(default_factory=dict)
    oauth_tokens: dict[str, OAuthCode] = field(default_factory=dict)
    menu: dict[str, Any] | None = None
    qrcodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    template_messages: list[dict[str, Any]] = field(default_factory=list)
    template_quota: int = TEMPLATE_DAILY_QUOTA
    # (openid, client_msg_id) → (msgid, when): a repeated id within ten minutes is not sent again.
    client_msg_ids: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    template_calls: int = 0
    # 订阅通知: consents given on the subscribemsg page, (openid, template_id) → notices allowed.
    subscribe_consents: dict[tuple[str, str], int] = field(default_factory=dict)
    subscribe_messages: list[dict[str, Any]] = field(default_factory=list)
    # Days added to the clock for the daily quotas (``next_day``), as if midnight had passed.
    days_ahead: int = 0
    custom_messages: list[dict[str, Any]] = field(default_factory=list)
    # Seconds every API call waits before answering (a slow WeChat, for tests).
    api_delay: float = 0.0
    # What the next template sends meet, one each (``fail_next_templates``): "late" (WeChat
    # takes the message but answers only after ``late_seconds``, past the caller's timeout)
    # or "unavailable" (HTTP 503, nothing taken).
    template_faults: list[str] = field(default_factory=list)
    late_seconds: float = 2.0
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def with_demo_users(cls) -> SimState:
        state = cls()
        for user in DEMO_USERS:
            state.users[user.openid] = user
            if not user.is_snapshotuser:
                state.subscribed.add(user.openid)
        return state

    # --- access tokens -------------------------------------------------------------
    def issue_token(
        self,
        seconds: int = ACCESS_TOKEN_SECONDS,
        *,
        stable: bool = False,
        grace: float = OLD_TOKEN_GRACE_SECONDS,
    ) -> Token:
        """A new token; the previous ones of the same endpoint stay valid ``grace`` seconds."""
        with self.lock:
            now = time.time()
            for old in self.tokens.values():
                if old.stable == stable and not old.retired:
                    old.expires_at = min(old.expires_at, now + grace)
                    old.retired = True
            token = Token("SIMTOKEN_" + secrets.token_urlsafe(24), now + seconds, stable)
            self.tokens[token.value] = token
            self.token_fetches += 1
            return token

    def stable(self, *, force_refresh: bool, seconds: int = ACCESS_TOKEN_SECONDS) -> Token:
        """``/cgi-bin/stable_token``: the current token, or a new one when forced or near its
        end. Raises ``QuotaRefusal`` when a forced refresh is over WeChat's limits."""
        with self.lock:
            now = time.time()
            self.stable_calls += 1
            current = self.stable_token
            if force_refresh:
                if self.forced_refreshes and now - self.forced_refreshes[-1] < (
                    FORCE_REFRESH_INTERVAL_SECONDS
                ):
                    raise QuotaRefusal(45011, "api minute-quota reach limit, retry after 30s")
                today = [t for t in self.forced_refreshes if t >= _midnight(now)]
                if len(today) >= FORCE_REFRESH_DAILY_LIMIT:
                    raise QuotaRefusal(45009, "reach max api daily quota limit")
                self.forced_refreshes.append(now)
                grace = self.force_refresh_grace
            elif (
                current is not None
                and current.value in self.tokens
                and current.expires_at - now > STABLE_RENEW_BEFORE_SECONDS
            ):
                return current
            else:
                grace = OLD_TOKEN_GRACE_SECONDS  # renewed at its end: the old one runs out anyway
            self.stable_token = self.issue_token(seconds, stable=True, grace=grace)
            return self.stable_token

    def check_token(self, value: str | None) -> tuple[int, str] | None:
        """``None`` when the token is good, else WeChat's (errcode, errmsg)."""
        if not value:
            return 41001, "access_token missing"
        with self.lock:
            token = self.tokens.get(value)
            if token is None or token.refused or (token.retired and token.expires_at < time.time()):
                return 40001, "invalid credential, access_token is invalid or not latest"
            if token.expires_at < time.time():
                return 42001, "access_token expired"
        return None

    def refuse_token(self, value: str) -> None:
        """WeChat stops accepting this token while stable_token's normal mode still answers
        it: only a forced refresh replaces it."""
        with self.lock:
            self.tokens[value].refused = True

    def revoke_tokens(self) -> None:
        """As when the secret is reset in the console: every token stops working at once."""
        with self.lock:
            self.tokens.clear()
            self.stable_token = None

    # --- OAuth ---------------------------------------------------------------------
    def issue_code(self, openid: str, scope: str) -> str:
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.oauth_codes[code] = OAuthCode(openid, scope, time.time() + OAUTH_CODE_SECONDS)
        return code

    def expire_codes(self) -> None:
        with self.lock:
            for code in self.oauth_codes.values():
                code.expires_at = 0

    # --- what the platform sent ------------------------------------------------------
    def record_template(self, message: dict[str, Any]) -> int:
        with self.lock:
            msgid = 1000000 + len(self.template_messages) + 1
            self.template_messages.append({**message, "msgid": msgid, "at": time.time()})
            return msgid

    def fail_next_templates(self, fault: str, count: int = 1) -> None:
        if fault not in ("late", "unavailable"):
            raise ValueError(f"unknown template fault {fault!r}")
        with self.lock:
            self.template_faults.extend([fault] * count)

    def take_template_fault(self) -> str | None:
        with self.lock:
            return self.template_faults.pop(0) if self.template_faults else None

    def send_template(self, message: dict[str, Any], client_msg_id: str | None) -> int:
        """The msgid of a template message WeChat accepts: the first one's for a repeated
        ``client_msg_id``; raises ``QuotaRefusal`` (45009) past the day's quota."""
        with self.lock:
            self.template_calls += 1
            now = time.time()
            key = (message["touser"], client_msg_id or "")
            if client_msg_id and key in self.client_msg_ids:
                msgid, at = self.client_msg_ids[key]
                if now - at < CLIENT_MSG_ID_SECONDS:
                    return msgid
            today = _midnight(now + self.days_ahead * 86400)
            sent_today = sum(1 for m in self.template_messages if m["day"] == today)
            if sent_today >= self.template_quota:
                raise QuotaRefusal(45009, "reach max api daily quota limit")
            msgid = self.record_template({**message, "day": today})
            if client_msg_id:
                self.client_msg_ids[key] = (msgid, now)
            return msgid

    def consent(self, openid: str, template_id: str) -> None:
        with self.lock:
            key = (openid, template_id)
            self.subscribe_consents[key] = self.subscribe_consents.get(key, 0) + 1

    def send_subscribed(self, message: dict[str, Any]) -> int:
        """A 订阅通知: one per consent; raises ``QuotaRefusal`` (43101) without one."""
        with self.lock:
            key = (message["touser"], message["template_id"])
            if self.subscribe_consents.get(key, 0) < 1:
                raise QuotaRefusal(43101, "user refuse to accept the msg")
            self.subscribe_consents[key] -= 1
            msgid = 2000000 + len(self.subscribe_messages) + 1
            self.subscribe_messages.append({**message, "msgid": msgid, "at": time.time()})
            return msgid

    def next_day(self) -> None:
        """Midnight passes: the daily quotas start again."""
        with self.lock:
            self.days_ahead += 1

    def record_custom(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.custom_messages.append({**message, "at": time.time()})

    def feed_for(self, openid: str) -> list[dict[str, Any]]:
        """What reached this user outside direct replies, oldest first."""
        with self.lock:
            items = [
                {"kind": "template", **m} for m in self.template_messages if m["touser"] == openid
            ] + [{"kind": "custom", **m} for m in self.custom_messages if m["touser"] == openid]
        return sorted(items, key=lambda item: item["at"])
