from PIL import Image

from infra.extensions import db
from infra.wechat_client import get_wechat_client
from models.staff import StaffRole
from models.wechat import WechatMenu
from services.audit import Actor
from services.wechat import desk
from services.wechat.menu import ButtonInput, build_menu
from tests import factories


def test_menu_push_creates_the_menu_of_the_repository(runner, wechat_sim):
    result = runner.invoke(args=["wechat", "menu-push"])
    assert result.exit_code == 0, result.output
    assert "菜单已创建" in result.output
    # Read back from WeChat.
    menu = get_wechat_client().menu.get()["menu"]
    assert menu == build_menu("http://localhost")
    top = [button["name"] for button in menu["button"]]
    assert top == ["继续教育", "服务"]
    learning = {sub["name"]: sub["url"] for sub in menu["button"][0]["sub_button"]}
    assert learning == {
        "公需科目": "http://localhost/h5/",
        "我的证书": "http://localhost/h5/certificates",
        "我的发票": "http://localhost/h5/invoices",
        "学习进度": "http://localhost/h5/study",
    }
    service = {sub["name"]: sub for sub in menu["button"][1]["sub_button"]}
    assert service["操作手册"]["url"] == "http://localhost/h5/manual"
    assert service["在线客服"] == {"type": "click", "name": "在线客服", "key": "ONLINE_SERVICE"}

    shown = runner.invoke(args=["wechat", "menu-show"])
    assert "继续教育" in shown.output


def test_menu_push_sends_the_menu_saved_in_the_console(runner, wechat_sim):
    member = factories.staff(StaffRole.STAFF)
    desk.save_menu(
        [ButtonInput("证书", "link", link="/h5/certificates")],
        revision=0,
        actor=Actor.staff(member.id, member.username, None),
    )
    result = runner.invoke(args=["wechat", "menu-push"])
    assert result.exit_code == 0, result.output
    assert wechat_sim.state.menu == {
        "button": [{"type": "view", "name": "证书", "url": "http://localhost/h5/certificates"}]
    }


def test_menu_push_refuses_a_saved_menu_that_no_longer_holds(runner, wechat_sim):
    db.session.add(WechatMenu(id=1, revision=1, buttons=[{"name": "旧页", "path": "/h5/gone"}]))
    db.session.flush()
    result = runner.invoke(args=["wechat", "menu-push"])
    assert result.exit_code != 0
    assert "已保存的菜单有误，未推送：本站没有学员可打开的这个页面：/h5/gone" in result.output
    assert wechat_sim.state.menu is None


def test_menu_show_without_a_menu(runner, wechat_sim):
    assert "尚未创建菜单" in runner.invoke(args=["wechat", "menu-show"]).output


def test_qrcode_makes_a_printable_poster_for_a_unit(runner, wechat_sim, tmp_path):
    unit = factories.unit("重庆市渝中区人民医院")
    out = tmp_path / "poster.png"
    result = runner.invoke(args=["wechat", "qrcode", f"unit:{unit.code}", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "永久" in result.output
    [code] = wechat_sim.state.qrcodes.values()
    assert code["scene"] == f"unit:{unit.code}"
    assert code["temporary"] is False
    with Image.open(out) as image:
        assert image.size == (1748, 2480)
        assert round(image.info["dpi"][0]) == 300


def test_qrcode_temporary(runner, wechat_sim, tmp_path):
    plan = factories.plan(published=True)
    out = tmp_path / "plan.png"
    result = runner.invoke(
        args=["wechat", "qrcode", f"plan:{plan.id}", "--temporary", "7", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "有效期：至" in result.output
    [code] = wechat_sim.state.qrcodes.values()
    assert code["temporary"] is True
    assert 6.9 * 86400 < code["expires_at"] - code["created_at"] <= 7 * 86400


def test_qrcode_refuses_scenes_that_lead_nowhere(runner, wechat_sim):
    for scene, message in [
        ("unit:NOSUCH", "没有单位代码为 NOSUCH 的单位"),
        ("plan:999999", "没有编号为 999999"),
        ("hello", "场景值应为"),
    ]:
        result = runner.invoke(args=["wechat", "qrcode", scene])
        assert result.exit_code != 0
        assert message in result.output
    result = runner.invoke(
        args=["wechat", "qrcode", f"unit:{factories.unit().code}", "--temporary", "31"]
    )
    assert "1 到 30 天" in result.output
    assert wechat_sim.state.qrcodes == {}
