import io

from PIL import Image, ImageChops

from services.wechat.posters import PosterText, QrCode, render_poster

CODE = QrCode("unit:TEST0001", "ticket", "http://weixin.qq.com/q/test", None)
NOTDEF = "\U0010fffd"  # a code point no font maps: drawn as the empty box


def poster(caption: str) -> Image.Image:
    text = PosterText("微信扫码 · 注册学习", caption, "扫码关注后点击“注册”")
    with Image.open(io.BytesIO(render_poster(CODE, text))) as image:
        return image.convert("RGB")


def test_a_rare_character_in_a_units_name_is_printed_not_a_box():
    # 𪚥 (CJK extension B) is not in Noto Sans CJK; the shared font chain draws it from
    # HanaMin, as on certificates.
    drawn, boxed = poster("王𪚥明卫生院"), poster(f"王{NOTDEF}明卫生院")
    assert ImageChops.difference(drawn, boxed).getbbox() is not None
