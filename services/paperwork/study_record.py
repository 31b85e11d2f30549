"""学习档案: the learner's every year in one signed PDF — plans, 学时 and certificate numbers.

Drawn on request (nothing is stored) as A4 portrait pages at 200 dpi with the certificate's
fonts, and signed with the certificate's key, so the public check at ``/verify`` recognises
it (a signed file of ours without a certificate number).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.catalog import Plan
from models.certificates import Certificate, CertificateStatus
from models.enrollments import Enrollment, EnrollmentStatus
from services.display import LOCAL_TZ
from services.paperwork import signing
from services.paperwork.certificate_render import ISSUER, _wrap, strict_xref
from services.paperwork.certificates import workplace_text
from services.paperwork.cjk_fonts import font_chain
from services.rows import get_row

DPI = 200
WIDTH, HEIGHT = 1654, 2339  # A4 portrait at 200 dpi
INK = (34, 30, 28)
MUTED = (110, 100, 92)
RULE = (190, 180, 170)
ACCENT = (150, 28, 30)
ROWS_PER_PAGE = 14


def px(mm: float) -> int:
    return round(mm * DPI / 25.4)


@dataclass(frozen=True)
class RecordYear:
    year: int
    plan_title: str
    required_hours: int
    earned_hours: int
    completed: bool
    certificate_number: str | None


@dataclass(frozen=True)
class StudyRecord:
    name: str
    id_number: str
    workplace: str
    years: list[RecordYear]
    made_at: datetime

    @property
    def total_hours(self) -> int:
        return sum(row.earned_hours for row in self.years)


def study_record(learner_id: int, *, now: datetime | None = None) -> StudyRecord:
    """Every plan the learner holds (a refunded one is not theirs), oldest year first."""
    learner = get_row(Learner, learner_id, "学员不存在。")
    enrollments = db.session.scalars(
        select(Enrollment)
        .join(Plan, Plan.id == Enrollment.plan_id)
        .options(contains_eager(Enrollment.plan))
        .where(Enrollment.learner_id == learner_id, Enrollment.status == EnrollmentStatus.ACTIVE)
        .order_by(Plan.year, Plan.id)
    )
    numbers = {
        plan_id: number
        for plan_id, number in db.session.execute(
            select(Certificate.plan_id, Certificate.number).where(
                Certificate.learner_id == learner_id,
                Certificate.status == CertificateStatus.VALID,
            )
        ).tuples()
    }
    years = [
        RecordYear(
            year=enrollment.plan.year,
            plan_title=enrollment.plan.title,
            required_hours=enrollment.plan.required_hours,
            earned_hours=enrollment.earned_hours,
            completed=enrollment.completed_at is not None
            and enrollment.earned_hours >= enrollment.plan.required_hours,
            certificate_number=numbers.get(enrollment.plan_id),
        )
        for enrollment in enrollments
    ]
    return StudyRecord(
        name=learner.name,
        id_number=learner.id_number,
        workplace=workplace_text(learner) or "",
        years=years,
        made_at=now or utcnow(),
    )


def record_pdf(record: StudyRecord) -> bytes:
    """The record drawn and signed."""
    pages = _draw_pages(record)
    out = io.BytesIO()
    pages[0].save(
        out,
        "PDF",
        resolution=DPI,
        save_all=True,
        append_images=pages[1:],
        quality=90,
        title=f"学习档案 {record.name}",
        author=ISSUER,
        subject="专业技术人员继续教育学习档案",
    )
    return signing.sign_pdf(strict_xref(out.getvalue()), reason=f"学习档案 {record.name}")


# --- drawing ---------------------------------------------------------------------------------


_COLUMNS = (  # (caption, left edge in mm)
    ("年度", 18),
    ("培训项目", 38),
    ("学时", 112),
    ("状态", 134),
    ("证书编号", 152),
)


def _draw_pages(record: StudyRecord) -> list[Image.Image]:
    chunks = [
        record.years[start : start + ROWS_PER_PAGE]
        for start in range(0, max(len(record.years), 1), ROWS_PER_PAGE)
    ]
    return [_draw_page(record, rows, index + 1, len(chunks)) for index, rows in enumerate(chunks)]


def _draw_page(record: StudyRecord, rows: list[RecordYear], page: int, pages: int) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    title = font_chain("serif-bold", px(9))
    heading = "专业技术人员继续教育学习档案"
    title.draw(draw, ((WIDTH - title.width(heading)) / 2, px(18)), heading, ACCENT)
    draw.line((px(18), px(32), WIDTH - px(18), px(32)), fill=ACCENT, width=px(0.6))

    label, value = font_chain("serif", px(4)), font_chain("serif-bold", px(4))
    y = px(38)
    for caption, content in (
        ("姓名", record.name),
        ("身份证号码", record.id_number),
        ("工作单位", record.workplace or "—"),
        ("累计学时", f"{record.total_hours}学时（{len(record.years)}个年度）"),
    ):
        end = label.draw(draw, (px(18), y), caption + "：", MUTED)
        value.draw(draw, (end + px(1), y), content, INK)
        y += px(7)

    y += px(4)
    small, small_bold = font_chain("sans", px(3.3)), font_chain("sans-bold", px(3.3))
    for caption, left in _COLUMNS:
        small_bold.draw(draw, (px(left), y), caption, INK)
    # Text stands on ``y`` (its baseline): a rule between two rows goes about midway from
    # the descent of one to the ascent of the next.
    draw.line((px(18), y + px(2.5), WIDTH - px(18), y + px(2.5)), fill=RULE, width=2)
    y += px(9)
    title_width = px(_COLUMNS[2][1] - _COLUMNS[1][1] - 3)
    for row in rows:
        lines = _wrap(small, row.plan_title, title_width)[:3]
        small.draw(draw, (px(_COLUMNS[0][1]), y), f"{row.year}", INK)
        for index, line in enumerate(lines):
            small.draw(draw, (px(_COLUMNS[1][1]), y + index * px(4.6)), line, INK)
        small.draw(draw, (px(_COLUMNS[2][1]), y), f"{row.earned_hours}/{row.required_hours}", INK)
        small.draw(draw, (px(_COLUMNS[3][1]), y), "已完成" if row.completed else "学习中", INK)
        number = row.certificate_number or "—"
        small.draw(draw, (px(_COLUMNS[4][1]), y), number[:7], INK)
        if row.certificate_number:
            small.draw(draw, (px(_COLUMNS[4][1]), y + px(4.6)), number[7:], INK)
        y += max(len(lines), 2) * px(4.6) + px(5)
        draw.line((px(18), y - px(6), WIDTH - px(18), y - px(6)), fill=RULE, width=1)
    if not rows:
        small.draw(draw, (px(18), y), "尚无培训记录。", MUTED)

    made = record.made_at.astimezone(LOCAL_TZ)
    footer = font_chain("sans", px(3))
    base = current_app.config["PUBLIC_BASE_URL"]
    lines = [
        f"{ISSUER} 出具 · {made:%Y年%m月%d日 %H:%M} · 第{page}页，共{pages}页",
        f"本档案带发证机构的数字签名，可在 {base}/verify/ 上传本文件验证；证书编号可单独查询。",
    ]
    for index, line in enumerate(lines):
        footer.draw(draw, (px(18), HEIGHT - px(22) + index * px(5)), line, MUTED)
    return image
