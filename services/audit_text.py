"""The audit log as staff read it: each action's name in Chinese, the object it touched, and
its before/after as labelled values (amounts in yuan, states in words, times local)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.catalog import PlanKind
from models.certificates import CertificateStatus
from models.invoices import InvoiceStatus
from models.makeup import ReviewStatus
from models.orders import OrderStatus, PayChannel
from models.roster import RosterImportStatus
from models.staff import AuditLog, StaffRole
from services.display import local_time, yuan

ACTIONS: dict[str, str] = {
    "certificate.reissue": "补发证书",
    "certificate.revoke": "作废证书",
    "chapter.create": "新增章节",
    "chapter.update": "修改章节",
    "chapter.delete": "删除章节",
    "complaint.reply": "回复消费者投诉",
    "complaint.complete": "完结消费者投诉",
    "complaint.refund": "同意投诉退款",
    "course.create": "新增课程",
    "course.update": "修改课程",
    "course.delete": "删除课程",
    "group_purchase.check": "团体购买名单核验",
    "invoice.issue": "开具发票",
    "invoice.reverse": "发票红冲",
    "invoice.retry_reversal": "重新发起发票红冲",
    "learner.change_phone": "修改学员手机号码",
    "learner.correct_name": "更正学员姓名",
    "learner.deletion_request": "学员申请删除个人信息",
    "learner.deletion_declined": "不予删除个人信息",
    "learner.erase": "删除学员个人信息",
    "learner.reset_password": "重置学员密码",
    "learner.reveal": "查看完整号码",
    "learner.unbind_wechat": "解除学员微信绑定",
    "makeup.approve": "补学审核通过",
    "makeup.reject": "补学审核不通过",
    "order.refund": "发起退款",
    "order.refund.auto": "自动退款（重复支付）",
    "order.refund.succeeded": "退款成功",
    "plan.create": "新增学习计划",
    "plan.update": "修改学习计划",
    "question.create": "新增题目",
    "question.update": "修改题目",
    "question.enable": "启用题目",
    "question.disable": "停用题目",
    "registry.batch": "生成学时上报批次",
    "registry.confirm": "确认学时上报批次已上传",
    "registry.resend": "重新上报学时",
    "retention.delete": "到期数据删除",
    "roster.preview": "名单导入预检",
    "roster.import": "名单导入",
    "roster.report_download": "下载名单核对结果",
    "staff.create": "新建工作人员账号",
    "staff.activate": "启用工作人员账号",
    "staff.deactivate": "停用工作人员账号",
    "staff.reset_password": "重置工作人员密码",
    "unit.create": "新增单位",
    "unit.update": "修改单位",
    "wechat.menu_push": "推送公众号菜单",
    "wechat.menu_save": "保存公众号菜单",
    "wechat.menu_reset": "公众号菜单恢复默认",
    "wechat.poster": "生成二维码海报",
    "reminders.send": "发送截止提醒",
}

TARGETS: dict[str, str] = {
    "certificate": "证书",
    "chapter": "章节",
    "complaint": "消费者投诉",
    "course": "课程",
    "invoice": "发票",
    "learner": "学员",
    "makeup_application": "补学申请",
    "order": "订单",
    "plan": "学习计划",
    "question": "题目",
    "registry_batch": "学时上报批次",
    "registry_record": "学时上报记录",
    "roster_import": "名单导入",
    "staff_user": "工作人员",
    "unit": "单位",
    "wechat_menu": "公众号菜单",
    "wechat_qrcode": "二维码",
    "roster_previews": "未确认的名单预检",
    "roster_files": "已导入名单的文件",
    "voucher_screenshots": "补学缴费凭证截图",
    "pay_notification_samples": "未通过验签的支付通知样本",
}

FIELDS: dict[str, str] = {
    "amount_fen": "金额（元）",
    "buttons": "菜单",
    "menu": "菜单",
    "caption": "海报文字",
    "expires": "有效期",
    "not_finished": "未完成人数",
    "queued": "发送条数",
    "round": "提醒日期",
    "channel": "支付渠道",
    "chapter_threshold_percent": "章节完成比例（%）",
    "complaint_id": "投诉单号",
    "content": "回复内容",
    "course_id": "课程编号",
    "created": "新建账号",
    "credit_code": "统一社会信用代码",
    "deleted": "删除条数",
    "deletion_request": "删除申请编号",
    "district": "区县",
    "district_id": "区县编号",
    "duration_seconds": "时长（秒）",
    "errors": "有误行数",
    "existing": "已有账号",
    "filename": "文件名",
    "holder_name": "持证人",
    "hours": "学时",
    "id_numbers": "核验的身份证号码",
    "invoice_number": "发票号码",
    "is_active": "启用",
    "is_published": "已发布",
    "kept": "保留的记录",
    "kind": "类型",
    "minutes_per_hour": "每学时分钟数",
    "must_change_password": "须修改密码",
    "name": "姓名",
    "note": "说明",
    "number": "证书编号",
    "older_than_days": "保存期（天）",
    "options": "选项",
    "out_refund_no": "退款单号",
    "payment": "支付单号",
    "phone": "手机号码",
    "plan_id": "学习计划编号",
    "price_fen": "价格（元）",
    "reason": "原因",
    "red_invoice_number": "红字发票号码",
    "refunded_fen": "已退款（元）",
    "required_hours": "要求学时",
    "role": "角色",
    "rows": "行数",
    "sale_ends_at": "停售时间",
    "sale_starts_at": "开售时间",
    "screenshots_deleted": "删除的截图",
    "seats": "退款名额（学员编号）",
    "shown": "查看内容",
    "status": "状态",
    "stem": "题干",
    "study_ends_at": "学习截止时间",
    "title": "名称",
    "total_rows": "总行数",
    "unit": "单位",
    "unit_created": "新建单位",
    "unit_id": "单位编号",
    "unit_name": "单位",
    "username": "用户名",
    "wechat": "微信",
    "year": "年度",
}

# What a ``status`` means depends on what the entry is about.
_STATUS_OF: dict[str, type[enum.Enum]] = {
    "certificate": CertificateStatus,
    "invoice": InvoiceStatus,
    "makeup_application": ReviewStatus,
    "order": OrderStatus,
    "roster_import": RosterImportStatus,
}
_ENUM_FIELDS: dict[str, type[enum.Enum]] = {
    "channel": PayChannel,
    "kind": PlanKind,
    "role": StaffRole,
}
_SHOWN = {"learner_detail": "学员详情的完整号码", "roster_report": "名单核对结果"}


def _label_of(kind: type[enum.Enum], raw: Any) -> str | None:
    try:
        member = kind(raw)
    except ValueError:
        return None
    return str(getattr(member, "label", raw))


def value_text(field: str, raw: Any, *, target_type: str = "") -> str:
    """One value of a before/after, as a person reads it."""
    if raw is None or raw == "":
        return "—"
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if field.endswith("_fen") and isinstance(raw, int):
        return yuan(raw)
    kind = _STATUS_OF.get(target_type) if field == "status" else _ENUM_FIELDS.get(field)
    if kind is not None and (label := _label_of(kind, raw)) is not None:
        return label
    if field == "shown":
        return _SHOWN.get(str(raw), str(raw))
    if field.endswith("_at") and isinstance(raw, str):
        try:
            return local_time(datetime.fromisoformat(raw))
        except ValueError:
            return raw
    if isinstance(raw, list):
        return "、".join(value_text(field, item, target_type=target_type) for item in raw) or "—"
    if isinstance(raw, dict):
        return "；".join(f"{FIELDS.get(k, k)}：{value_text(k, v)}" for k, v in raw.items())
    return str(raw)


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None  # None: the field is not in that side
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class AuditLine:
    entry: AuditLog
    action: str
    target: str
    changes: list[Change]

    @property
    def learner_id(self) -> int | None:
        """The learner the entry is about, for a link to their page."""
        entry = self.entry
        if entry.target_type == "learner" and entry.target_id.isdigit():
            return int(entry.target_id)
        return None


def action_text(action: str) -> str:
    return ACTIONS.get(action, action)


def describe(entry: AuditLog) -> AuditLine:
    before = entry.before or {}
    after = entry.after or {}
    fields = list(dict.fromkeys([*before, *after]))
    changes = [
        Change(
            FIELDS.get(field, field),
            value_text(field, before[field], target_type=entry.target_type)
            if field in before
            else None,
            value_text(field, after[field], target_type=entry.target_type)
            if field in after
            else None,
        )
        for field in fields
    ]
    target = TARGETS.get(entry.target_type, entry.target_type)
    if entry.target_id and entry.target_id != "-":
        target += f" #{entry.target_id}"
    return AuditLine(entry, action_text(entry.action), target, changes)


_ACTOR_KINDS = {"cli": "命令行", "system": "系统", "learner": "学员", "staff": "工作人员"}


def actor_text(label: str) -> str:
    """``cli:roster import`` → 命令行（roster import）; ``learner:12`` → 学员 #12."""
    kind, _, rest = label.partition(":")
    name = _ACTOR_KINDS.get(kind)
    if name is None:
        return label
    if kind == "learner":
        return f"{name} #{rest}"
    return f"{name}（{rest}）" if rest else name
