"""A sample roster (附件2) for the console's 名单导入 page, written into the instance folder.

It is filled in the way units really send them: merged header cells, names padded with
spaces, a lower-case x, full-width digits, an empty row, a wrong gender, a repeated row,
someone who already has an account, a mistyped ID number and a phone number that belongs
to someone else. Importing it shows every outcome; importing it again creates nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import current_app
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from services.accounts.identity import id_check_character
from services.demo.org_and_people import LEARNERS, demo_id_number

SAMPLE_NAME = "roster-sample.xlsx"
HEADER = (
    "序号",
    "姓名\n（姓名中间不能有空格和符号）",
    "身份证号码\n（身份证号码含X，必须大写）",
    "手机号码",
    "性别",
    "备注",
)


def sample_path() -> Path:
    return Path(current_app.instance_path) / "samples" / SAMPLE_NAME


def _id_ending_in_x(area: str, birth: date, *, male: bool) -> str:
    for sequence in range(100, 1000):
        first17 = f"{area}{birth:%Y%m%d}{sequence:03d}"
        if sequence % 2 == int(male) and id_check_character(first17) == "X":
            return first17 + "X"
    raise AssertionError("no sequence gives X")


def _full_width(text: str) -> str:
    return text.translate({ord(digit): ord(digit) + 0xFEE0 for digit in "0123456789"})


def sample_rows() -> list[tuple[str, str, str, str, str] | None]:
    area = "500101"
    chen = demo_id_number(area, date(1986, 4, 2), "131")
    mistyped = demo_id_number(area, date(1991, 9, 9), "222")
    zhang_wei = LEARNERS[0]
    return [
        ("陈晓东", chen, "13600000101", "男", ""),
        ("林　小燕", demo_id_number(area, date(1990, 2, 14), "242"), " 136 0000 0102 ", "女", ""),
        (
            "黄志强",
            _id_ending_in_x(area, date(1983, 7, 21), male=True).lower(),
            "13600000103",
            "男",
            "",
        ),
        (
            "周丽",
            demo_id_number(area, date(1995, 12, 1), "362"),
            _full_width("13600000104"),
            "女",
            "",
        ),
        None,
        ("吴军", demo_id_number(area, date(1979, 5, 30), "471"), "13600000105", "女", ""),
        ("陈晓东", chen, "13600000101", "男", "重复填写"),
        (zhang_wei[0], demo_id_number(*zhang_wei[1:4]), zhang_wei[4], "男", "已注册"),
        ("郑芳", mistyped[:-1] + ("1" if mistyped[-1] != "1" else "2"), "13600000106", "女", ""),
        ("何静", demo_id_number(area, date(1993, 3, 3), "582"), LEARNERS[1][4], "女", ""),
        ("阿依古丽·艾买提", demo_id_number(area, date(1989, 8, 8), "682"), "13600000107", "女", ""),
    ]


def write_sample(path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    if not isinstance(sheet, Worksheet):  # a new workbook opens on one empty worksheet
        raise TypeError("the new workbook has no worksheet")
    sheet.title = "学员注册名单"
    sheet.append(["重庆市专业技术人员继续教育公需科目培训学员注册名单"])
    sheet.append(["区 县：万州区", None, None, "联系人：李老师"])
    sheet.append(["单位全称：重庆市万州区第三人民医院", None, None, "联系电话：023-58000000"])
    for cells in ("A1:F1", "A2:C2", "D2:F2", "A3:C3", "D3:F3"):
        sheet.merge_cells(cells)
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(list(HEADER))
    for cell in sheet[4]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
    for number, row in enumerate(sample_rows(), start=1):
        sheet.append([number, *row] if row else [number])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    for column, width in zip("ABCDEF", (6, 16, 24, 16, 6, 12), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.column_dimensions["C"].number_format = "@"
    last = sheet.max_row + 1
    sheet.cell(last, 1, "注意：用户名统一为身份证号码，初始密码为身份证号后六位。")
    sheet.merge_cells(f"A{last}:F{last}")
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


def seed() -> list[str]:
    path = sample_path()
    write_sample(path)
    return [
        f"sample roster (附件2) to upload at /admin/rosters or import with "
        f"`flask --app wsgi roster import`: {path}"
    ]
