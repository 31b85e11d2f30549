"""Drawing the certificate (合格证书): A4 landscape at 300 dpi, as PNG and as PDF.

What every certificate shares (paper, frame, title, the issuer's electronic seal) is drawn
once per process and copied; each certificate then adds its own lines and QR code, so a
certificate costs little more than encoding its files.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from dataclasses import dataclass
from datetime import date

import qrcode
from PIL import Image, ImageDraw

from services.paperwork.cjk_fonts import FontChain, font_chain

DPI = 300
WIDTH, HEIGHT = 3508, 2480  # A4 landscape at 300 dpi
ISSUER = "重庆市人力资源开发服务中心"
SEAL_CAPTION = "证书专用章"

PAPER = (252, 248, 236)
INK = (34, 30, 28)
MUTED = (110, 100, 92)
FRAME = (150, 28, 30)
GOLD = (191, 151, 72)
SEAL_RED = (214, 26, 36)

# Pillow's FreeType faces are not safe to share between threads while drawing.
_DRAWING = threading.Lock()


def mm(value: float) -> int:
    return round(value * DPI / 25.4)


@dataclass(frozen=True)
class CertificateFace:
    """What one certificate prints."""

    number: str
    holder_name: str
    holder_id_number: str
    unit_name: str
    plan_title: str
    year: int
    hours: int
    issued_on: date
    verify_url: str


def render_files(face: CertificateFace) -> tuple[bytes, bytes]:
    """The certificate drawn once and saved twice: (PNG, PDF)."""
    image = render_image(face)
    return encode_png(image), encode_pdf(image, face)


def encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(DPI, DPI), compress_level=3)
    return out.getvalue()


def encode_pdf(image: Image.Image, face: CertificateFace) -> bytes:
    out = io.BytesIO()
    image.save(
        out,
        "PDF",
        resolution=DPI,
        quality=92,
        title=f"合格证书 {face.number}",
        author=ISSUER,
        subject=face.plan_title,
    )
    return strict_xref(out.getvalue())


def strict_xref(pdf: bytes) -> bytes:
    """Pillow numbers the free head of the cross-reference table 65536, one past what the PDF
    standard allows (65535): strict readers (and signature validators) refuse the file. The
    entry has the same length either way, so no offset moves."""
    return pdf.replace(b"0000000000 65536 f ", b"0000000000 65535 f ", 1)


def render_image(face: CertificateFace) -> Image.Image:
    with _DRAWING:
        image = _template().copy()
        draw = ImageDraw.Draw(image)
        _draw_body(draw, face)
        _draw_footer(image, draw, face)
    return image


# --- what every certificate shares ---------------------------------------------------------


@functools.cache
def _template() -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    _draw_frame(draw)
    _draw_title(draw)
    return image


def _draw_frame(draw: ImageDraw.ImageDraw) -> None:
    outer, inner = mm(9), mm(13)
    draw.rectangle((outer, outer, WIDTH - outer, HEIGHT - outer), outline=FRAME, width=mm(2.2))
    draw.rectangle((inner, inner, WIDTH - inner, HEIGHT - inner), outline=GOLD, width=mm(0.7))
    inset = mm(15)
    draw.rectangle((inset, inset, WIDTH - inset, HEIGHT - inset), outline=GOLD, width=mm(0.25))
    # Corner ornaments: a gold lozenge in each corner between the frames.
    size = mm(6)
    for cx, cy in (
        (inner, inner),
        (WIDTH - inner, inner),
        (inner, HEIGHT - inner),
        (WIDTH - inner, HEIGHT - inner),
    ):
        draw.polygon(
            [(cx, cy - size), (cx + size, cy), (cx, cy + size), (cx - size, cy)],
            fill=GOLD,
            outline=FRAME,
            width=mm(0.5),
        )


def _centered(draw: ImageDraw.ImageDraw, chain: FontChain, y: int, text: str, fill) -> None:
    chain.draw(draw, ((WIDTH - chain.width(text)) / 2, y), text, fill)


def _draw_title(draw: ImageDraw.ImageDraw) -> None:
    _centered(draw, font_chain("serif", mm(7)), mm(38), "专业技术人员继续教育公需科目", MUTED)
    _centered(draw, font_chain("serif-bold", mm(22)), mm(63), "合  格  证  书", FRAME)
    _centered(draw, font_chain("serif", mm(4)), mm(72), "CERTIFICATE OF COMPLETION", GOLD)
    # A thin rule with a dot, under the title.
    y, half = mm(78), mm(40)
    draw.line((WIDTH / 2 - half, y, WIDTH / 2 + half, y), fill=GOLD, width=mm(0.4))
    r = mm(1.2)
    draw.ellipse((WIDTH / 2 - r, y - r, WIDTH / 2 + r, y + r), fill=FRAME)


# --- what each certificate prints ---------------------------------------------------------


# Punctuation that may not begin a line (避头点): it hangs at the end of the line instead.
_NO_LINE_START = "，。、；：？！”’）》"


def _wrap(chain: FontChain, text: str, width: float, first_indent: float = 0) -> list[str]:
    lines, current, limit = [], "", width - first_indent
    for char in text:
        too_wide = chain.width(current + char) > limit
        if current and too_wide and char not in _NO_LINE_START:
            lines.append(current)
            current, limit = "", width
        current += char
    if current:
        lines.append(current)
    return lines


def _fitted(style: str, size: int, text: str, width: float, *, smallest: int) -> FontChain:
    """The style at ``size``, or smaller (down to ``smallest``) when the text would not fit."""
    chain = font_chain(style, size)
    needed = chain.width(text)
    if needed <= width:
        return chain
    size = max(smallest, int(size * width / needed))
    chain = font_chain(style, size)
    while size > smallest and chain.width(text) > width:
        size -= 1
        chain = font_chain(style, size)
    return chain


def _draw_body(draw: ImageDraw.ImageDraw, face: CertificateFace) -> None:
    left, right = mm(42), WIDTH - mm(42)
    body = font_chain("serif", mm(7))
    # A name may have 30 characters, a unit's name 100: long ones are set smaller, and a unit
    # that still does not fit takes a second line, so nothing runs past the margin.
    name_width = right - left - mm(2) - body.width("同志：")
    name_font = _fitted("serif-bold", mm(10), face.holder_name, name_width, smallest=mm(6))
    y = mm(94)
    end = name_font.draw(draw, (left, y), face.holder_name, INK)
    body.draw(draw, (end + mm(2), y), "同志：", INK)

    text = (
        f"您于{face.year}年度参加“{face.plan_title}”，"
        f"完成规定课程的学习，共计{face.hours}学时，经考核合格，特发此证。"
    )
    y += mm(14)
    indent = body.width("　　")
    for index, line in enumerate(_wrap(body, text, right - left, indent)):
        body.draw(draw, (left + (indent if index == 0 else 0), y), line, INK)
        y += mm(11)

    label, value = font_chain("serif", mm(5.2)), font_chain("serif-bold", mm(5.2))
    y += mm(5)
    x: float = left
    for caption, content in (
        ("身份证号码", face.holder_id_number),
        ("培训年度", f"{face.year}年度"),
    ):
        end = label.draw(draw, (x, y), caption + "：", MUTED)
        end = value.draw(draw, (end + mm(1), y), content, INK)
        x = max(end + mm(14), left + (right - left) * 0.45)
    y += mm(9)
    start = label.draw(draw, (left, y), "工作单位：", MUTED) + mm(1)
    unit_font = _fitted("serif-bold", mm(5.2), face.unit_name, right - start, smallest=mm(3.5))
    for line in _wrap(unit_font, face.unit_name, right - start):
        unit_font.draw(draw, (start, y), line, INK)
        y += mm(5)


def _draw_footer(image: Image.Image, draw: ImageDraw.ImageDraw, face: CertificateFace) -> None:
    # Left: the QR code to the public verification page, the number beside it.
    qr_size, qr_left, qr_top = mm(26), mm(40), mm(163)
    image.paste(_qr_image(face.verify_url, qr_size), (qr_left, qr_top))
    small, number = font_chain("sans", mm(3.6)), font_chain("sans-bold", mm(4.2))
    text_left = qr_left + qr_size + mm(4)
    small.draw(draw, (text_left, qr_top + mm(9)), "证书编号", MUTED)
    number.draw(draw, (text_left, qr_top + mm(15.5)), face.number, INK)
    small.draw(draw, (text_left, qr_top + mm(22)), "微信扫码验证证书真伪", MUTED)

    # Right: issuer and date, with the seal stamped over them.
    issuer_font = font_chain("serif-bold", mm(6.5))
    date_font = font_chain("serif", mm(6))
    issued = f"{face.issued_on.year}年{face.issued_on.month}月{face.issued_on.day}日"
    centre_x = _seal_centre()[0]
    base_y = mm(169)
    issuer_font.draw(draw, (centre_x - issuer_font.width(ISSUER) / 2, base_y), ISSUER, INK)
    date_font.draw(draw, (centre_x - date_font.width(issued) / 2, base_y + mm(10)), issued, INK)
    seal = _seal()
    left, top, _, _ = seal_box()
    image.paste(seal, (left, top), seal)


def _seal_centre() -> tuple[float, float]:
    issuer_font = font_chain("serif-bold", mm(6.5))
    return WIDTH - mm(40) - issuer_font.width(ISSUER) / 2, mm(169) + mm(3)


def seal_box() -> tuple[int, int, int, int]:
    """Where the seal is stamped, in pixels: (left, top, right, bottom)."""
    centre_x, centre_y = _seal_centre()
    diameter = mm(40)
    left, top = round(centre_x - diameter / 2), round(centre_y - diameter / 2)
    return left, top, left + diameter, top + diameter


def seal_box_points() -> tuple[float, float, float, float]:
    """The seal's box on the PDF page, in points from the bottom left: where the visible
    signature goes."""
    left, top, right, bottom = seal_box()
    scale = 72 / DPI
    return (left * scale, (HEIGHT - bottom) * scale, right * scale, (HEIGHT - top) * scale)


def _qr_image(url: str, size: int) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    small = Image.new("1", (modules, modules), 1)
    small.putdata([0 if cell else 1 for row in matrix for cell in row])
    return small.convert("RGB").resize((size, size), Image.Resampling.NEAREST)


# --- the electronic seal --------------------------------------------------------------------


@functools.cache
def _seal() -> Image.Image:
    """A round official seal: red ring, star, the issuer's name along the upper arc."""
    diameter = mm(40)
    scale = 2  # drawn large, then reduced, for smooth edges
    size = diameter * scale
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    centre = size / 2
    ring = mm(1.3) * scale
    draw.ellipse((0, 0, size - 1, size - 1), outline=255, width=ring)

    star_radius = mm(6.8) * scale
    points = []
    for index in range(10):
        radius = star_radius if index % 2 == 0 else star_radius * 0.382
        angle = math.radians(-90 + index * 36)
        points.append((centre + radius * math.cos(angle), centre + radius * math.sin(angle)))
    draw.polygon(points, fill=255)

    _arc_text(mask, ISSUER, centre, size / 2 - ring - mm(4.4) * scale, mm(5.8) * scale)
    caption = font_chain("sans-bold", round(mm(4) * scale))
    caption.draw(
        draw,
        (centre - caption.width(SEAL_CAPTION) / 2, centre + star_radius + mm(6.5) * scale),
        SEAL_CAPTION,
        255,
    )
    mask = mask.resize((diameter, diameter), Image.Resampling.LANCZOS)
    # Ink is never perfectly opaque: let the paper and the text show through a little.
    mask = mask.point(lambda value: value * 88 // 100)
    seal = Image.new("RGBA", (diameter, diameter), (*SEAL_RED, 0))
    seal.putalpha(mask)
    return seal


def _arc_text(mask: Image.Image, text: str, centre: float, radius: float, char_size: float):
    """Characters upright to the ring, spread over the upper arc from left to right."""
    chain = font_chain("sans-bold", round(char_size))
    span = 236  # degrees of the arc the name covers
    step = span / (len(text) - 1)
    start = -90 - span / 2
    for index, char in enumerate(text):
        angle = start + index * step
        font = chain.font_for(char)
        glyph = Image.new("L", (round(char_size * 1.4), round(char_size * 1.4)), 0)
        ImageDraw.Draw(glyph).text(
            (glyph.width / 2, glyph.height / 2), char, font=font, fill=255, anchor="mm"
        )
        # Squeeze the characters a little, as seal engravers do, to fit more on the ring.
        glyph = glyph.resize((round(glyph.width * 0.78), glyph.height), Image.Resampling.BICUBIC)
        rotated = glyph.rotate(-(angle + 90), resample=Image.Resampling.BICUBIC, expand=True)
        x = centre + radius * math.cos(math.radians(angle)) - rotated.width / 2
        y = centre + radius * math.sin(math.radians(angle)) - rotated.height / 2
        mask.paste(255, (round(x), round(y)), rotated)
