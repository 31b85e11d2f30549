"""The audit log reads in Chinese: action names, objects, and each field's before → after."""

from __future__ import annotations

import pathlib
import re

from models.staff import StaffRole
from services import audit_text
from tests import factories
from tests.conftest import submit_form

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_every_action_the_code_records_has_a_chinese_name():
    recorded: set[str] = set()
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "wxapp").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        recorded |= set(re.findall(r'action="([a-z_]+\.[a-z_.]+)"', source))
        recorded |= set(re.findall(r'else "([a-z_]+\.[a-z_.]+)"', source))
    recorded |= {"makeup.approve", "makeup.reject"}  # worded by an f-string
    missing = sorted(name for name in recorded if name not in audit_text.ACTIONS)
    assert recorded and missing == []


def test_every_kind_of_object_the_code_records_has_a_chinese_name():
    kinds: set[str] = set()
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        kinds |= set(re.findall(r'target_type="([a-z_]+)"', path.read_text(encoding="utf-8")))
    missing = sorted(kind for kind in kinds if kind not in audit_text.TARGETS)
    assert kinds and missing == []


def test_the_log_shows_names_and_readable_values_not_codes_and_json(client, login_staff):
    learner = factories.learner(phone="13912345678")
    factories.bind_wechat(learner)
    login_staff(StaffRole.ADMIN)
    page = f"/admin/learners/{learner.id}"
    submit_form(client, f"{page}/phone", {"phone": "13900001111"}, page=page)
    submit_form(client, f"{page}/wechat/unbind", {}, page=page)
    submit_form(
        client,
        "/admin/staff",
        {"username": "finance09", "name": "财务九", "role": "finance", "password": "Money2022x"},
    )
    log = client.get("/admin/audit").get_data(as_text=True)
    body = log.split("<tbody>")[1]
    assert "<td>修改学员手机号码</td>" in body
    assert f'<a href="/admin/learners/{learner.id}">学员 #{learner.id}</a>' in body
    assert "<dt>手机号码</dt>" in body and "<del>139****5678</del> → <ins>139****1111</ins>" in body
    assert "<td>解除学员微信绑定</td>" in body
    assert (
        "<td>新建工作人员账号</td>" in body and "<dt>角色</dt>" in body and "<dd>财务</dd>" in body
    )
    assert "learner.change_phone" not in body and "{&#34;" not in body and '{"' not in body
    # The filter offers the actions by name and finds by them.
    assert '<option value="learner.change_phone">修改学员手机号码</option>' in log
    only = client.get("/admin/audit?action=learner.unbind_wechat").get_data(as_text=True)
    assert "解除学员微信绑定" in only.split("<tbody>")[1]
    assert "修改学员手机号码" not in only.split("<tbody>")[1]


def test_values_read_as_words_yuan_and_local_times():
    assert audit_text.value_text("refunded_fen", 3000) == "30.00"
    assert audit_text.value_text("status", "partially_refunded", target_type="order") == "部分退款"
    assert audit_text.value_text("status", "approved", target_type="makeup_application") == "已通过"
    assert audit_text.value_text("is_published", True) == "是"
    assert audit_text.value_text("study_ends_at", "2022-12-31T15:59:00+00:00") == "2022-12-31 23:59"
    assert audit_text.value_text("channel", "wechat_jsapi") != "wechat_jsapi"
    assert audit_text.actor_text("cli:roster import") == "命令行（roster import）"
    assert audit_text.actor_text("system:payments") == "系统（payments）"


def test_the_providers_events_read_as_words():
    from models.orders import event_label

    assert event_label("TRANSACTION.SUCCESS") == "支付成功"
    assert event_label("REFUND.SUCCESS") == "退款成功"
    assert event_label("REFUND.ABNORMAL") == "退款异常"
    assert event_label("trade_status_sync:TRADE_SUCCESS") == "支付成功"
    assert event_label("trade_status_sync:TRADE_CLOSED") == "交易关闭"
    assert event_label(None) == ""
