"""CJK fonts for what the platform draws (certificates), with a fallback per character.

Names are printed on certificates exactly as registered, and a registered name may hold
characters outside GB 2312 (䶮, 㵘, or characters of the extension blocks B-F). Noto CJK
(Debian's ``fonts-noto-cjk``) covers the basic block and extension A; HanaMin
(``fonts-hanazono``, SIL OFL) covers extensions B-F. Text is split into runs, each drawn
with the first font that has a real glyph for its characters, so no name prints as boxes.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset, ttLib
from PIL import ImageDraw, ImageFont

FONT_DIRS = (
    # fonts placed in the repository's fonts/ folder are found first
    Path(__file__).resolve().parents[2] / "fonts",
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
)

# (file name, face name inside the collection) in order of preference, per style.
_FACES = {
    "serif-bold": [("NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC")],
    "serif": [("NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC")],
    "sans": [("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC")],
    "sans-bold": [("NotoSansCJK-Bold.ttc", "Noto Sans CJK SC")],
}
# Fonts asked for a character the style's own font lacks.
_FALLBACKS = [
    ("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("HanaMinA.ttf", None),
    ("HanaMinB.ttf", None),
]
# A code point no font maps (the last private-use point of plane 16): draws as .notdef.
_UNMAPPED = "\U0010fffd"


class FontMissing(RuntimeError):
    """No CJK font is installed (install fonts-noto-cjk, which ./dev installs)."""


@functools.cache
def _find_file(name: str) -> Path | None:
    for folder in FONT_DIRS:
        if not folder.is_dir():
            continue
        direct = folder / name
        if direct.is_file():
            return direct
        for found in folder.rglob(name):
            return found
    return None


@functools.cache
def _face_index(path: Path, face: str | None) -> int:
    if face is None:
        return 0
    for index in range(16):
        try:
            font = ImageFont.truetype(str(path), 12, index=index)
        except OSError:
            break
        if font.getname()[0] == face:
            return index
    return 0


@functools.cache
def _load(name: str, face: str | None, size: int) -> ImageFont.FreeTypeFont | None:
    path = _find_file(name)
    if path is None:
        return None
    return ImageFont.truetype(str(path), size, index=_face_index(path, face))


@dataclass(frozen=True)
class FontChain:
    """The style's font first, then the fallbacks that exist on this machine."""

    fonts: tuple[ImageFont.FreeTypeFont, ...]

    @property
    def primary(self) -> ImageFont.FreeTypeFont:
        return self.fonts[0]

    def font_for(self, char: str) -> ImageFont.FreeTypeFont:
        for font in self.fonts:
            if has_glyph(font, char):
                return font
        return self.fonts[0]

    def runs(self, text: str) -> Iterator[tuple[str, ImageFont.FreeTypeFont]]:
        """Consecutive characters that share a font."""
        current: list[str] = []
        current_font = self.primary  # the first character sets it before any run is yielded
        for char in text:
            font = self.primary if char.isspace() else self.font_for(char)
            if font is not current_font and current:
                yield "".join(current), current_font
                current = []
            current_font = font
            current.append(char)
        if current:
            yield "".join(current), current_font

    def width(self, text: str) -> float:
        return sum(font.getlength(run) for run, font in self.runs(text))

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill) -> float:
        """Draw on the primary font's baseline; returns the x where the text ends."""
        x, y = xy
        for run, font in self.runs(text):
            draw.text((x, y), run, font=font, fill=fill, anchor="ls")
            x += font.getlength(run)
        return x


@functools.cache
def font_chain(style: str, size: int) -> FontChain:
    fonts: list[ImageFont.FreeTypeFont] = []
    for name, face in [*_FACES[style], *_FALLBACKS]:
        font = _load(name, face, size)
        if font is not None and all(font is not other for other in fonts):
            fonts.append(font)
    if not fonts:
        raise FontMissing(
            "no CJK font found: install Debian's fonts-noto-cjk (and fonts-hanazono for "
            "rare characters), or put the font files under fonts/"
        )
    return FontChain(tuple(fonts))


def _mask_bytes(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    mask = font.getmask(char)
    return bytes(mask) + bytes(str(mask.size), "ascii")


@functools.cache
def has_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    """True when the font draws ``char`` as something other than its .notdef box."""
    if char.isspace():
        return True
    return _mask_bytes(font, char) != _mask_bytes(font, _UNMAPPED)


# --- fonts embedded in PDFs ------------------------------------------------------------------


@functools.cache
def font_file(style: str) -> tuple[Path, int] | None:
    """The file of the style's font, or of the first fallback installed, and the index of its
    face inside a collection (a ``.ttc`` holds several); ``None`` without any CJK font."""
    for name, face in [*_FACES[style], *_FALLBACKS]:
        path = _find_file(name)
        if path is not None:
            return path, _face_index(path, face)
    return None


@functools.lru_cache(maxsize=32)
def font_subset(style: str, characters: str) -> bytes | None:
    """A font program (OpenType) holding only the glyphs of ``characters``, cut from the
    style's font, to embed in a PDF; ``None`` without any CJK font. A collection's face is
    taken out on the way: PDF embeds one font, not a collection. Cutting the subset from
    Noto CJK's 65,000 glyphs takes about half a second, hence the cache."""
    found = font_file(style)
    if found is None:
        return None
    path, index = found
    font = ttLib.TTFont(str(path), fontNumber=index, lazy=True)
    try:
        options = subset.Options()
        options.notdef_outline = True
        options.name_IDs = ["*"]  # the PostScript name is what the PDF calls the font
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(sorted(set(characters))))
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
    finally:
        font.close()
    return out.getvalue()
