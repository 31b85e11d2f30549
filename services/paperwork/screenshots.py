"""Uploaded payment screenshots: images only, judged by their content, re-encoded clean.

The bytes must decode as a JPEG, PNG or WebP image within the size and pixel limits (Pillow's
decompression-bomb guard raises instead of warning); what is stored is a fresh JPEG drawn from
the decoded pixels, so no metadata (location, device), no trailing payload and no other
format survives.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a long phone screenshot is well under this
MAX_SIDE = 20_000
STORED_LONG_SIDE = 4096
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}


class ScreenshotRejected(ValueError):
    """The upload is not an image we keep; the message says what to do."""


def clean_screenshot(data: bytes) -> bytes:
    """The screenshot as a metadata-free JPEG, or ``ScreenshotRejected``."""
    if not data:
        raise ScreenshotRejected("请上传缴费截图。")
    if len(data) > MAX_BYTES:
        raise ScreenshotRejected("截图不能超过8MB，请压缩后重新上传。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise ScreenshotRejected("截图尺寸过大，请截取缴费信息所在部分后重新上传。")
                image.load()
                picture = ImageOps.exif_transpose(image)
                picture = picture.convert("RGB")
    except ScreenshotRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ScreenshotRejected("截图尺寸过大，请截取缴费信息所在部分后重新上传。") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ScreenshotRejected("只能上传图片（JPG、PNG格式的缴费截图）。") from None
    picture.thumbnail((STORED_LONG_SIDE, STORED_LONG_SIDE * 4))
    # Only the pixels go on: a converted image keeps the source's ``info`` (its JPEG comment,
    # which Pillow writes out again, an HTML page with a script in it perhaps), a new one
    # holds nothing but what is drawn into it.
    clean = Image.new("RGB", picture.size)
    clean.paste(picture)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=88, optimize=True)
    return out.getvalue()
