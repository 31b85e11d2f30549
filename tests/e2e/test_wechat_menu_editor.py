"""公众号 → 编辑菜单 in a desktop browser: a wrong name refused next to its field, the menu
previewed as followers see it, saved, then pushed to the (simulated) official account."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.transaction import commit
from models.staff import StaffRole
from services.wechat.menu import build_menu
from tests import factories
from tests.e2e.conftest import desktop, snap


@pytest.mark.committed
def test_staff_edit_preview_save_and_push_the_menu(live_platform, browser, shots):
    base = live_platform.url
    member = factories.staff(StaffRole.STAFF)
    commit()
    # The simulated account starts with the repository's menu, as a running account has it.
    assert live_platform.sim.menu == build_menu(base)

    console = desktop(browser).new_page()
    console.goto(base + "/admin/login")
    console.fill("#username", member.username)
    console.fill("#password", factories.PASSWORD)
    console.get_by_role("button", name="登录").click()
    console.locator(".admin-nav").get_by_role("link", name="菜单、海报与提醒").click()
    state = console.locator(".wx-menu-state")
    expect(state).to_have_text("公众号现在的菜单与平台的菜单一致。")
    console.get_by_role("link", name="编辑菜单").click()
    expect(console.locator("h1")).to_have_text("编辑公众号菜单")

    # The third slot: a link. Its reply choice and its sub-buttons hide.
    console.fill("#b2-name", "我的证书页")
    console.select_option("#b2-kind", "link")
    expect(console.locator("#b2-link")).to_be_visible()
    expect(console.locator("#b2-key")).to_be_hidden()
    expect(console.locator("#b2-s0-name")).to_be_hidden()
    console.fill("#b2-link", "/h5/certificates")
    # 服务's third entry becomes a link instead of a reply.
    console.fill("#b1-s2-name", "学习进度")
    console.select_option("#b1-s2-kind", "link")
    console.fill("#b1-s2-link", base + "/h5/study")
    console.get_by_role("button", name="预览").click()
    problem = console.locator("fieldset").nth(2).locator(".admin-error")
    expect(problem).to_have_text(
        ["一级菜单名称最多 4 个汉字（或 8 个字母、数字），再长微信会显示成“...”。"]
    )
    expect(console.locator(".admin-flash_error")).to_contain_text("菜单没有保存")
    snap(console, shots, "wechat-menu-01-refused")

    console.fill("#b2-name", "证书")
    console.get_by_role("button", name="预览").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("尚未保存")
    phone = console.get_by_label("预览：尚未保存的菜单")
    expect(phone.locator(".wx-phone__name")).to_have_text(["≡ 继续教育", "≡ 服务", "证书"])
    expect(phone.locator(".wx-phone__subs").nth(1)).to_contain_text("学习进度")
    snap(console, shots, "wechat-menu-02-preview")

    console.get_by_role("button", name="保存菜单").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("菜单已保存")
    expect(state).to_contain_text("与平台的菜单不同")
    snap(console, shots, "wechat-menu-03-saved")

    console.once("dialog", lambda dialog: dialog.accept())
    console.get_by_role("button", name="推送菜单到公众号").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("菜单已推送到公众号")
    expect(state).to_have_text("公众号现在的菜单与平台的菜单一致。")
    snap(console, shots, "wechat-menu-04-pushed")
    buttons = live_platform.sim.menu["button"]
    assert [button["name"] for button in buttons] == ["继续教育", "服务", "证书"]
    assert buttons[2] == {"type": "view", "name": "证书", "url": base + "/h5/certificates"}
    assert buttons[1]["sub_button"][2] == {
        "type": "view",
        "name": "学习进度",
        "url": base + "/h5/study",
    }
