"""A unit admin downloads the unit's certificates of a year as one ZIP archive."""

import csv
import io
import zipfile

from sqlalchemy import select

from infra.extensions import db
from models.catalog import Plan
from models.staff import StaffRole
from services.audit import Actor
from services.paperwork import certificate_archive, certificates, signing
from tests import factories
from tests.handlers.paperwork_helpers import log_in_staff

STAFF = Actor.system("system:test")


def plan_of(year):
    plan = db.session.scalar(select(Plan).where(Plan.year == year))
    return plan or factories.plan(year=year)


def certified(unit, name, year=2022):
    learner = factories.learner(name=name, unit_obj=unit)
    plan = plan_of(year)
    factories.completed_enrollment(learner, plan)
    return certificates.issue_certificate(learner.id, plan.id)


def test_the_unit_admin_downloads_the_years_valid_certificates_signed(client):
    unit = factories.unit("重庆市渝中区人民医院")
    first = certified(unit, "张伟")
    second = certified(unit, "王䶮")
    revoked = certified(unit, "李四")
    certificates.revoke_certificate(revoked.id, actor=STAFF, reason="信息有误")
    other_year = certified(unit, "赵六", year=2023)
    elsewhere = certified(factories.unit("别的单位"), "钱七")
    log_in_staff(client, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit))

    page = client.get("/admin/certificates/archive").get_data(as_text=True)
    assert "重庆市渝中区人民医院" in page and "2022年度" in page and "2023年度" in page

    response = client.get("/admin/certificates/archive/2022.zip")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    names = sorted(archive.namelist())
    assert names == sorted(
        [f"张伟-{first.number}.pdf", f"王䶮-{second.number}.pdf", certificate_archive.LIST_NAME]
    )
    for name in names:
        if name.endswith(".pdf"):
            assert signing.check_signature(archive.read(name)).ours_and_unchanged
    listed = archive.read(certificate_archive.LIST_NAME).decode("utf-8-sig")
    listing = list(csv.reader(io.StringIO(listed)))
    assert listing[0][0] == "证书编号"
    assert {row[0] for row in listing[1:]} == {first.number, second.number}
    text = str(names)
    assert revoked.number not in text and other_year.number not in text
    assert elsewhere.number not in text


def test_the_archive_is_sent_in_bounded_pieces(app):
    unit = factories.unit()
    ids = [certified(unit, f"学员{i}").id for i in range(3)]
    pieces = list(certificate_archive.stream_archive(ids))
    total = sum(len(piece) for piece in pieces)
    assert total > 3 * certificate_archive.CHUNK  # three PDFs of several hundred KB
    assert len(pieces) > 10
    # No piece holds more than one chunk of a file and its headers.
    assert max(len(piece) for piece in pieces) < certificate_archive.CHUNK + 4096


def test_a_year_without_certificates_is_refused_in_chinese(client):
    unit = factories.unit()
    log_in_staff(client, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit))
    response = client.get("/admin/certificates/archive/2021.zip")
    assert response.status_code == 404
    assert "本单位2021年度没有有效的合格证书" in response.get_data(as_text=True)


def test_a_unit_admin_sees_only_their_unit_whatever_the_address_says(client):
    mine, other = factories.unit(), factories.unit()
    theirs = certified(other, "钱七")
    log_in_staff(client, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=mine))
    response = client.get(f"/admin/certificates/archive/2022.zip?unit_id={other.id}")
    assert response.status_code == 404
    assert theirs.number not in response.get_data(as_text=True)


def test_finance_staff_may_not_download_archives(client):
    log_in_staff(client, factories.staff(StaffRole.FINANCE))
    response = client.get("/admin/certificates/archive/2022.zip")
    assert response.status_code in (302, 403)


def test_downloading_again_sends_the_same_signed_files(client):
    unit = factories.unit()
    certified(unit, "张伟")
    log_in_staff(client, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit))
    first = zipfile.ZipFile(io.BytesIO(client.get("/admin/certificates/archive/2022.zip").data))
    again = zipfile.ZipFile(io.BytesIO(client.get("/admin/certificates/archive/2022.zip").data))
    assert first.namelist() == again.namelist()
    for name in first.namelist():
        assert first.read(name) == again.read(name)
