"""The console's roster pages: upload → preview → confirm → result, as staff use them."""

from __future__ import annotations

import io
import re
import time

import openpyxl
import pytest
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import Learner
from models.roster import RosterImport, RosterImportStatus
from models.staff import AuditLog, StaffRole
from services.accounts.sms import MemorySmsSender
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.roster_files import (
    SHEET_NS,
    header_rows_xml,
    replace_member,
    roster_bytes,
    zip_bomb,
)


def log_in_staff(client, role: StaffRole = StaffRole.STAFF):
    staff = factories.staff(
        role, unit_obj=factories.unit() if role is StaffRole.UNIT_ADMIN else None
    )
    response = submit_form(
        client, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    return staff


def upload(client, content: bytes, filename: str = "渝中区人民医院名单.xlsx"):
    return submit_form(client, "/admin/rosters", {"file": (io.BytesIO(content), filename)})


def learner_count() -> int:
    return db.session.scalar(select(func.count(Learner.id)))


def import_count() -> int:
    return db.session.scalar(select(func.count(RosterImport.id)))


def messy_roster(existing: Learner) -> tuple[bytes, list[str]]:
    good = [factories.valid_id_number(), factories.valid_id_number(male=False)]
    content = roster_bytes(
        [
            (" 张 三", good[0].lower(), "13700001001", "男"),
            ("李四", good[1], "１３７００００１００２", "女"),
            None,
            ("王五", factories.valid_id_number(male=False), "13700001003", "男"),
            ("赵六", existing.id_number, existing.phone, ""),
            ("张三", good[0], "13700001001", "男"),
        ]
    )
    return content, good


def test_upload_preview_confirm_and_download_the_report(client):
    staff = log_in_staff(client)
    existing = factories.learner()
    page = client.get("/admin/rosters").get_data(as_text=True)
    assert "名单导入" in page and 'enctype="multipart/form-data"' in page
    content, good = messy_roster(existing)
    learners = learner_count()

    response = upload(client, content)

    assert response.status_code == 302
    detail = response.headers["Location"]
    record_id = int(re.search(r"/admin/rosters/(\d+)$", detail).group(1))
    preview = client.get(detail).get_data(as_text=True)
    assert "检查结果" in preview and "待确认" in preview
    assert re.search(r"将新建账号<strong>2</strong>", preview)
    assert re.search(r"已有账号（不作修改）<strong>1</strong>", preview)
    assert re.search(r"有误的行<strong>2</strong>", preview)
    assert "性别与身份证号码不符（按身份证号码应为女）" in preview
    assert "身份证号码与第5行重复" in preview
    assert "（平台中还没有该单位，导入时新建）" in preview
    for number in [*good, existing.id_number]:
        assert number not in preview  # ID numbers are masked in the console
    assert learner_count() == learners

    confirmed = submit_form(client, f"/admin/rosters/{record_id}/confirm", {}, page=detail)

    assert confirmed.status_code == 302
    result = client.get(detail).get_data(as_text=True)
    assert "导入完成：新建2个账号，已存在1个，有误2行。" in result
    assert "导入结果" in result and "已导入" in result
    assert learner_count() == learners + 2
    created = db.session.scalars(select(Learner).where(Learner.id_number.in_(good))).all()
    assert {learner.roster_import_id for learner in created} == {record_id}

    assert client.get(f"/admin/rosters/{record_id}/report.xlsx").status_code == 405
    report_url = f"/admin/rosters/{record_id}/report.xlsx"
    with submit_form(client, report_url, {}, page=detail) as report:
        assert report.status_code == 200
        assert (
            report.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert "attachment" in report.headers["Content-Disposition"]
        workbook = openpyxl.load_workbook(io.BytesIO(report.data))
    rows = list(workbook.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert [(row[0], row[7]) for row in rows] == [(8, "有误"), (10, "有误"), (9, "已存在")]

    again = submit_form(client, f"/admin/rosters/{record_id}/confirm", {}, page=detail)
    assert again.status_code == 302
    assert "该名单已导入，不能重复导入。" in client.get(detail).get_data(as_text=True)
    assert learner_count() == learners + 2

    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.target_id == str(record_id)).order_by(AuditLog.id)
    ).all()
    assert [(entry.action, entry.staff_id, entry.ip) for entry in audit] == [
        ("roster.preview", staff.id, "127.0.0.1"),
        ("roster.import", staff.id, "127.0.0.1"),
        # The report holds whole ID numbers and phones: who downloaded it is recorded.
        ("roster.report_download", staff.id, "127.0.0.1"),
    ]
    listing = client.get("/admin/rosters").get_data(as_text=True)
    assert f"/admin/rosters/{record_id}" in listing and "渝中区人民医院名单.xlsx" in listing


def test_uploading_the_same_file_again_says_so_and_would_create_nothing(client):
    log_in_staff(client)
    content, _ = messy_roster(factories.learner())
    first = upload(client, content).headers["Location"]
    submit_form(client, first + "/confirm", {}, page=first)
    second = client.get(upload(client, content).headers["Location"]).get_data(as_text=True)
    assert "同一文件已于" in second
    assert re.search(r"将新建账号<strong>0</strong>", second)


def test_forms_without_the_csrf_token_are_refused(client):
    log_in_staff(client)
    content, _ = messy_roster(factories.learner())
    response = client.post("/admin/rosters", data={"file": (io.BytesIO(content), "名单.xlsx")})
    assert response.status_code == 400
    assert "页面已过期或来源不明" in response.get_data(as_text=True)
    assert import_count() == 0

    detail = upload(client, content).headers["Location"]
    learners = learner_count()
    response = client.post(detail + "/confirm", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert learner_count() == learners
    record = db.session.scalar(select(RosterImport))
    assert record.status is RosterImportStatus.PREVIEWED


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "旧版 .xls 文件"),
        (b"name,id\n", "不是Excel 工作簿"),
    ],
)
def test_a_refused_file_is_explained_on_the_page(client, content, message):
    log_in_staff(client)
    response = upload(client, content)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert import_count() == 0


