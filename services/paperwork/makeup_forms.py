"""附件3: the 2011-2021 缴费凭证表 and the 缴费承诺书 as Word documents (.docx) to print or
fill in, for those who send them in rather than filling the forms on the 补学 page.

A .docx is a zip of WordprocessingML parts; these two forms need only paragraphs and tables,
so they are written directly (no template file, no extra dependency)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from io import BytesIO
from xml.sax.saxutils import escape

VOUCHER_FILENAME = "附件3-2011-2021年公需科目缴费凭证表.docx"
COMMITMENT_FILENAME = "附件3-缴费承诺书.docx"

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/>'
    "</Relationships>"
)
_BLANK = "________"


def _run(text: str, *, bold: bool = False, size: int = 24) -> str:
    props = '<w:rFonts w:ascii="SimSun" w:hAnsi="SimSun" w:eastAsia="宋体"/>'
    props += "<w:b/>" if bold else ""
    props += f'<w:sz w:val="{size}"/><w:szCs w:val="{size}"/>'
    return f'<w:r><w:rPr>{props}</w:rPr><w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def _paragraph(
    text: str = "",
    *,
    bold: bool = False,
    size: int = 24,
    center: bool = False,
    indent: bool = False,
) -> str:
    props = '<w:spacing w:line="400" w:lineRule="auto"/>'
    props += '<w:jc w:val="center"/>' if center else ""
    props += '<w:ind w:firstLineChars="200" w:firstLine="480"/>' if indent else ""
    return f"<w:p><w:pPr>{props}</w:pPr>{_run(text, bold=bold, size=size) if text else ''}</w:p>"


def _table(rows: Sequence[Sequence[str]], widths: Sequence[int], *, height: int = 560) -> str:
    """A bordered table; a cell of ``rows`` is its text ("" for a blank to fill in)."""
    border = "".join(
        f'<w:{side} w:val="single" w:sz="6" w:space="0" w:color="000000"/>'
        for side in ("top", "left", "bottom", "right", "insideH", "insideV")
    )
    grid = "".join(f'<w:gridCol w:w="{width}"/>' for width in widths)
    body = []
    for row in rows:
        cells = []
        for text, width in zip(row, widths, strict=True):
            cells.append(
                f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/><w:vAlign w:val="center"/>'
                f"</w:tcPr>{_paragraph(text, center=True)}</w:tc>"
            )
        body.append(f'<w:tr><w:trPr><w:trHeight w:val="{height}"/></w:trPr>{"".join(cells)}</w:tr>')
    return (
        f'<w:tbl><w:tblPr><w:tblW w:w="{sum(widths)}" w:type="dxa"/>'
        f"<w:tblBorders>{border}</w:tblBorders></w:tblPr><w:tblGrid>{grid}</w:tblGrid>"
        f"{''.join(body)}</w:tbl>"
    )


def _document(parts: Iterable[str]) -> bytes:
    page = (
        '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>'
        '<w:pgMar w:top="1440" w:right="1300" w:bottom="1440" w:left="1300" '
        'w:header="851" w:footer="992" w:gutter="0"/></w:sectPr>'
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{_W}"><w:body>{"".join(parts)}{page}</w:body></w:document>'
    )
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS)
        package.writestr("word/document.xml", xml)
    return buffer.getvalue()


def voucher_form() -> bytes:
    """2011-2021年公需科目缴费凭证 (附件3, first page)."""
    return _document(
        [
            _paragraph("附件3", bold=True),
            _paragraph("2011-2021年公需科目缴费凭证", bold=True, size=36, center=True),
            _table(
                [["姓名", "", "手机号码", ""], ["身份证号码", "", "", ""]],
                [1800, 2853, 1800, 2853],
            ),
            _table(
                [["缴费年度", "订单编号", "付款人", "缴费时间", "缴费平台"], *[[""] * 5] * 3],
                [1500, 2300, 1500, 1700, 2306],
            ),
            _table([["以下请填写相关缴费证明材料（如缴费平台网页截图等）"]], [9306]),
            _table([[""]], [9306], height=5200),
            _paragraph("注意：", bold=True),
            _paragraph(
                "1.请提前在重庆人社培训网网络学习服务平台注册账号，并如实填写姓名、身份证号码、"
                "手机号等信息，工作人员将依据上表信息及平台注册信息免费开通2011-2021年度专业技术"
                "人员继续教育公需科目补学权限。",
                indent=True,
            ),
            _paragraph(
                "2.请将此表发送至 cqgxkm@cqhrsp.com 邮箱，工作人员审核通过后（一般在3个工作日内"
                "完成审核）可免费进入现平台进行补学。也可以登录平台，在“补学申请”页面在线提交"
                "缴费凭证和截图。",
                indent=True,
            ),
        ]
    )


def commitment_form() -> bytes:
    """缴费承诺书 (附件3, second page)."""
    return _document(
        [
            _paragraph("附件3", bold=True),
            _paragraph("缴费承诺书", bold=True, size=36, center=True),
            _paragraph(
                f"本人{_BLANK}，身份证号码：{_BLANK * 2}，手机号码：{_BLANK}，已于{_BLANK}年"
                f"{_BLANK}月{_BLANK}日缴费报名参加公需科目学习。因{_BLANK * 2}原因，"
                "无法提供缴费凭证。",
                indent=True,
            ),
            _paragraph(
                f"本人现已在重庆人社培训网网络学习服务平台注册，用户名为{_BLANK * 2}，"
                f"现申请免费参加{_BLANK}年度继续教育公需科目的学习，并承诺如下：",
                indent=True,
            ),
            _paragraph(
                "一、本人在参与专业技术人员继续教育公需科目补学过程中提供的相关资料，本人均予以"
                "认可，自愿提供。本人所提供的缴费信息真实有效，如系伪造，本人愿依法承担相应法律"
                "责任。",
                indent=True,
            ),
            _paragraph(
                "二、本人知晓并理解提供不实信息对个人诚信记录的风险，如给专业技术人员继续教育"
                "公需科目培训主管单位、承训单位造成损失的，愿意承担赔偿及相应的法律责任。",
                indent=True,
            ),
            _paragraph(),
            _paragraph(f"承诺人：{_BLANK * 2}"),
            _paragraph(f"时  间：{_BLANK * 2}"),
        ]
    )
