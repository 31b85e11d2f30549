"""Which ways to pay a browser is offered, and why one may not be used there.

- Inside WeChat: WeChat Pay JSAPI. WeChat's own browser blocks Alipay's pages, so Alipay is
  not offered there; the page says so and how to use it (open the page in a browser).
- A phone browser outside WeChat: WeChat Pay H5 (MWEB, which opens the WeChat app) and
  Alipay 手机网站支付.
- A PC: WeChat Pay Native (a QR code to scan with WeChat) and Alipay 电脑网站支付.

Alipay is offered only where it is configured (``ALIPAY_*``). UnionPay is not offered
(docs/payments.md says why).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.pay_client import alipay_configured
from models.orders import PayChannel, PayProvider

ALIPAY_IN_WECHAT = (
    "微信内无法使用支付宝：请使用微信支付，或点击右上角“…”选择“在浏览器打开”后用支付宝付款。"
)


@dataclass(frozen=True)
class Browser:
    """What the pay page knows of the payer's browser."""

    in_wechat: bool  # WeChat's own browser (MicroMessenger)
    phone: bool  # a phone or tablet browser

    @classmethod
    def from_user_agent(cls, user_agent: str) -> Browser:
        agent = user_agent or ""
        phone_words = ("Mobile", "Android", "iPhone", "iPad", "HarmonyOS")
        return cls(
            in_wechat="MicroMessenger" in agent,
            phone=any(word in agent for word in phone_words),
        )


def offered_channels(browser: Browser) -> tuple[PayChannel, ...]:
    if browser.in_wechat:
        channels: tuple[PayChannel, ...] = (PayChannel.WECHAT_JSAPI,)
    elif browser.phone:
        channels = (PayChannel.WECHAT_H5, PayChannel.ALIPAY_WAP)
    else:
        channels = (PayChannel.WECHAT_NATIVE, PayChannel.ALIPAY_PAGE)
    if not alipay_configured():
        channels = tuple(c for c in channels if c.provider is not PayProvider.ALIPAY)
    return channels


def refusal(channel: PayChannel, browser: Browser) -> str | None:
    """Why ``channel`` cannot be used from this browser (None: it can)."""
    if channel.provider is PayProvider.ALIPAY:
        if browser.in_wechat:
            return ALIPAY_IN_WECHAT
        if not alipay_configured():
            return "支付宝支付暂未开通，请使用微信支付。"
    if channel is PayChannel.WECHAT_H5 and browser.in_wechat:
        return "在微信中请直接使用微信支付。"
    return None
