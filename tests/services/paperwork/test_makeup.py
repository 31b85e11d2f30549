import io
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import select

from infra.extensions import db
from models.enrollments import Enrollment, EnrollmentSource, EnrollmentStatus
from models.makeup import MakeupKind, ReviewStatus
from models.wechat import TemplateMessage
from services import stored_files
from services.audit import Actor
from services.errors import Conflict, NotFound, StopValidation
from services.paperwork import makeup
from services.paperwork.screenshots import ScreenshotRejected, clean_screenshot
from tests import factories

NOW = datetime(2025, 3, 7, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai


def voucher(**overrides):
    data = {
        "order_no": "CQ2019052000123",
        "payer": "李娜",
        "paid_at": "2019-05-20T10:30",
        "platform": "某继续教育网",
        "screenshot": factories.image_bytes(),
    }
    data.update(overrides)
    return makeup.Voucher(**data)


def letter(learner, **overrides):
    data = {
        "paid_on": "2018-04-02",
        "reason": "原平台已关闭，无法导出缴费记录",
        "signature": learner.name,
        "agreed": True,
    }
    data.update(overrides)
    return makeup.Commitment(**data)


def test_from_voucher_to_the_plan_opened_free():
    learner = factories.learner(name="李娜")
    plan = factories.makeup_plan(2019)
    application = makeup.submit_voucher(learner.id, plan.id, voucher(), now=NOW)
    assert application.status is ReviewStatus.PENDING and application.kind is MakeupKind.VOUCHER
    assert application.year == 2019
    # Three working days after Friday: the end of Wednesday.
    assert application.due_at == datetime(2025, 3, 12, 15, 59, 59, 999999, tzinfo=UTC)
    [item] = makeup.review_queue(now=NOW)
    assert item.application.id == application.id and item.workdays_left == 3

    staff = factories.staff()
    enrollment = makeup.approve(
        application.id, actor=Actor.staff(staff.id, staff.username, None), now=NOW
    )
    assert enrollment.status is EnrollmentStatus.ACTIVE
    assert enrollment.source is EnrollmentSource.MAKEUP_REVIEW
    assert enrollment.makeup_application_id == application.id and enrollment.order_id is None
    assert application.status is ReviewStatus.APPROVED and application.reviewer_id == staff.id
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.dedupe_key == f"review:{application.id}")
    )
    assert message.kind == "review_result" and "审核通过" in str(message.payload)
    assert makeup.review_queue(now=NOW) == []
    with pytest.raises(Conflict, match="已开通"):
        makeup.submit_commitment(learner.id, plan.id, letter(learner), now=NOW)


def test_a_commitment_letter_is_signed_with_the_accounts_name_and_agreed():
    learner = factories.learner(name="王芳")
    plan = factories.makeup_plan(2018)
    with pytest.raises(StopValidation) as refused:
        makeup.submit_commitment(
            learner.id, plan.id, letter(learner, signature="王方", agreed=False), now=NOW
        )
    fields = {error.field for error in refused.value.errors}
    assert fields == {"signature", "agreed"}
    application = makeup.submit_commitment(learner.id, plan.id, letter(learner), now=NOW)
    assert application.kind is MakeupKind.COMMITMENT and application.signature == "王芳"


def test_a_rejection_gives_the_reason_and_the_learner_may_apply_again():
    learner = factories.learner()
    plan = factories.makeup_plan(2017)
    application = makeup.submit_voucher(learner.id, plan.id, voucher(), now=NOW)
    with pytest.raises(Conflict, match="正在审核中"):
        makeup.submit_voucher(learner.id, plan.id, voucher(), now=NOW)
    staff = factories.staff()
    actor = Actor.staff(staff.id, staff.username, None)
    makeup.reject(application.id, actor=actor, reason="截图看不清订单号", now=NOW)
    assert application.status is ReviewStatus.REJECTED
    assert application.reject_reason == "截图看不清订单号"
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.dedupe_key == f"review:{application.id}")
    )
    assert "截图看不清订单号" in str(message.payload)
    assert db.session.scalar(select(Enrollment).where(Enrollment.learner_id == learner.id)) is None
    with pytest.raises(Conflict, match="已经审核"):
        makeup.approve(application.id, actor=actor, now=NOW)
    makeup.submit_voucher(learner.id, plan.id, voucher(), now=NOW)


def test_only_past_years_make_up_plans_take_applications():
    learner = factories.learner()
    current = factories.plan(year=2022)
    with pytest.raises(NotFound):
        makeup.submit_voucher(learner.id, current.id, voucher(), now=NOW)


def test_voucher_fields_are_checked_together():
    learner = factories.learner()
    plan = factories.makeup_plan(2016)
    with pytest.raises(StopValidation) as refused:
        makeup.submit_voucher(
            learner.id, plan.id,
            voucher(order_no="", paid_at="2030-01-01", platform="", screenshot=b""), now=NOW,
        )  # fmt: skip
    assert {error.field for error in refused.value.errors} == {
        "order_no", "paid_at", "platform", "screenshot",
    }  # fmt: skip


# --- upload attacks -------------------------------------------------------------------------------


def test_a_pdf_renamed_jpg_is_refused_by_its_content():
    pdf = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
    with pytest.raises(ScreenshotRejected, match="只能上传图片"):
        clean_screenshot(pdf)


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    # 30000 x 30000 pixels of one colour: a few hundred kilobytes that would decode to 2.7 GB.
    bomb = io.BytesIO()
    Image.new("1", (30000, 30000), 0).save(bomb, "PNG", optimize=True)
    assert len(bomb.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(ScreenshotRejected, match="尺寸过大"):
        clean_screenshot(bomb.getvalue())


def test_a_20_mb_file_is_refused():
    with pytest.raises(ScreenshotRejected, match="不能超过8MB"):
        clean_screenshot(factories.image_bytes() + b"\0" * (20 * 1024 * 1024))


def test_metadata_is_stripped_by_re_encoding():
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"  # Make
    exif[0x8825] = {1: "N"}  # GPS
    data = factories.image_bytes(fmt="JPEG", exif=exif.tobytes())
    assert b"SecretPhone" in data
    cleaned = clean_screenshot(data + b"<?php system($_GET['c']); ?>")
    assert b"SecretPhone" not in cleaned and b"<?php" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as picture:
        assert picture.format == "JPEG" and not picture.getexif()


def test_the_stored_screenshot_lives_under_storage_not_the_web_root(app):
    learner = factories.learner()
    plan = factories.makeup_plan(2015)
    application = makeup.submit_voucher(learner.id, plan.id, voucher(), now=NOW)
    path = stored_files.resolve(application.screenshot_path)
    assert path.is_relative_to(stored_files.storage_root())
    assert not path.is_relative_to(app.static_folder)
    with pytest.raises(ValueError):
        stored_files.resolve("../../etc/passwd")
