"""Parametric QR codes (带参数二维码) and the printable posters around them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import qrcode
from PIL import Image, ImageDraw
from qrcode.constants import ERROR_CORRECT_M

from models.base import utcnow
from services.display import local_date
from services.errors import ExternalServiceError, ServiceError, ValidationError
from services.paperwork import cjk_fonts
from services.paperwork.cjk_fonts import FontChain
from services.wechat import followers
from services.wechat.followers import Scene

MAX_TEMPORARY_DAYS = 30
# A5 at 300 dpi.
POSTER_SIZE = (1748, 2480)
GREEN = (7, 193, 96)
INK = (25, 25, 25)
GREY = (110, 110, 110)
FONT_STYLE = "sans-bold"


class FontMissing(ServiceError):
    code = "font_missing"


@dataclass(frozen=True)
class QrCode:
    scene: str
    ticket: str
    url: str
    expires_at_text: str | None


@dataclass(frozen=True)
class PosterText:
    title: str
    caption: str
    note: str


def poster_text(scene: Scene) -> PosterText:
    """What the poster says under its code; refuses scenes that lead nowhere."""
    if scene.kind == "unit":
        unit = followers.unit_by_code(scene.value)
        if unit is None:
            raise ValidationError("scene", f"没有单位代码为 {scene.value} 的单位。")
        return PosterText(
            "微信扫码 · 注册学习", unit.name, "扫码关注后点击“注册”，工作单位已为您填好"
        )
    if scene.kind == "plan":
        plan = followers.plan_by_scene(scene)
        if plan is None:
            raise ValidationError("scene", f"没有编号为 {scene.value} 的已发布培训项目。")
        return PosterText("微信扫码 · 购买学习", plan.title, "扫码关注后即可查看培训项目并购买")
    raise ValidationError("scene", "场景值应为 unit:<单位代码> 或 plan:<培训项目编号>。")


def create_qrcode(scene: Scene, temporary_days: int | None = None) -> QrCode:
    """A QR code from WeChat for this scene: permanent, or valid for up to 30 days."""
    from infra.wechat_client import WECHAT_FAILURES, describe_failure, get_wechat_client

    if temporary_days is not None and not 1 <= temporary_days <= MAX_TEMPORARY_DAYS:
        raise ValidationError("temporary", f"临时二维码的有效天数为 1 到 {MAX_TEMPORARY_DAYS} 天。")
    request: dict = {"action_info": {"scene": {"scene_str": str(scene)}}}
    if temporary_days is None:
        request["action_name"] = "QR_LIMIT_STR_SCENE"
    else:
        request["action_name"] = "QR_STR_SCENE"
        request["expire_seconds"] = temporary_days * 24 * 3600
    try:
        result = get_wechat_client().qrcode.create(request)
    except WECHAT_FAILURES as exc:
        raise ExternalServiceError(f"微信未能生成二维码（{describe_failure(exc)}）") from exc
    expires = None
    if "expire_seconds" in result:
        expires = local_date(utcnow() + timedelta(seconds=int(result["expire_seconds"])))
    return QrCode(str(scene), result["ticket"], result["url"], expires)


def fonts(size: int) -> FontChain:
    """Noto Sans CJK SC Bold, with a fallback per character (a unit's name may hold rare
    characters); fails clearly when no CJK font is installed."""
    try:
        return cjk_fonts.font_chain(FONT_STYLE, size)
    except cjk_fonts.FontMissing as exc:
        raise FontMissing(
            "找不到中文字体（Noto Sans CJK SC）。请安装 fonts-noto-cjk（Debian/Ubuntu："
            "apt-get install fonts-noto-cjk）后重试。"
        ) from exc


def _wrap(text: str, chain: FontChain, width: int) -> list[str]:
    lines, line = [], ""
    for char in text:
        if chain.width(line + char) > width and line:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill) -> int:
    width = POSTER_SIZE[0]
    chain = fonts(size)
    ascent = chain.primary.getmetrics()[0]
    for line in _wrap(text, chain, width - 240):
        box = chain.primary.getbbox(line)
        chain.draw(draw, ((width - (box[2] - box[0])) / 2, y + ascent), line, fill)
        y += int((box[3] - box[1]) * 1.45)
    return y


def render_poster(
    code: QrCode, text: PosterText, *, issuer: str = "重庆市人力资源开发服务中心"
) -> bytes:
    """A printable PNG (A5, 300 dpi): title band, the QR code, the unit or plan under it."""
    width, height = POSTER_SIZE
    poster = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(poster)
    draw.rectangle((0, 0, width, 420), fill=GREEN)
    _centered(draw, 110, "专业技术人员继续教育公需科目", 92, "white")
    _centered(draw, 260, text.title, 64, "white")

    matrix = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, box_size=10)
    matrix.add_data(code.url)
    matrix.make(fit=True)
    image = matrix.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    side = 1100
    image = image.resize((side, side), Image.Resampling.NEAREST)
    top = 560
    poster.paste(image, ((width - side) // 2, top))

    y = _centered(draw, top + side + 90, text.caption, 96, INK)
    y = _centered(draw, y + 40, text.note, 52, GREY)
    if code.expires_at_text:
        _centered(draw, y + 20, f"二维码有效期至 {code.expires_at_text}", 48, GREY)
    draw.line((160, height - 250, width - 160, height - 250), fill=(220, 220, 220), width=3)
    _centered(draw, height - 200, issuer, 52, GREY)
    buffer = io.BytesIO()
    poster.save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()
