"""The blank 附件2《学员注册名单》 a unit's designee fills in: the header block (区县, 联系人,
单位全称, 联系电话) and the columns that ``roster.read_roster`` reads, with the ID number
column kept as text so that Excel does not turn an 18-digit number into 4.2E+17."""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

TITLE = "重庆市专业技术人员继续教育公需科目培训学员注册名单"
COLUMNS = (
    ("序号", 6),
    ("姓名\n（姓名中间不能有空格和符号）", 16),
    ("身份证号码\n（身份证号码含X，必须大写）", 24),
    ("手机号码", 16),
    ("性别", 8),
    ("备注", 14),
)
BLANK_ROWS = 16
NOTES = (
    "注意：",
    "1.文件格式要求为 Excel 电子格式，注册信息将作为培训合格证书的重要数据，事关职称评审等相关工作，"
    "请认真填写，确保信息的真实准确；",
    "2.用户名统一为身份证号码，初始密码为身份证号后六位。",
)
FILENAME = "附件2-学员注册名单.xlsx"


def template_bytes(*, district: str = "", unit_name: str = "") -> bytes:
    """The template, with the designee's district and unit filled in when known."""
    workbook = Workbook()
    sheet = workbook.active
    if not isinstance(sheet, Worksheet):  # a new workbook opens on one empty worksheet
        raise TypeError("the new workbook has no worksheet")
    sheet.title = "学员注册名单"
    sheet.append([TITLE])
    sheet.append([f"区 县：{district}", None, None, "联系人："])
    sheet.append([f"单位全称：{unit_name}", None, None, "联系电话："])
    for cells in ("A1:F1", "A2:C2", "D2:F2", "A3:C3", "D3:F3"):
        sheet.merge_cells(cells)
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append([label for label, _ in COLUMNS])
    sheet.row_dimensions[4].height = 45
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for cell in sheet[4]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
        cell.border = border
    for number in range(1, BLANK_ROWS + 1):
        sheet.append([number])
        for column in range(1, len(COLUMNS) + 1):
            cell = sheet.cell(sheet.max_row, column)
            cell.border = border
            if column in (3, 4):  # ID numbers and phones typed as text, never as numbers
                cell.number_format = "@"
    for index, (_, width) in enumerate(COLUMNS):
        sheet.column_dimensions["ABCDEF"[index]].width = width
    genders = DataValidation(type="list", formula1='"男,女"', allow_blank=True)
    sheet.add_data_validation(genders)
    genders.add(f"E5:E{4 + BLANK_ROWS}")
    for text in NOTES:
        sheet.append([text])
        sheet.merge_cells(f"A{sheet.max_row}:F{sheet.max_row}")
        sheet.cell(sheet.max_row, 1).alignment = Alignment(wrap_text=True)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
