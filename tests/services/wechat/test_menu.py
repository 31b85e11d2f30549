"""The official account's menu: WeChat's rules and ours on every field, the file's menu as the
default, a saved menu winning over it, and the push sending the saved menu to WeChat (the
simulator records what it was given)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from infra.extensions import db
from models.staff import AuditLog, StaffRole
from models.wechat import WechatMenu
from services.audit import Actor
from services.errors import Conflict, ServiceError, StopValidation
from services.wechat import desk, menu
from services.wechat.menu import ButtonInput
from tests import factories

BASE = "http://localhost"  # PUBLIC_BASE_URL of the tests


def link(name: str, path: str) -> ButtonInput:
    return ButtonInput(name, "link", link=path)


def click(name: str, key: str) -> ButtonInput:
    return ButtonInput(name, "click", key=key)


def group(name: str, *subs: ButtonInput) -> ButtonInput:
    return ButtonInput(name, "subs", subs=subs)


def problems(*items: ButtonInput) -> dict[str | None, str]:
    with pytest.raises(StopValidation) as refused:
        menu.check_menu(items)
    return {error.field: error.message for error in refused.value.errors}


def actor() -> Actor:
    member = factories.staff(StaffRole.STAFF)
    return Actor.staff(member.id, member.username, "127.0.0.1")


def test_the_files_menu_keeps_every_rule_and_reads_back_as_it_is():
    stored = menu.file_buttons()
    buttons = menu.check_menu(menu.inputs_of(stored))
    assert [button.stored() for button in buttons] == stored
    assert menu.wechat_json(stored, BASE) == menu.build_menu(BASE)


def test_names_are_held_to_what_wechat_shows_and_accepts():
    # 4 Chinese characters at the top and 8 below; a letter or digit counts half.
    menu.check_menu([group("继续教育", link("八个汉字八个汉字", "/h5/study"))])
    menu.check_menu([group("ABCDEFGH", link("ABCDEFGHIJKLMNOP", "/h5/study"))])
    wrong = problems(
        group("继续教育培训", link("九个汉字九个汉字九", "/h5/study")),
        link("ABCDEFGHI", "/h5/"),
        # 5 letters of 4 bytes each: narrow, but 20 bytes, which WeChat refuses (40018).
        link("𝐀𝐁𝐂𝐃𝐄", "/h5/"),
    )
    assert "最多 4 个汉字" in wrong["b0-name"]
    assert "最多 8 个汉字" in wrong["b0-s0-name"]
    assert "最多 4 个汉字" in wrong["b1-name"]
    assert "16 字节" in wrong["b2-name"]
    assert problems(link("  ", "/h5/"))["b0-name"] == "请填写菜单名称。"
    assert "换行" in problems(link("学\n习", "/h5/"))["b0-name"]


def test_links_lead_to_a_learners_page_of_the_platform_only():
    [button] = menu.check_menu([link("学习", f"{BASE}/h5/study")])
    assert button.path == "/h5/study"  # a full address of the platform is kept as its path
    [button] = menu.check_menu([link("学习", "/h5")])
    assert button.path == "/h5/"  # the page's own address
    [button] = menu.check_menu([link("学习", "/h5/plans?year=2022")])
    assert button.path == "/h5/plans?year=2022"
    wrong = problems(
        link("外站", "https://evil.example/h5/"),
        link("外站", "//evil.example/h5/"),
        group("错误", link("没有", "/h5/nosuch"), link("后台", "/admin/"), link("空", "")),
    )
    assert "本站页面的路径" in wrong["b0-link"] and "本站页面的路径" in wrong["b1-link"]
    assert wrong["b2-s0-link"].startswith("本站没有学员可打开的这个页面：/h5/nosuch")
    assert wrong["b2-s1-link"].startswith("本站没有学员可打开的这个页面：/admin/")
    assert wrong["b2-s2-link"] == "请填写链接，例如 /h5/study。"
    assert "空格" in problems(link("学习", "/h5/ study"))["b0-link"]
    assert "1024 字节" in problems(link("学习", "/h5/?q=" + "x" * 1100))["b0-link"]


def test_a_click_answers_only_with_a_reply_the_account_has():
    keys = [choice.key for choice in menu.click_choices()]
    assert keys == ["ONLINE_SERVICE_PHONE", "ONLINE_SERVICE"]
    menu.check_menu([click("客服", "ONLINE_SERVICE")])
    wrong = problems(click("客服", "V1001_GOOD"), click("电话", ""))
    assert wrong == {
        "b0-key": "公众号不回复这一项：请从列表中选择。",
        "b1-key": "请选择回复的内容。",
    }


def test_the_shape_of_the_menu_follows_wechat():
    assert problems() == {None: "菜单至少要有 1 个一级菜单。"}
    assert problems(ButtonInput(kind="subs"), ButtonInput(kind="link")) == {
        None: "菜单至少要有 1 个一级菜单。"
    }  # empty slots of the form are no buttons
    four = [link(f"第{n}", "/h5/") for n in range(4)]
    assert problems(*four) == {None: "一级菜单最多 3 个。"}
    six = group("学习", *[link(f"第{n}", "/h5/") for n in range(6)])
    assert problems(six) == {"b0-kind": "二级菜单最多 5 个。"}
    assert "至少填写 1 个二级菜单" in problems(group("学习"))["b0-kind"]
    # Sub-buttons typed under a link are not dropped without a word.
    typed = ButtonInput("学习", "link", link="/h5/", subs=(link("证书", "/h5/certificates"),))
    assert "类型请选“二级菜单”" in problems(typed)["b0-kind"]
    assert "链接或回复" in problems(group("学习", group("证书")))["b0-s0-kind"]
    # A sub-button slot with only a reply chosen is not an empty slot.
    assert (
        problems(group("学习", ButtonInput("", "click", key="ONLINE_SERVICE")))["b0-s0-name"]
        == "请填写菜单名称。"
    )


def test_nothing_is_saved_when_one_field_is_wrong():
    staff = actor()
    with pytest.raises(StopValidation) as refused:
        desk.save_menu(
            [
                link("学习", "/h5/study"),
                group("服务", link("手册", "/h5/manual"), click("客服", "X")),
            ],
            revision=0,
            actor=staff,
        )
    assert [error.field for error in refused.value.errors] == ["b1-s1-key"]
    assert db.session.scalar(select(func.count()).select_from(WechatMenu)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert menu.draft().is_default


def test_a_saved_menu_wins_over_the_file_until_staff_go_back_to_it(wechat_sim):
    staff = actor()
    assert menu.draft().is_default and menu.draft().buttons == menu.file_buttons()
    desk.save_menu(
        [link("学习", "/h5/study"), group("服务", click("客服", "ONLINE_SERVICE"))],
        revision=0,
        actor=staff,
    )
    saved = menu.draft()
    assert not saved.is_default and saved.revision == 1 and saved.saved_by == "工作人员"
    assert saved.buttons == [
        {"name": "学习", "path": "/h5/study"},
        {"name": "服务", "sub_button": [{"name": "客服", "key": "ONLINE_SERVICE"}]},
    ]
    [entry] = db.session.scalars(select(AuditLog)).all()
    assert entry.action == "wechat.menu_save" and entry.target_type == "wechat_menu"
    assert entry.before == {"menu": desk.menu_text(menu.file_buttons())}
    assert entry.after == {"menu": "学习（打开 /h5/study）；服务：客服（回复“在线客服”）"}

    desk.restore_default_menu(actor=staff)
    back = menu.draft()
    assert back.is_default and back.buttons == menu.file_buttons() and back.revision == 2
    with pytest.raises(Conflict, match="已是默认菜单"):
        desk.restore_default_menu(actor=staff)
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["wechat.menu_save", "wechat.menu_reset"]


def test_a_form_opened_before_another_save_is_refused():
    first, second = actor(), actor()
    opened = menu.draft().revision
    desk.save_menu([link("学习", "/h5/study")], revision=opened, actor=first)
    with pytest.raises(Conflict, match="刚被其他工作人员保存过"):
        desk.save_menu([link("证书", "/h5/certificates")], revision=opened, actor=second)
    assert menu.draft().buttons == [{"name": "学习", "path": "/h5/study"}]


def test_the_push_sends_the_saved_menu_to_wechat(wechat_sim):
    staff = actor()
    desk.push_menu(actor=staff)
    assert wechat_sim.state.menu == menu.build_menu(BASE)  # nothing saved: the file's menu
    desk.save_menu(
        [
            group("学习", link("公需科目", "/h5/"), link("学习进度", "/h5/study")),
            click("客服", "ONLINE_SERVICE_PHONE"),
        ],
        revision=0,
        actor=staff,
    )
    pushed = desk.push_menu(actor=staff)
    expected = {
        "button": [
            {
                "name": "学习",
                "sub_button": [
                    {"type": "view", "name": "公需科目", "url": f"{BASE}/h5/"},
                    {"type": "view", "name": "学习进度", "url": f"{BASE}/h5/study"},
                ],
            },
            {"type": "click", "name": "客服", "key": "ONLINE_SERVICE_PHONE"},
        ]
    }
    assert pushed == expected and wechat_sim.state.menu == expected
    # What WeChat answers has the same buttons (it adds empty sub_button lists).
    current = menu.current_menu()
    assert menu.same_menu(menu.wechat_json(menu.draft().buttons, BASE), current)
    assert not menu.same_menu(menu.build_menu(BASE), current)
    assert menu.shown_menu(current, BASE) == [
        menu.ShownButton(
            "学习",
            "",
            (
                menu.ShownButton("公需科目", "打开 /h5/"),
                menu.ShownButton("学习进度", "打开 /h5/study"),
            ),
        ),
        menu.ShownButton("客服", "回复“客服电话”"),
    ]


def test_a_saved_menu_that_no_longer_holds_is_not_pushed(wechat_sim):
    # Saved when the reply existed; faq.toml has dropped it since.
    db.session.add(WechatMenu(id=1, revision=1, buttons=[{"name": "客服", "key": "GONE"}]))
    db.session.flush()
    with pytest.raises(ServiceError, match="已保存的菜单有误，未推送：公众号不回复这一项"):
        menu.push_menu()
    assert wechat_sim.state.menu is None
