"""公众号 → 编辑菜单 through the console (staff login, CSRF tokens, the simulator as WeChat):
edit, preview, save, push, go back to the default; wrong fields named on the page and nothing
saved."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from infra.extensions import db
from models.staff import AuditLog, StaffRole
from models.wechat import WechatMenu
from services.wechat.menu import build_menu
from tests import factories
from tests.conftest import csrf_from

EDIT = "/admin/wechat/menu/edit"


def menu_form(*buttons: tuple, action: str = "save") -> dict[str, str]:
    """Every field of the form, as a browser without the page's script sends it: a button is
    (name, "link", path), (name, "click", key) or (name, "subs", [sub-buttons])."""
    data = {"action": action}
    for i in range(3):
        name, kind, target = buttons[i] if i < len(buttons) else ("", "subs", [])
        subs = target if kind == "subs" else []
        data |= {
            f"b{i}-name": name,
            f"b{i}-kind": kind,
            f"b{i}-link": target if kind == "link" else "",
            f"b{i}-key": target if kind == "click" else "",
        }
        for j in range(5):
            sub_name, sub_kind, sub_target = subs[j] if j < len(subs) else ("", "link", "")
            data |= {
                f"b{i}-s{j}-name": sub_name,
                f"b{i}-s{j}-kind": sub_kind,
                f"b{i}-s{j}-link": sub_target if sub_kind == "link" else "",
                f"b{i}-s{j}-key": sub_target if sub_kind == "click" else "",
            }
    return data


def post_menu(client, data: dict[str, str]):
    """Open the editor like a browser, then send the form with its token and revision."""
    page = client.get(EDIT).get_data(as_text=True)
    [revision] = re.findall(r'name="revision" value="(\d+)"', page)
    return client.post(EDIT, data={"csrf_token": csrf_from(page), "revision": revision, **data})


def saved_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(WechatMenu)) or 0


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


NEW_MENU = (
    (
        "学习",
        "subs",
        [("公需科目", "link", "/h5/"), ("学习进度", "link", "http://localhost/h5/study")],
    ),
    ("证书", "link", "/h5/certificates"),
    ("客服", "click", "ONLINE_SERVICE"),
)


def test_staff_edit_save_and_push_the_menu(client, login_staff, wechat_sim):
    login_staff(StaffRole.STAFF)
    desk = client.get("/admin/wechat").get_data(as_text=True)
    assert f'href="{EDIT}"' in desk
    page = client.get(EDIT).get_data(as_text=True)
    # The form starts from the draft (the file's menu), with the replies as a choice.
    assert 'name="b0-name" id="b0-name" value="继续教育"' in page
    assert 'name="b0-s3-link" id="b0-s3-link" value="/h5/study"' in page
    assert '<option value="ONLINE_SERVICE" selected>' in page
    assert '<option value="ONLINE_SERVICE_PHONE">客服电话（' in page
    assert 'aria-label="预览：平台的菜单"' in page

    response = post_menu(client, menu_form(*NEW_MENU))
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/admin/wechat#menu"
    )
    desk = client.get("/admin/wechat").get_data(as_text=True)
    assert "菜单已保存" in desk and "保存" in desk.split("平台的菜单</h3>")[1][:200]
    assert '<strong>证书</strong> <span class="admin-muted">打开 /h5/certificates</span>' in desk
    assert '学习进度 <span class="admin-muted">打开 /h5/study</span>' in desk
    assert "公众号尚未创建菜单：推送后，关注者才会看到平台的菜单。" in desk
    assert wechat_sim.state.menu is None  # saved, not pushed yet
    assert actions() == ["wechat.menu_save"]

    pushed = client.post(
        "/admin/wechat/menu", data={"csrf_token": csrf_from(desk)}, follow_redirects=True
    ).get_data(as_text=True)
    assert "菜单已推送到公众号" in pushed and "公众号现在的菜单与平台的菜单一致" in pushed
    assert wechat_sim.state.menu == {
        "button": [
            {
                "name": "学习",
                "sub_button": [
                    {"type": "view", "name": "公需科目", "url": "http://localhost/h5/"},
                    {"type": "view", "name": "学习进度", "url": "http://localhost/h5/study"},
                ],
            },
            {"type": "view", "name": "证书", "url": "http://localhost/h5/certificates"},
            {"type": "click", "name": "客服", "key": "ONLINE_SERVICE"},
        ]
    }
    assert actions() == ["wechat.menu_save", "wechat.menu_push"]

    # 操作日志 reads the change in words.
    log = client.application.test_client()
    admin = factories.staff(StaffRole.ADMIN)
    token = csrf_from(log.get("/admin/login").get_data(as_text=True))
    log.post(
        "/admin/login",
        data={"username": admin.username, "password": factories.PASSWORD, "csrf_token": token},
    )
    body = log.get("/admin/audit").get_data(as_text=True).split("<tbody>")[1]
    assert "保存公众号菜单" in body and "公众号菜单" in body
    assert "证书（打开 /h5/certificates）" in body and "客服（回复“在线客服”）" in body


def test_every_wrong_field_is_named_next_to_it_and_nothing_is_saved(
    client, login_staff, wechat_sim
):
    login_staff(StaffRole.STAFF)
    data = menu_form(
        (
            "继续教育培训",
            "subs",
            [("证书", "link", "https://evil.example/"), ("", "click", "ONLINE_SERVICE")],
        ),
        ("证书", "link", "/h5/nosuch"),
        ("客服", "click", ""),
    )
    response = post_menu(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "有 5 处需要修改" in page and "菜单没有保存" in page
    name_field = page.index('id="b0-name" value="继续教育培训"')  # what was typed stays
    assert page.index("一级菜单名称最多 4 个汉字") > name_field
    assert page.index("链接应为本站页面的路径") > page.index(
        'id="b0-s0-link" value="https://evil.example/"'
    )
    assert page.index("请填写菜单名称。") > page.index('id="b0-s1-name"')
    assert "本站没有学员可打开的这个页面：/h5/nosuch" in page
    assert page.index("请选择回复的内容。") > page.index('id="b2-key"')
    assert "改正标红的项目后可以预览" in page
    assert saved_rows() == 0 and actions() == [] and wechat_sim.state.menu is None


def test_preview_shows_the_typed_menu_without_saving_it(client, login_staff):
    login_staff(StaffRole.STAFF)
    response = post_menu(client, menu_form(*NEW_MENU, action="preview"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "右侧是预览，尚未保存" in page and 'aria-label="预览：尚未保存的菜单"' in page
    phone = page.split('class="wx-phone"')[1]
    assert "<li>公需科目</li><li>学习进度</li>" in phone and ">证书</span>" in phone
    assert 'id="b2-name" value="客服"' in page  # the form keeps what was typed
    assert saved_rows() == 0 and actions() == []


def test_back_to_the_default_menu(client, login_staff, wechat_sim):
    login_staff(StaffRole.STAFF)
    post_menu(client, menu_form(("证书", "link", "/h5/certificates")))
    desk = client.get("/admin/wechat").get_data(as_text=True)
    assert "恢复默认菜单" in desk
    back = client.post(
        "/admin/wechat/menu/reset", data={"csrf_token": csrf_from(desk)}, follow_redirects=True
    ).get_data(as_text=True)
    assert "已恢复默认菜单" in back and "默认菜单（menu.toml）" in back
    assert 'action="/admin/wechat/menu/reset"' not in back
    again = client.post(
        "/admin/wechat/menu/reset", data={"csrf_token": csrf_from(back)}, follow_redirects=True
    ).get_data(as_text=True)
    assert "现在用的已是默认菜单" in again
    client.post("/admin/wechat/menu", data={"csrf_token": csrf_from(back)})
    assert wechat_sim.state.menu == build_menu("http://localhost")
    assert actions() == ["wechat.menu_save", "wechat.menu_reset", "wechat.menu_push"]


def test_a_form_opened_before_a_colleague_saved_is_refused(client, login_staff):
    login_staff(StaffRole.STAFF)
    opened = client.get(EDIT).get_data(as_text=True)
    post_menu(client, menu_form(("证书", "link", "/h5/certificates")))
    late = client.post(
        EDIT,
        data={
            "csrf_token": csrf_from(opened),
            "revision": "0",
            **menu_form(("学习", "link", "/h5/study")),
        },
    )
    assert late.status_code == 400
    assert "菜单刚被其他工作人员保存过" in late.get_data(as_text=True)
    tampered = client.post(
        EDIT,
        data={
            "csrf_token": csrf_from(opened),
            "revision": "x",
            **menu_form(("学习", "link", "/h5/")),
        },
    )
    assert tampered.status_code == 400
    assert actions() == ["wechat.menu_save"]


def test_only_staff_edit_the_menu(client, login_staff):
    login_staff(StaffRole.FINANCE)
    assert client.get(EDIT).status_code == 403
    assert client.post(EDIT, data=menu_form(("学习", "link", "/h5/"))).status_code in (400, 403)
    assert saved_rows() == 0
