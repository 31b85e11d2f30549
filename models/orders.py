"""Orders, their seats, the ways they were offered for payment, payments (WeChat Pay or Alipay),
raw notifications, refunds and WeChat Pay consumer complaints. Money is in fen."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.accounts import Learner
from models.base import JSONType, Model, UTCDateTime, enum_type, utcnow
from models.catalog import Plan


class OrderKind(enum.StrEnum):
    INDIVIDUAL = "individual"  # 个人购买
    GROUP = "group"  # 团体购买

    @property
    def label(self) -> str:
        return "个人购买" if self is OrderKind.INDIVIDUAL else "团体购买"


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    CLOSED = "closed"  # expired or cancelled unpaid
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        return {
            OrderStatus.PENDING: "待支付",
            OrderStatus.PAID: "已支付",
            OrderStatus.CLOSED: "已关闭",
            OrderStatus.PARTIALLY_REFUNDED: "部分退款",
            OrderStatus.REFUNDED: "已退款",
        }[self]


class InvoiceChoice(enum.StrEnum):
    NOW = "now"  # 立即申请
    LATER = "later"  # 以后申请

    @property
    def label(self) -> str:
        return "立即申请" if self is InvoiceChoice.NOW else "以后申请"


class PayProvider(enum.StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"

    @property
    def label(self) -> str:
        return "微信支付" if self is PayProvider.WECHAT else "支付宝"


class PayChannel(enum.StrEnum):
    """How a payment was made: the provider and its product."""

    WECHAT_JSAPI = "wechat_jsapi"  # inside WeChat (公众号支付)
    WECHAT_NATIVE = "wechat_native"  # a QR code on a PC (Native 扫码支付)
    WECHAT_H5 = "wechat_h5"  # a phone browser outside WeChat (H5 / MWEB)
    ALIPAY_PAGE = "alipay_page"  # 电脑网站支付 (alipay.trade.page.pay)
    ALIPAY_WAP = "alipay_wap"  # 手机网站支付 (alipay.trade.wap.pay)

    @property
    def provider(self) -> PayProvider:
        return PayProvider.ALIPAY if self.value.startswith("alipay") else PayProvider.WECHAT

    @property
    def label(self) -> str:
        return {
            PayChannel.WECHAT_JSAPI: "微信支付（公众号）",
            PayChannel.WECHAT_NATIVE: "微信支付（扫码）",
            PayChannel.WECHAT_H5: "微信支付（H5）",
            PayChannel.ALIPAY_PAGE: "支付宝（电脑网站）",
            PayChannel.ALIPAY_WAP: "支付宝（手机网站）",
        }[self]

    @property
    def trade_no_suffix(self) -> str:
        """A channel's own merchant order number is the order's, with this after it: WeChat
        Pay refuses a second prepay of one out_trade_no by another product, and the order's
        own number stays the JSAPI one it always was."""
        return {
            PayChannel.WECHAT_JSAPI: "",
            PayChannel.WECHAT_NATIVE: "N",
            PayChannel.WECHAT_H5: "H",
            PayChannel.ALIPAY_PAGE: "P",
            PayChannel.ALIPAY_WAP: "W",
        }[self]


class Order(Model):
    __tablename__ = "orders"
    __table_args__ = (
        # One open individual order per learner and plan: ordering again reuses it.
        Index(
            "uq_orders_open_individual",
            "buyer_id",
            "plan_id",
            unique=True,
            postgresql_where=text("status = 'pending' AND kind = 'individual'"),
            sqlite_where=text("status = 'pending' AND kind = 'individual'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    kind: Mapped[OrderKind] = mapped_column(enum_type(OrderKind))
    seat_count: Mapped[int] = mapped_column(default=1)
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]
    refunded_fen: Mapped[int] = mapped_column(default=0)
    status: Mapped[OrderStatus] = mapped_column(
        enum_type(OrderStatus), default=OrderStatus.PENDING, index=True
    )
    invoice_choice: Mapped[InvoiceChoice] = mapped_column(
        enum_type(InvoiceChoice), default=InvoiceChoice.LATER
    )
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What staff should know about the order's history (a payment after closing, for example).
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    buyer: Mapped[Learner] = relationship()
    plan: Mapped[Plan] = relationship()
    seats: Mapped[list[OrderSeat]] = relationship(back_populates="order", order_by="OrderSeat.id")


class SeatStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REFUNDING = "refunding"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        return {
            SeatStatus.PENDING: "待支付",
            SeatStatus.ACTIVE: "已开通",
            SeatStatus.REFUNDING: "退款中",
            SeatStatus.REFUNDED: "已退款",
        }[self]


class OrderSeat(Model):
    """A learner an order pays for: the buyer alone, or every colleague of a group order."""

    __tablename__ = "order_seats"
    __table_args__ = (UniqueConstraint("order_id", "learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    status: Mapped[SeatStatus] = mapped_column(enum_type(SeatStatus), default=SeatStatus.PENDING)
    # The refund that takes (or took) this seat back; set while refunding and after.
    refund_id: Mapped[int | None] = mapped_column(
        ForeignKey("refunds.id", use_alter=True), index=True
    )

    order: Mapped[Order] = relationship(back_populates="seats")
    learner: Mapped[Learner] = relationship()


class PayAttempt(Model):
    """A channel an order was offered through (a prepay, a QR code, a cashier link): what is
    queried when a notification is late and closed when the order closes."""

    __tablename__ = "pay_attempts"
    __table_args__ = (UniqueConstraint("order_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    channel: Mapped[PayChannel] = mapped_column(enum_type(PayChannel))
    # The merchant order number the provider knows this attempt by (see trade_no_suffix).
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    # What the payer is sent to: the Native code_url, the H5 (MWEB) link, Alipay's cashier.
    pay_url: Mapped[str | None] = mapped_column(Text)
    pay_url_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship()


class PaymentSource(enum.StrEnum):
    NOTIFY = "notify"
    QUERY = "query"
    RECONCILE = "reconcile"

    @property
    def label(self) -> str:
        return {
            PaymentSource.NOTIFY: "支付通知",
            PaymentSource.QUERY: "主动查询",
            PaymentSource.RECONCILE: "对账补录",
        }[self]


class Payment(Model):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # WeChat Pay's transaction_id or Alipay's trade_no.
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[PayChannel] = mapped_column(
        enum_type(PayChannel), default=PayChannel.WECHAT_JSAPI, server_default="wechat_jsapi"
    )
    amount_fen: Mapped[int]
    # The payer at the provider: a WeChat openid, an Alipay buyer id.
    payer_openid: Mapped[str | None] = mapped_column(String(64))
    # A second payment of an order that was already paid (through another channel): it opens
    # nothing and is refunded in full at once.
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    success_time: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[PaymentSource] = mapped_column(enum_type(PaymentSource))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


_NOTIFICATION_KINDS = {
    "transaction": "支付结果",
    "refund": "退款结果",
    "alipay": "支付宝通知",
    "complaint": "消费者投诉",
}
_NOTIFICATION_OUTCOMES = {
    "received": "已收到",
    "ignored": "无需处理",
    "paid": "已入账",
    "late_paid": "关闭后入账",
    "duplicate": "重复通知，未作改动",
    "double_paid": "订单已由其他方式支付，已自动退款",
    "refunded": "退款成功",
    "processing": "退款处理中",
    "failed": "退款失败",
    "mismatch": "与订单不符，已拒绝",
    "unknown_order": "订单不存在，已拒绝",
    "wrong_serial": "证书序列号不符，已拒绝",
    "bad_signature": "验签失败，已拒绝",
    "stale": "时间戳过期，已拒绝",
    "undecryptable": "无法解密，已拒绝",
    "malformed": "格式不正确，已拒绝",
}


# The providers' event and trade states, as staff read them (WeChat Pay's event_type;
# Alipay's ``notify_type:trade_status``).
_EVENT_LABELS = {
    "TRANSACTION.SUCCESS": "支付成功",
    "REFUND.SUCCESS": "退款成功",
    "REFUND.ABNORMAL": "退款异常",
    "REFUND.CLOSED": "退款关闭",
    "COMPLAINT.CREATE": "新投诉",
    "COMPLAINT.STATE_CHANGE": "投诉状态变化",
    "TRADE_SUCCESS": "支付成功",
    "TRADE_FINISHED": "交易完结",
    "TRADE_CLOSED": "交易关闭",
    "WAIT_BUYER_PAY": "等待付款",
}


def event_label(event_type: str | None) -> str:
    """``TRANSACTION.SUCCESS`` → 支付成功; ``trade_status_sync:TRADE_SUCCESS`` → 支付成功."""
    if not event_type:
        return ""
    state = event_type.rpartition(":")[2]
    return _EVENT_LABELS.get(state) or _EVENT_LABELS.get(event_type) or event_type


class PayNotification(Model):
    """Every notification as received, whatever became of it, for audit."""

    __tablename__ = "pay_notifications"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # transaction | refund
    # WeChat Pay's notification id and event type (TRANSACTION.SUCCESS, REFUND.SUCCESS …).
    event_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(40))
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(255), default="")
    out_trade_no: Mapped[str | None] = mapped_column(String(32), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def kind_label(self) -> str:
        return _NOTIFICATION_KINDS.get(self.kind, self.kind)

    @property
    def outcome_label(self) -> str:
        return _NOTIFICATION_OUTCOMES.get(self.outcome, self.outcome)

    @property
    def event_label(self) -> str:
        return event_label(self.event_type)


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # recorded, not yet accepted by WeChat Pay
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {
            RefundStatus.REQUESTED: "待提交",
            RefundStatus.PROCESSING: "退款中",
            RefundStatus.SUCCESS: "退款成功",
            RefundStatus.FAILED: "退款失败",
        }[self]


class Refund(Model):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("order_seats.id"))
    # The payment the money goes back to (and so the provider); older rows: the order's.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    refund_id: Mapped[str | None] = mapped_column(String(32))
    amount_fen: Mapped[int]
    reason: Mapped[str] = mapped_column(String(80))
    status: Mapped[RefundStatus] = mapped_column(
        enum_type(RefundStatus), default=RefundStatus.REQUESTED
    )
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    last_error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the request last reached WeChat Pay (it is retried with the same out_refund_no).
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship()
    payment: Mapped[Payment | None] = relationship()


class ComplaintState(enum.StrEnum):
    """WeChat Pay's complaint states (消费者投诉 2.0)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"

    @property
    def label(self) -> str:
        return {
            ComplaintState.PENDING: "待处理",
            ComplaintState.PROCESSING: "处理中",
            ComplaintState.PROCESSED: "已处理完成",
        }[self]


class Complaint(Model):
    """A payer's complaint to WeChat Pay about one of our payments, as WeChat Pay last told it."""

    __tablename__ = "pay_complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[ComplaintState] = mapped_column(
        enum_type(ComplaintState), default=ComplaintState.PENDING, index=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    out_trade_no: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    problem_type: Mapped[str] = mapped_column(String(40), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Refund the payer asks for (problem_type REFUND), in fen.
    refund_asked_fen: Mapped[int | None] = mapped_column(Integer)
    complained_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # WeChat Pay's last answer about it (the complaint detail), kept whole.
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    order: Mapped[Order | None] = relationship()

    @property
    def asks_refund(self) -> bool:
        return self.problem_type == "REFUND"