def test_a_zip_bomb_upload_is_refused(client, tmp_path):
    log_in_staff(client)
    bomb = zip_bomb(tmp_path / "bomb.xlsx", inflated_bytes=80 << 20).read_bytes()
    response = upload(client, bomb)
    assert response.status_code == 400
    assert "压缩炸弹" in response.get_data(as_text=True)
    assert import_count() == 0


def test_an_unknown_district_is_explained_on_the_page(client):
    log_in_staff(client)
    content = roster_bytes(
        [("张三", factories.valid_id_number(), "13700001001", "")], district="火星区"
    )
    response = upload(client, content)
    assert response.status_code == 400
    assert "“火星区”不是本市的区县，整份名单未导入" in response.get_data(as_text=True)


def test_the_file_is_required(client):
    log_in_staff(client)
    response = submit_form(client, "/admin/rosters", {})
    assert response.status_code == 400
    assert "请选择要导入的名单文件" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", [StaffRole.FINANCE, StaffRole.UNIT_ADMIN])
def test_only_staff_and_admins_import_rosters(client, role):
    log_in_staff(client, role)
    assert client.get("/admin/rosters").status_code == 403
    assert "名单导入" not in client.get("/admin/").get_data(as_text=True)


def test_admins_see_the_link_and_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/admin/rosters")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    log_in_staff(client, StaffRole.ADMIN)
    assert "/admin/rosters" in client.get("/admin/").get_data(as_text=True)


def test_a_roster_account_logs_in_with_the_last_six_characters_and_must_change_it(client):
    log_in_staff(client)
    id_number = next(
        number
        for number in (factories.valid_id_number(male=False) for _ in range(200))
        if number.endswith("X")
    )
    content = roster_bytes([("李四", id_number.lower(), "13700001002", "女")])
    detail = upload(client, content).headers["Location"]
    submit_form(client, detail + "/confirm", {}, page=detail)

    # The learner's phone; the same browser keeps the test's app context (and its CSRF token).
    phone = client
    response = submit_form(
        phone, "/h5/login", {"account": id_number.lower(), "password": id_number[-6:]}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/h5/password")
    # Nothing else opens before the new password is set.
    home = phone.get("/h5/home")
    assert home.status_code == 302 and home.headers["Location"].endswith("/h5/password")
    # The first login asks for the privacy consent and a code sent to the roster's phone.
    MemorySmsSender.outbox.clear()
    sent = submit_form(phone, "/h5/password/code", {}, page="/h5/password")
    assert sent.status_code == 302
    [(to, text)] = MemorySmsSender.outbox
    assert to == "13700001002"
    changed = submit_form(
        phone,
        "/h5/password",
        {
            "current_password": id_number[-6:],
            "code": re.search(r"\d{6}", text).group(0),
            "new_password": "Xuexi2022a",
            "confirm_password": "Xuexi2022a",
            "privacy_consent": "y",
        },
    )
    assert changed.status_code == 302, changed.get_data(as_text=True)
    assert phone.get("/h5/home").status_code == 200
    phone.post(
        "/h5/logout", data={"csrf_token": csrf_from(phone.get("/h5/home").get_data(as_text=True))}
    )
    old = submit_form(phone, "/h5/login", {"account": id_number, "password": id_number[-6:]})
    assert old.status_code == 401
    new = submit_form(phone, "/h5/login", {"account": "13700001002", "password": "Xuexi2022a"})
    assert new.status_code == 302 and new.headers["Location"].endswith("/h5/start")


def test_rows_are_counted_in_the_stream_before_openpyxl_opens_the_sheet(
    client, tmp_path, monkeypatch
):
    """The issue's sheet: no <dimension>, 1,850,000 empty rows (openpyxl used to parse it
    whole, 6-7 s of a worker, to size it)."""
    path = tmp_path / "名单.xlsx"
    path.write_bytes(roster_bytes([("张三", factories.valid_id_number(), "13700001001", "男")]))
    rows = "".join(f'<row r="{number}"/>' for number in range(4, 1_850_001))
    sheet = (
        f"<worksheet {SHEET_NS}><sheetData>{header_rows_xml()}{rows}</sheetData></worksheet>"
    ).encode()
    replace_member(path, "xl/worksheets/sheet1.xml", sheet)
    opened = []
    original = openpyxl.load_workbook
    monkeypatch.setattr(
        openpyxl, "load_workbook", lambda *a, **k: opened.append(1) or original(*a, **k)
    )
    log_in_staff(client)
    before = import_count()
    token = csrf_from(client.get("/admin/rosters").get_data(as_text=True))
    # The body is built in memory: the test client would spool it to a temporary file.
    boundary = "----roster-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="名单.xlsx"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    started = time.perf_counter()
    response = client.post(
        "/admin/rosters", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 400
    assert "表格超过20000行" in response.get_data(as_text=True)
    assert opened == []  # refused before openpyxl saw the file
    assert import_count() == before
    assert elapsed < 3, elapsed  # counting 31 MB of XML, not parsing it
