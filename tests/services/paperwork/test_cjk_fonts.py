import pytest
from PIL import Image, ImageDraw, ImageFont

from services.paperwork.cjk_fonts import font_chain, has_glyph

NOTDEF = "\U0010fffd"


def glyph_image(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    """The character alone, to compare what was drawn."""
    left, top, right, bottom = font.getbbox(char)
    image = Image.new("L", (max(right - left, 1) + 4, max(bottom - top, 1) + 4), 0)
    ImageDraw.Draw(image).text((2 - left, 2 - top), char, font=font, fill=255)
    return image


@pytest.mark.parametrize("char", ["䶮", "㵘", "𪚥", "张"])
def test_rare_name_characters_draw_as_glyphs_not_boxes(char):
    chain = font_chain("serif-bold", 120)
    font = chain.font_for(char)
    assert has_glyph(font, char)
    assert glyph_image(font, char).tobytes() != glyph_image(font, NOTDEF).tobytes()


def test_extension_a_is_covered_by_the_certificate_font_itself():
    # 䶮 and 㵘 lie outside GB 2312, in CJK extension A, which Noto Serif CJK covers.
    chain = font_chain("serif-bold", 60)
    assert chain.primary.getname()[0] == "Noto Serif CJK SC"
    assert all(has_glyph(chain.primary, char) for char in "䶮㵘")


def test_a_character_the_first_font_lacks_falls_back_per_character():
    chain = font_chain("serif-bold", 60)
    runs = list(chain.runs("王𪚥明"))
    assert [text for text, _ in runs] == ["王", "𪚥", "明"]
    assert runs[1][1] is not chain.primary
    assert not has_glyph(chain.primary, "𪚥")
