"""Web authorisation (snsapi_base): who is this WeChat user?"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wechatpy.exceptions import WeChatOAuthException

from services.errors import ExternalServiceError

log = logging.getLogger(__name__)

# invalid code, code been used, code expired
CODE_ERRORS = frozenset({40029, 40163, 42003})


class CodeRefused(ExternalServiceError):
    status_code = 400
    code = "oauth_code"


@dataclass(frozen=True)
class WechatIdentity:
    openid: str
    # A visitor of the Moments snapshot page (朋友圈快照页): not a real user.
    is_snapshotuser: bool


def authorize_url(redirect_uri: str, state: str) -> str:
    from infra.wechat_client import get_wechat_oauth

    return get_wechat_oauth(redirect_uri, state).authorize_url


def exchange_code(code: str, redirect_uri: str) -> WechatIdentity:
    """Trade the one-time code for the openid (WeChat accepts each code once, for 5 minutes)."""
    import requests

    from infra.wechat_client import get_wechat_oauth

    try:
        result = get_wechat_oauth(redirect_uri).fetch_access_token(code)
    except WeChatOAuthException as exc:
        if exc.errcode in CODE_ERRORS:
            log.info("OAuth code refused by WeChat (%s)", exc.errcode)
            raise CodeRefused("授权已失效，请从公众号菜单重新进入。") from exc
        log.warning("OAuth exchange failed: %s %s", exc.errcode, exc.errmsg)
        raise ExternalServiceError("微信授权暂时不可用，请稍后再试。") from exc
    except requests.RequestException as exc:
        log.warning("OAuth exchange failed: %s", exc)
        raise ExternalServiceError("微信授权暂时不可用，请稍后再试。") from exc
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or JSON without an openid
        log.warning("OAuth exchange gave an unreadable answer (%s)", type(exc).__name__)
        raise ExternalServiceError("微信授权暂时不可用，请稍后再试。") from exc
    return WechatIdentity(
        openid=result["openid"], is_snapshotuser=str(result.get("is_snapshotuser")) == "1"
    )
