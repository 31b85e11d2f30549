"""附件2 and 附件3 as files: the roster template the import reads back, and the 补学 forms."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import unquote
from xml.dom import minidom

import openpyxl

from models.staff import StaffRole
from tests import factories
from tests.handlers.paperwork_helpers import log_in, log_in_staff
from tests.handlers.test_rosters import upload


def filled_in(template: bytes, people: list[tuple[str, str, str, str]]) -> bytes:
    """What a designee does with the template: the contact, then one person per row."""
    workbook = openpyxl.load_workbook(io.BytesIO(template))
    sheet = workbook.active
    sheet["D2"] = "联系人：李老师"
    sheet["D3"] = "联系电话：023-63000000"
    for offset, (name, id_number, phone, gender) in enumerate(people):
        row = 5 + offset
        assert sheet.cell(row, 1).value == offset + 1  # 序号 filled in ahead
        assert sheet.cell(row, 3).number_format == "@"  # the ID number stays text
        for column, value in enumerate((name, id_number, phone, gender), start=2):
            sheet.cell(row, column, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_designees_roster_template_is_read_back_by_the_import(app, client):
    unit = factories.unit("重庆市渝中区测试人民医院", district_code="500103")
    designee = factories.learner(unit_obj=unit)
    log_in(client, designee)
    plan = factories.plan()
    page = client.get(f"/h5/plans/{plan.id}/group").get_data(as_text=True)
    assert 'href="/h5/forms/roster.xlsx"' in page and "附件2" in page
    response = client.get("/h5/forms/roster.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    disposition = response.headers["Content-Disposition"]
    assert "附件2-学员注册名单.xlsx" in unquote(disposition.split("filename*=UTF-8''")[1])
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet["A2"].value.endswith(unit.district.name)
    assert sheet["A3"].value == f"单位全称：{unit.name}"

    people = [
        ("陈晓东", factories.valid_id_number(), "13600000201", "男"),
        ("林小燕", factories.valid_id_number(male=False), "13600000202", "女"),
    ]
    desk = app.test_client()
    log_in_staff(desk, factories.staff(StaffRole.STAFF))
    uploaded = upload(desk, filled_in(response.data, people), "附件2-学员注册名单.xlsx")
    assert uploaded.status_code == 302, uploaded.get_data(as_text=True)
    preview = desk.get(uploaded.headers["Location"]).get_data(as_text=True)
    assert unit.name in preview and "李老师" in preview and "023-63000000" in preview
    assert re.search(r"将新建账号<strong>2</strong>", preview)
    assert re.search(r"有误的行<strong>0</strong>", preview)


def test_the_console_offers_the_template_with_the_unit_admins_unit(client):
    unit = factories.unit("重庆市江北区测试中学", district_code="500105")
    log_in_staff(client, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit))
    page = client.get("/admin/unfinished").get_data(as_text=True)
    assert 'href="/admin/forms/roster.xlsx"' in page
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/admin/forms/roster.xlsx").data)).active
    assert sheet["A3"].value == f"单位全称：{unit.name}"


def document_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert {"[Content_Types].xml", "_rels/.rels", "word/document.xml"} <= set(
            package.namelist()
        )
        document = minidom.parseString(package.read("word/document.xml"))  # well-formed XML
    return "".join(node.firstChild.data for node in document.getElementsByTagName("w:t"))


def test_the_makeup_pages_link_the_voucher_and_commitment_forms(client):
    learner = factories.learner()
    log_in(client, learner)
    plan = factories.makeup_plan(2019)
    voucher_page = client.get(f"/h5/makeup/{plan.id}/voucher").get_data(as_text=True)
    assert 'href="/h5/forms/makeup-voucher.docx"' in voucher_page
    commitment_page = client.get(f"/h5/makeup/{plan.id}/commitment").get_data(as_text=True)
    assert 'href="/h5/forms/makeup-commitment.docx"' in commitment_page

    voucher = client.get("/h5/forms/makeup-voucher.docx")
    assert voucher.mimetype.endswith("wordprocessingml.document")
    text = document_text(voucher.data)
    for label in ("2011-2021年公需科目缴费凭证", "缴费年度", "订单编号", "付款人", "缴费平台"):
        assert label in text
    text = document_text(client.get("/h5/forms/makeup-commitment.docx").data)
    assert "缴费承诺书" in text and "承诺人：" in text and "无法提供缴费凭证" in text
