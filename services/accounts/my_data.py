"""我的数据: everything the platform holds about one learner, for the learner (PIPL's right
to access and copy).

``export`` gathers it as plain JSON-ready data, grouped as the privacy notice groups it:
the account and its WeChat binding, consents, study, orders and payments, invoices,
certificates, make-up applications, messages sent and deletion requests. Times are Beijing
time, money is in yuan. ``summary`` counts each group for the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from infra.extensions import db
from models.accounts import Learner, WechatBinding
from models.catalog import Chapter, Course, Plan
from models.certificates import Certificate
from models.enrollments import Enrollment
from models.invoices import Invoice
from models.makeup import MakeupApplication
from models.orders import Order, OrderSeat, Payment, Refund
from models.privacy import DeletionRequest
from models.study import ChapterProgress
from models.wechat import TemplateMessage
from services.accounts import privacy
from services.display import local_time, yuan
from services.errors import NotFound


def _time(moment: datetime | None) -> str | None:
    return local_time(moment, "%Y-%m-%d %H:%M:%S") if moment else None


def _learner(learner_id: int) -> Learner:
    learner = db.session.get(Learner, learner_id)
    if learner is None:
        raise NotFound("账号不存在。")
    return learner


def export(learner_id: int) -> dict[str, Any]:
    learner = _learner(learner_id)
    binding = db.session.scalar(select(WechatBinding).where(WechatBinding.learner_id == learner.id))
    seat_orders = select(OrderSeat.order_id).where(OrderSeat.learner_id == learner.id)
    orders = list(
        db.session.scalars(
            select(Order)
            .options(joinedload(Order.plan))
            .where(or_(Order.buyer_id == learner.id, Order.id.in_(seat_orders)))
            .order_by(Order.created_at)
        )
    )
    order_ids = [order.id for order in orders]
    payments = _rows(select(Payment).where(Payment.order_id.in_(order_ids)))
    refunds = _rows(select(Refund).where(Refund.order_id.in_(order_ids)))
    progress = db.session.execute(
        select(ChapterProgress, Chapter.title, Course.title, Plan.title)
        .join(Chapter, Chapter.id == ChapterProgress.chapter_id)
        .join(Course, Course.id == Chapter.course_id)
        .join(Plan, Plan.id == Course.plan_id)
        .where(ChapterProgress.learner_id == learner.id)
        .order_by(ChapterProgress.id)
    ).all()
    return {
        "说明": "专业技术人员继续教育公需科目平台保存的您的个人信息（导出时间 "
        + (_time(datetime.now().astimezone()) or "")
        + "）。",
        "账号": {
            "姓名": learner.name,
            "身份证号码": learner.id_number,
            "性别": learner.gender.label,
            "出生日期": learner.birth_date.isoformat(),
            "手机号码": learner.phone,
            "工作单位": learner.unit.name if learner.unit else None,
            "档案所在区县": learner.district.name if learner.district else None,
            "账号来源": learner.source.label,
            "注册时间": _time(learner.created_at),
            "最近登录": _time(learner.last_login_at),
        },
        "微信绑定": {"openid": binding.openid, "绑定时间": _time(binding.created_at)}
        if binding
        else None,
        "个人信息保护同意": [
            {
                "说明版本": consent.notice_version,
                "场合": "注册" if consent.occasion == privacy.REGISTER else "首次登录",
                "时间": _time(consent.consented_at),
                "地址": consent.ip,
            }
            for consent in privacy.consents_of(learner.id)
        ],
        "学习计划": [
            {
                "计划": enrollment.plan.title,
                "年度": enrollment.plan.year,
                "状态": enrollment.status.label,
                "已获学时": enrollment.earned_hours,
                "要求学时": enrollment.plan.required_hours,
                "完成时间": _time(enrollment.completed_at),
                "开通时间": _time(enrollment.created_at),
            }
            for enrollment in db.session.scalars(
                select(Enrollment)
                .options(joinedload(Enrollment.plan))
                .where(Enrollment.learner_id == learner.id)
                .order_by(Enrollment.created_at)
            )
        ],
        "章节学习记录": [
            {
                "计划": plan_title,
                "课程": course_title,
                "章节": chapter_title,
                "已观看秒数": row.covered_seconds,
                "计入学时的秒数": row.credited_seconds,
                "上次播放位置": row.last_position,
                "完成时间": _time(row.finished_at),
            }
            for row, chapter_title, course_title, plan_title in progress
        ],
        "订单": [
            {
                "订单号": order.out_trade_no,
                "计划": order.plan.title,
                "类型": order.kind.label,
                "本人下单": order.buyer_id == learner.id,
                "人数": order.seat_count,
                "金额（元）": yuan(order.amount_fen),
                "已退（元）": yuan(order.refunded_fen),
                "状态": order.status.label,
                "下单时间": _time(order.created_at),
                "支付时间": _time(order.paid_at),
            }
            for order in orders
        ],
        "支付记录": [
            {
                "订单号": _trade_no(orders, payment.order_id),
                "微信支付单号": payment.transaction_id,
                "金额（元）": yuan(payment.amount_fen),
                "支付时间": _time(payment.success_time),
            }
            for payment in payments
        ],
        "退款记录": [
            {
                "订单号": _trade_no(orders, refund.order_id),
                "金额（元）": yuan(refund.amount_fen),
                "原因": refund.reason,
                "状态": refund.status.label,
                "申请时间": _time(refund.created_at),
                "退款时间": _time(refund.succeeded_at),
            }
            for refund in refunds
        ],
        "发票": [
            {
                "抬头类型": invoice.title_type.label,
                "抬头": invoice.title,
                "税号": invoice.tax_code,
                "邮箱": invoice.email,
                "金额（元）": yuan(invoice.amount_fen),
                "状态": invoice.status.label,
                "发票号码": invoice.invoice_number,
                "申请时间": _time(invoice.created_at),
                "开具时间": _time(invoice.issued_at),
            }
            for invoice in _rows(
                select(Invoice).where(Invoice.learner_id == learner.id).order_by(Invoice.id)
            )
        ],
        "证书": [
            {
                "证书编号": certificate.number,
                "姓名": certificate.holder_name,
                "身份证号码": certificate.holder_id_number,
                "单位": certificate.unit_name,
                "计划": certificate.plan_title,
                "年度": certificate.year,
                "学时": certificate.hours,
                "状态": certificate.status.label,
                "发证时间": _time(certificate.issued_at),
            }
            for certificate in _rows(
                select(Certificate)
                .where(Certificate.learner_id == learner.id)
                .order_by(Certificate.id)
            )
        ],
        "补学申请": [
            {
                "年度": application.year,
                "方式": application.kind.label,
                "订单编号": application.order_no,
                "付款人": application.payer,
                "缴费时间": _time(application.paid_at),
                "缴费平台": application.platform,
                "原因": application.reason,
                "签名": application.signature,
                "截图": "已保存" if application.screenshot_path else None,
                "状态": application.status.label,
                "驳回原因": application.reject_reason,
                "提交时间": _time(application.created_at),
            }
            for application in _rows(
                select(MakeupApplication)
                .where(MakeupApplication.learner_id == learner.id)
                .order_by(MakeupApplication.id)
            )
        ],
        "微信通知": [
            {"类型": message.kind, "内容": message.payload, "时间": _time(message.created_at)}
            for message in _rows(
                select(TemplateMessage)
                .where(TemplateMessage.learner_id == learner.id)
                .order_by(TemplateMessage.id)
            )
        ],
        "删除申请": [
            {
                "状态": request.status.label,
                "原因": request.reason,
                "申请时间": _time(request.requested_at),
                "处理时间": _time(request.handled_at),
                "处理说明": request.note,
            }
            for request in _rows(
                select(DeletionRequest)
                .where(DeletionRequest.learner_id == learner.id)
                .order_by(DeletionRequest.id)
            )
        ],
    }


def _rows(statement: Any) -> list[Any]:
    return list(db.session.scalars(statement))


def _trade_no(orders: list[Order], order_id: int) -> str:
    return next((order.out_trade_no for order in orders if order.id == order_id), "")


def summary(learner_id: int) -> list[tuple[str, int]]:
    """Each group of ``export`` and how many entries it holds, for the page."""
    data = export(learner_id)
    counts = []
    for name, value in data.items():
        if name == "说明":
            continue
        if isinstance(value, list):
            counts.append((name, len(value)))
        else:
            counts.append((name, 0 if value is None else 1))
    return counts
