"""What the official account answers: events, menu clicks and text messages.

``answer`` takes a parsed push and returns the reply to send back (or ``None`` for WeChat's
``success``). Replies must leave within 5 s; work that may take longer is queued and its
result sent later as a customer-service message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from flask import current_app, url_for
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply, TransferCustomerServiceReply

from infra.jobs import enqueue
from infra.redis_client import get_redis
from infra.transaction import after_commit
from services.study.overview import my_plans
from services.wechat import faq as faq_data
from services.wechat import followers, notify, tasks
from services.wechat.followers import Scene

log = logging.getLogger(__name__)

# Text that asks for the learner's own figures (answered later, from the database).
PROGRESS_KEYWORDS = ("我的学时", "我的进度", "查学时", "查询学时", "查询进度")


@dataclass(frozen=True)
class Reply:
    kind: str  # "text" or "transfer"
    content: str = ""

    def render(self, message: BaseMessage) -> str:
        if self.kind == "transfer":
            return TransferCustomerServiceReply(message=message).render()
        return TextReply(message=message, content=self.content).render()


def base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


def text(content: str) -> Reply:
    return Reply("text", faq_data.fill(content, base_url()))


def busy_reply() -> Reply:
    return Reply("text", "系统繁忙，请稍后再试。")


def answer(message: BaseMessage) -> Reply | None:
    kind = message.type
    if kind == "event":
        return _answer_event(message)
    if kind == "text":
        return _answer_text(message.source, message.content or "")
    if kind in {"image", "voice", "shortvideo", "video", "location", "link"}:
        return text(faq_data.load_faq().help)
    log.info("unhandled message type %s: answered success", kind)
    return None


def _answer_event(message: BaseMessage) -> Reply | None:
    event = message.event
    openid = message.source
    if event == "subscribe":
        followers.record_subscribe(openid, None)
        return text(faq_data.load_faq().welcome)
    if event in {"subscribe_scan", "scan"}:
        scene = Scene.parse(message.scene_id)
        if event == "subscribe_scan":
            followers.record_subscribe(openid, scene)
        else:
            followers.record_scan(openid, scene)
        return _answer_scene(openid, scene)
    if event == "unsubscribe":
        followers.record_unsubscribe(openid)
        return None
    if event == "click":
        entry = faq_data.load_faq().for_click(message.key or "")
        return text(entry.answer if entry else faq_data.load_faq().help)
    if event == "view":
        _count_view(message.url or "")
        return None
    if event == "templatesendjobfinish":
        notify.record_delivery(str(message.id), message.status or "")
        return None
    log.info("event %s answered success", event)
    return None


def _entry_link(**params: str) -> str:
    """The OAuth entry (``/h5/``, a stable address), with where to go after it."""
    return base_url() + "/h5/" + ("?" + urlencode(params) if params else "")


def _answer_login(openid: str, login_id: str) -> Reply:
    """The QR code of a PC's login page was scanned (``services.accounts.qr_login``)."""
    from services.accounts import qr_login

    outcome, learner = qr_login.scanned(login_id, openid)
    if outcome == "confirmed" and learner is not None:
        return Reply(
            "text",
            f"{learner.name}，您已在电脑上登录公需科目平台。如非本人操作，请立即修改密码。",
        )
    if outcome == "unbound":
        return Reply(
            "text",
            "您的微信尚未绑定学习账号：请先"
            f'<a href="{_entry_link()}">登录并绑定</a>，然后在电脑上刷新二维码再扫一次；'
            "也可以在电脑上直接用身份证号码和密码登录。",
        )
    return Reply("text", "该登录二维码已过期，请在电脑上刷新页面后重新扫码。")


def _answer_scene(openid: str, scene: Scene | None) -> Reply:
    welcome = faq_data.load_faq().welcome
    if scene is not None and scene.kind == "login":
        return _answer_login(openid, scene.value)
    if scene is not None and scene.kind == "unit":
        unit = followers.unit_by_code(scene.value)
        if unit is not None:
            if followers.bound_learner(openid) is not None:
                return text(
                    f'欢迎回来！{unit.name} 的学员请点击<a href="{_entry_link()}">进入公需科目学习</a>。'
                )
            return Reply(
                "text",
                f"欢迎！您正在通过“{unit.name}”的二维码参加公需科目学习。\n"
                f'<a href="{_entry_link(unit=unit.code)}">点此注册</a>（工作单位已为您填好）；'
                f'已有账号请<a href="{_entry_link()}">直接登录</a>。',
            )
    if scene is not None and scene.kind == "plan":
        plan = followers.plan_by_scene(scene)
        if plan is not None:
            link = _entry_link(next=url_for("h5.plan_detail", plan_id=plan.id))
            return Reply(
                "text", f'《{plan.title}》\n<a href="{link}">点此查看培训项目并购买学习</a>'
            )
    return text(welcome)


def _answer_text(openid: str, content: str) -> Reply:
    faq = faq_data.load_faq()
    if faq_data.wants_agent(faq, content):
        return Reply("transfer")
    if faq_data.normalise(content) in PROGRESS_KEYWORDS:
        if followers.bound_learner(openid) is None:
            return Reply(
                "text",
                f'查询学习进度需要先绑定账号：请<a href="{_entry_link()}">登录</a>后再发送“我的学时”。',
            )
        after_commit(enqueue, tasks.send_study_progress, openid)
        return Reply("text", "正在查询您的学习进度，结果稍后发送给您。")
    entry = faq_data.match(faq, content)
    return text(entry.answer if entry else faq.help)


def _count_view(url: str) -> None:
    """VIEW taps are counted per day and page (the link itself opens the page)."""
    path = url.removeprefix(base_url()) or "/"
    key = f"wechat:menu-views:{date.today().isoformat()}"
    redis = get_redis()
    redis.hincrby(key, path[:200], 1)
    redis.expire(key, 90 * 24 * 3600)
    log.info("menu VIEW %s", path)


def study_progress_text(openid: str) -> str:
    learner = followers.bound_learner(openid)
    if learner is None:
        return "您的微信尚未绑定学习账号。"
    plans = my_plans(learner.id)
    if not plans:
        return f'{learner.name}，您还没有已开通的培训项目。<a href="{_entry_link()}">去选择培训项目</a>'
    lines = [f"{learner.name}，您的学习进度："]
    for plan in plans:
        required, earned = plan.required_hours, plan.earned_hours
        state = "已完成，可打印证书" if plan.completed else f"还差 {max(required - earned, 0)} 学时"
        lines.append(f"· {plan.title}：{earned}/{required} 学时，{state}")
    lines.append(f'<a href="{base_url()}/h5/study">查看详情</a>')
    return "\n".join(lines)
