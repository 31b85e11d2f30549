"""A voucher screenshot is stored as its pixels only: no JPEG comment, EXIF, ICC profile or
other metadata segment survives the re-encoding."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from infra.extensions import db
from models.makeup import MakeupApplication
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import download, log_in

HOSTILE_COMMENT = b"<html><body><script>alert(document.cookie)</script></body></html>"


def jpeg_with_metadata() -> bytes:
    picture = Image.new("RGB", (640, 480), (250, 250, 250))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (29.0, 33.0, 0.0)}  # GPS latitude
    out = io.BytesIO()
    picture.save(out, "JPEG", comment=HOSTILE_COMMENT, exif=exif.tobytes(), icc_profile=b"\0" * 128)
    data = out.getvalue()
    assert HOSTILE_COMMENT in data
    return data


def segments(jpeg: bytes) -> list[int]:
    """The markers of a JPEG's header segments, up to the start of the scan."""
    assert jpeg[:2] == b"\xff\xd8"
    markers, at = [], 2
    while at < len(jpeg):
        assert jpeg[at] == 0xFF
        marker = jpeg[at + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
        at += 2 + length
    return markers


def test_every_metadata_segment_is_dropped(client):
    source = jpeg_with_metadata()
    assert 0xFE in segments(source) and 0xE1 in segments(source) and 0xE2 in segments(source)
    learner = factories.learner()
    plan = factories.makeup_plan(2019)
    log_in(client, learner)
    response = submit_form(
        client,
        f"/h5/makeup/{plan.id}/voucher",
        {
            "order_no": "CQ2019052000123",
            "payer": "李娜",
            "paid_at": "2019-05-20T10:30",
            "platform": "某继续教育网",
            "screenshot": (io.BytesIO(source), "pay.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    application = db.session.scalar(select(MakeupApplication))
    stored = download(client, f"/h5/makeup/applications/{application.id}/screenshot").data
    markers = segments(stored)
    assert 0xFE not in markers  # no comment
    assert [m for m in markers if 0xE1 <= m <= 0xEF] == []  # no EXIF, ICC, XMP, Adobe …
    assert b"<script" not in stored and b"PhoneMaker" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (640, 480)
        assert "comment" not in image.info and "exif" not in image.info
        assert "icc_profile" not in image.info
