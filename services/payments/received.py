"""A successful payment as a provider reports it, in one shape whatever the provider.

Each adapter (``wechatpay``, ``alipay``) checks what only it can (app id, merchant, trade
state, the amount's format) and hands over a ``ReceivedPayment``; ``checkout.record_payment``
then takes it in, the same way for every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.orders import PayChannel, PayProvider


class PaymentRejected(Exception):
    """The payment does not match our order; nothing was changed."""

    def __init__(self, outcome: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.outcome, self.message, self.status = outcome, message, status


@dataclass(frozen=True)
class ReceivedPayment:
    provider: PayProvider
    out_trade_no: str  # the number the provider knows the order by (one per channel)
    transaction_id: str  # WeChat Pay's transaction_id, Alipay's trade_no
    amount_fen: int
    success_time: datetime | None
    payer: str | None
    raw: dict[str, Any]
    # What the provider says of the product (WeChat Pay's trade_type); the attempt decides
    # when there is one.
    channel: PayChannel | None = None
