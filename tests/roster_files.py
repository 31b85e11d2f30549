"""Roster files (附件2) as units send them, written with openpyxl; and hostile ones."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook

# The table header exactly as the seed's template words it, notes and line breaks included.
TABLE_HEADER = (
    "序号",
    "姓名\n（姓名中间\n不能有空格\n和符号）",
    "身份证号码\n（身份证号码含 X，必须大\n写）",
    "手机号码",
    "性别",
    "备注",
)
FOOTNOTE = (
    "注意：1.文件格式要求为 Excel 电子格式，注册信息将作为培训合格证书的重要数据，"
    "事关职称评审等相关工作，请认真填写，确保信息的真实准确；"
)


def roster_workbook(
    people: Sequence[Sequence[object] | None],
    *,
    district: str = "渝中区",
    unit: str = "重庆市渝中区人民医院",
    contact: str = "王老师",
    contact_phone: str = "023-63800000",
    layout: str = "merged",
    header: Sequence[str] = TABLE_HEADER,
    footnote: bool = True,
) -> Workbook:
    """A roster; each person is (姓名, 身份证号码, 手机号码, 性别[, 备注]) or None for an empty row.

    Layouts of the header block: ``merged`` (label and value in one merged cell, as the
    template is usually filled in), ``cells`` (label, then the value in the next cell),
    ``one_cell`` (all four in one merged cell).
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "学员注册名单"
    sheet.append(["重庆市专业技术人员继续教育公需科目培训学员注册名单"])
    sheet.merge_cells("A1:F1")
    if layout == "merged":
        sheet.append([f"区 县：{district}", None, None, f"联系人：{contact}"])
        sheet.append([f"单位全称：{unit}", None, None, f"联系电话：{contact_phone}"])
        for cells in ("A2:C2", "D2:F2", "A3:C3", "D3:F3"):
            sheet.merge_cells(cells)
    elif layout == "cells":
        sheet.append(["区 县：", district, None, "联系人：", contact])
        sheet.append(["单位全称：", unit, None, "联系电话：", contact_phone])
        sheet.merge_cells("B3:C3")
    elif layout == "one_cell":
        sheet.append(
            [
                f"区 县：{district}    联系人：{contact}\n单位全称：{unit}    联系电话：{contact_phone}"
            ]
        )
        sheet.append([])
        sheet.merge_cells("A2:F3")
    else:
        raise ValueError(layout)
    sheet.append(list(header))
    for index, person in enumerate(people, start=1):
        if person is None:
            sheet.append([index])  # 序号 filled in ahead, nothing else
            continue
        name, id_number, phone, gender, *rest = person
        sheet.append([index, name, id_number, phone, gender, rest[0] if rest else None])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # as typed, even when it starts with "=" (never a formula)
    if footnote:
        sheet.append([FOOTNOTE])
        last = sheet.max_row
        sheet.merge_cells(f"A{last}:F{last}")
    return workbook


def save_roster(folder: Path, people, *, name: str = "名单.xlsx", **kwargs) -> Path:
    path = folder / name
    roster_workbook(people, **kwargs).save(path)
    return path


def roster_bytes(people, **kwargs) -> bytes:
    buffer = io.BytesIO()
    roster_workbook(people, **kwargs).save(buffer)
    return buffer.getvalue()


def replace_member(path: Path, member: str, data: bytes) -> Path:
    """Rewrite one part of an .xlsx (a sheet, the shared strings …), keeping the rest."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[member] = data
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return path


SHEET_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'

BILLION_LAUGHS_DOCTYPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<!DOCTYPE worksheet [\n"
    '  <!ENTITY lol "lol">\n'
    + "".join(
        f'  <!ENTITY lol{level} "{("&lol" + (str(level - 1) if level > 1 else "") + ";") * 10}">\n'
        for level in range(1, 10)
    )
    + "]>\n"
)


def billion_laughs_sheet() -> bytes:
    return (
        BILLION_LAUGHS_DOCTYPE + f"<worksheet {SHEET_NS}><sheetData>"
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()


def billion_laughs_shared_strings() -> bytes:
    return (
        BILLION_LAUGHS_DOCTYPE.replace("worksheet", "sst")
        + f'<sst {SHEET_NS} count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    ).encode()


def external_entity_sheet(target: str = "file:///etc/passwd") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "{target}">]>\n'
        f"<worksheet {SHEET_NS}><sheetData>"
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()


def header_rows_xml() -> str:
    """The header block and table header of a roster as inline-string rows 1-4."""
    rows = [
        ["区县：渝中区", "联系人：王老师"],
        ["单位全称：重庆市渝中区人民医院", "联系电话：023-63800000"],
        ["序号", "姓名", "身份证号码", "手机号码", "性别", "备注"],
    ]
    xml = []
    for number, cells in enumerate(rows, start=1):
        xml.append(f'<row r="{number}">')
        for column, text in zip("ABCDEF", cells, strict=False):
            xml.append(f'<c r="{column}{number}" t="inlineStr"><is><t>{text}</t></is></c>')
        xml.append("</row>")
    return "".join(xml)


def million_rows_sheet(*, dimension: str | None = None, sparse: bool = False) -> bytes:
    """A sheet of a million rows: every row present (small once compressed), or only the
    last one (openpyxl fills the gap with empty rows)."""
    head = f"<worksheet {SHEET_NS}>"
    if dimension:
        head += f'<dimension ref="{dimension}"/>'
    head += "<sheetData>" + header_rows_xml()
    if sparse:
        body = '<row r="1000000"><c r="B1000000" t="inlineStr"><is><t>张三</t></is></c></row>'
    else:
        body = "".join(f'<row r="{number}"/>' for number in range(4, 1_000_001))
    return (head + body + "</sheetData></worksheet>").encode()


def zip_bomb(path: Path, *, inflated_bytes: int, member: str = "xl/media/image1.bin") -> Path:
    """A small file whose declared (and real) inflated size is huge, beside a valid roster."""
    valid = roster_bytes([("张三", "500103198806011016", "13900000011", "男")])
    with zipfile.ZipFile(io.BytesIO(valid)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for name, content in parts.items():
            target.writestr(name, content)
        with target.open(member, "w", force_zip64=True) as bomb:
            block = b"\0" * (1 << 20)
            for _ in range(inflated_bytes // len(block)):
                bomb.write(block)
    return path


def with_entity_declarations(path: Path, member: str) -> Path:
    """Put the billion-laughs DOCTYPE in front of one XML part of the file."""
    with zipfile.ZipFile(path) as source:
        xml = source.read(member).decode()
    if xml.startswith("<?xml"):
        xml = xml.split("?>", 1)[1].lstrip()
    root = xml[1:].split(None, 1)[0].split(">", 1)[0]
    doctype = BILLION_LAUGHS_DOCTYPE.replace("DOCTYPE worksheet", f"DOCTYPE {root}")
    return replace_member(path, member, (doctype + xml).encode())


def with_shared_strings(path: Path, shared_strings: bytes) -> Path:
    """Add a shared-strings part (as Excel writes one) with the given content."""
    with zipfile.ZipFile(path) as source:
        types = source.read("[Content_Types].xml").decode()
        rels = source.read("xl/_rels/workbook.xml.rels").decode()
    types = types.replace(
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    rels = rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>",
    )
    replace_member(path, "[Content_Types].xml", types.encode())
    replace_member(path, "xl/_rels/workbook.xml.rels", rels.encode())
    return replace_member(path, "xl/sharedStrings.xml", shared_strings)
