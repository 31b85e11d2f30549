from sqlalchemy import select

from infra.extensions import db
from models.certificates import Certificate
from services.display import mask_id_number
from services.paperwork import certificates
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import download, log_in, log_in_staff, statements_for


def completed(name="张伟"):
    learner = factories.learner(name=name)
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan)
    return learner, plan


def test_print_asks_for_the_profile_then_issues_and_serves_the_files(client):
    learner, plan = completed()
    log_in(client, learner)
    page = client.get("/h5/certificates").get_data(as_text=True)
    assert plan.title in page and "打印证书" in page

    url = f"/h5/certificates/plan/{plan.id}/print"
    profile = client.get(url).get_data(as_text=True)
    assert learner.id_number in profile and "档案所在区县" in profile
    district = factories.district("500107")
    response = submit_form(client, url, {"unit_id": "", "district_id": str(district.id)})
    assert response.status_code == 302
    certificate = db.session.scalar(select(Certificate).where(Certificate.learner_id == learner.id))
    assert certificate.unit_name == "九龙坡区（档案所在区县）"
    assert response.headers["Location"].endswith(f"/h5/certificates/{certificate.id}")

    view = client.get(f"/h5/certificates/{certificate.id}").get_data(as_text=True)
    assert certificate.number in view and "下载PDF" in view
    png = download(client, f"/h5/certificates/{certificate.id}/certificate.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG")
    pdf = download(client, f"/h5/certificates/{certificate.id}/certificate.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    assert "attachment" in pdf.headers["Content-Disposition"]
    # Printing again goes straight to the same certificate.
    again = client.get(url)
    assert again.headers["Location"].endswith(f"/h5/certificates/{certificate.id}")


def test_the_profile_is_required_before_printing(client):
    learner, plan = completed()
    log_in(client, learner)
    response = submit_form(
        client, f"/h5/certificates/plan/{plan.id}/print", {"unit_id": "", "district_id": ""}
    )
    assert response.status_code == 400
    assert "找不到单位时请选择档案所在区县" in response.get_data(as_text=True)
    assert db.session.scalar(select(Certificate)) is None


def test_an_unfinished_plan_cannot_be_printed(client):
    learner = factories.learner()
    plan = factories.plan()
    factories.completed_enrollment(learner, plan, hours=12).completed_at = None
    db.session.flush()
    log_in(client, learner)
    response = client.get(f"/h5/certificates/plan/{plan.id}/print")
    assert response.status_code == 409
    assert "已完成12学时" in response.get_data(as_text=True)


def test_only_the_owner_sees_the_certificate_files(client):
    learner, plan = completed()
    certificate = certificates.issue_certificate(learner.id, plan.id)
    other = factories.learner()
    log_in(client, other)
    for path in ("", "/certificate.png", "/certificate.pdf"):
        assert client.get(f"/h5/certificates/{certificate.id}{path}").status_code == 403
    client.post("/h5/logout", data={})
    anonymous = client.application.test_client()
    assert anonymous.get(f"/h5/certificates/{certificate.id}/certificate.png").status_code == 302


def test_the_verify_page_shows_masked_data_and_the_status(client):
    learner, plan = completed(name="欧阳娜娜")
    certificate = certificates.issue_certificate(learner.id, plan.id)
    page = client.get(f"/verify/{certificate.number}").get_data(as_text=True)
    assert "证书真实有效" in page and "欧**娜" in page and "欧阳娜娜" not in page
    assert learner.id_number not in page and learner.id_number[-4:] in page
    assert plan.title in page and "30学时" in page and "2022年度" in page

    staff = factories.staff()
    log_in_staff(client, staff)
    submit_form(
        client,
        f"/admin/certificates/{certificate.id}/reissue",
        {"reason": "姓名更正", "corrected_name": "欧阳娜"},
        page=f"/admin/certificates/{certificate.id}",
    )
    revoked = client.get(f"/verify/{certificate.number}").get_data(as_text=True)
    assert "该证书已作废" in revoked
    new = certificates.valid_certificate(learner.id, plan.id)
    assert new.holder_name == "欧阳娜" and new.number != certificate.number


def test_an_unknown_number_is_clearly_not_found(client):
    response = client.get("/verify/GX2022-AAAA-BBBB-CCCC-DDDD")
    assert response.status_code == 404
    assert "未查询到该证书" in response.get_data(as_text=True)
    assert (
        client.get("/verify/?number=gx2022-aaaa")
        .headers["Location"]
        .endswith("/verify/GX2022-AAAA")
    )


def test_the_verify_page_is_rate_limited(client, app):
    limit = int(app.config["VERIFY_LIMIT_PER_IP"].split()[0])
    statuses = [client.get(f"/verify/GX2022-{n:04d}").status_code for n in range(limit + 1)]
    assert statuses[:limit] == [404] * limit
    assert statuses[-1] == 429


def test_staff_revoke_needs_a_reason_and_is_audited(client):
    from models.staff import AuditLog, StaffRole

    learner, plan = completed()
    certificate = certificates.issue_certificate(learner.id, plan.id)
    log_in_staff(client, factories.staff(StaffRole.FINANCE))
    assert client.get("/admin/certificates").status_code == 403
    client.post("/admin/logout")
    log_in_staff(client, factories.staff(StaffRole.STAFF))
    page = f"/admin/certificates/{certificate.id}"
    submit_form(client, f"{page}/revoke", {"reason": ""}, page=page)
    assert certificate.status.value == "valid"
    submit_form(client, f"{page}/revoke", {"reason": "重复发证"}, page=page)
    db.session.refresh(certificate)
    assert certificate.status.value == "revoked"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "certificate.revoke"))


def test_the_console_shows_the_holders_id_number_masked(client):
    learner, plan = completed()
    certificate = certificates.issue_certificate(learner.id, plan.id)
    log_in_staff(client, factories.staff())
    for url in ("/admin/certificates", f"/admin/certificates/{certificate.id}"):
        page = client.get(url).get_data(as_text=True)
        assert certificate.number in page
        assert learner.id_number not in page and mask_id_number(learner.id_number) in page


def test_a_number_too_large_for_an_id_is_no_page_rather_than_an_error(client):
    learner, plan = completed()
    log_in(client, learner)
    too_large = 2**31
    for url in (
        f"/h5/certificates/{too_large}",
        f"/h5/certificates/plan/{too_large}/print",
        f"/h5/invoices/{too_large}",
        f"/h5/makeup/{too_large}/voucher",
    ):
        assert client.get(url).status_code == 404, url
    response = submit_form(
        client,
        f"/h5/certificates/plan/{plan.id}/print",
        {"unit_id": str(too_large), "district_id": ""},
    )
    assert response.status_code == 400
    assert "请选择工作单位" in response.get_data(as_text=True)


def test_my_certificates_asks_the_same_of_the_database_for_one_plan_or_many(client):
    learner = factories.learner()
    log_in(client, learner)
    counts = []
    for year in (2020, 2021, 2022):
        factories.completed_enrollment(learner, factories.plan(year=year))
        counts.append(statements_for(client, "/h5/certificates"))
    assert counts[0] == counts[-1]
