import io

from sqlalchemy import func, select

from infra.extensions import db
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentSource
from models.makeup import MakeupApplication, ReviewStatus
from models.staff import StaffRole
from services.display import mask_id_number, mask_phone
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.handlers.paperwork_helpers import download, log_in, log_in_staff, statements_for


def voucher_form(screenshot: bytes, filename: str = "pay.png"):
    return {
        "order_no": "CQ2019052000123",
        "payer": "李娜",
        "paid_at": "2019-05-20T10:30",
        "platform": "某继续教育网",
        "screenshot": (io.BytesIO(screenshot), filename),
    }


def test_from_the_voucher_form_to_the_unlocked_plan(client):
    learner = factories.learner(name="李娜")
    plan = factories.makeup_plan(2019)
    log_in(client, learner)
    page = client.get("/h5/makeup").get_data(as_text=True)
    assert "2019年度公需科目" in page and "请选择要补学的年度" in page
    page = client.get("/h5/makeup?year=2019").get_data(as_text=True)
    assert "提交缴费凭证" in page
    form = client.get(f"/h5/makeup/{plan.id}/voucher").get_data(as_text=True)
    assert learner.id_number in form and learner.phone in form

    response = submit_form(
        client, f"/h5/makeup/{plan.id}/voucher", voucher_form(factories.image_bytes()),
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 302
    application = db.session.scalar(select(MakeupApplication))
    assert application.status is ReviewStatus.PENDING
    assert "待审核" in client.get("/h5/makeup").get_data(as_text=True)
    own = download(client, f"/h5/makeup/applications/{application.id}/screenshot")
    assert own.status_code == 200 and own.mimetype == "image/jpeg"

    staff_client = client.application.test_client()
    log_in_staff(staff_client, factories.staff(StaffRole.STAFF))
    queue = staff_client.get("/admin/makeup").get_data(as_text=True)
    assert "李娜" in queue and "个工作日" in queue
    detail = f"/admin/makeup/{application.id}"
    assert "CQ2019052000123" in staff_client.get(detail).get_data(as_text=True)
    assert download(staff_client, f"{detail}/screenshot").status_code == 200
    response = submit_form(staff_client, f"{detail}/approve", {}, page=detail)
    assert response.status_code == 302

    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == learner.id))
    assert enrollment.plan_id == plan.id and enrollment.source is EnrollmentSource.MAKEUP_REVIEW
    assert enrollment.makeup_application_id == application.id
    assert "已通过" in client.get("/h5/makeup").get_data(as_text=True)


def test_others_never_see_the_screenshot(client):
    learner = factories.learner()
    plan = factories.makeup_plan(2018)
    log_in(client, learner)
    submit_form(
        client, f"/h5/makeup/{plan.id}/voucher", voucher_form(factories.image_bytes()),
        content_type="multipart/form-data",
    )  # fmt: skip
    application = db.session.scalar(select(MakeupApplication))
    other = client.application.test_client()
    log_in(other, factories.learner())
    assert other.get(f"/h5/makeup/applications/{application.id}/screenshot").status_code == 403
    finance = client.application.test_client()
    log_in_staff(finance, factories.staff(StaffRole.FINANCE))
    assert finance.get(f"/admin/makeup/{application.id}/screenshot").status_code == 403
    anonymous = client.application.test_client()
    assert anonymous.get(f"/admin/makeup/{application.id}/screenshot").status_code == 302


def test_a_pdf_renamed_jpg_is_refused_and_nothing_is_kept(client, app):
    import pathlib

    learner = factories.learner()
    plan = factories.makeup_plan(2017)
    log_in(client, learner)
    kept_before = set(pathlib.Path(app.config["STORAGE_DIR"]).glob("makeup/*"))
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
    response = submit_form(
        client, f"/h5/makeup/{plan.id}/voucher", voucher_form(pdf, "pay.jpg"),
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 400
    assert "只能上传图片" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(MakeupApplication.id))) == 0
    assert set(pathlib.Path(app.config["STORAGE_DIR"]).glob("makeup/*")) == kept_before


def test_a_20_mb_upload_is_refused_with_a_message(client):
    learner = factories.learner()
    plan = factories.makeup_plan(2016)
    log_in(client, learner)
    url = f"/h5/makeup/{plan.id}/voucher"
    token = csrf_from(client.get(url).get_data(as_text=True))
    big = factories.image_bytes() + b"\0" * (20 * 1024 * 1024)
    # The body is built in memory: the test client would spool it to a temporary file.
    fields = {key: value for key, value in voucher_form(big).items() if key != "screenshot"}
    body, content_type = multipart({**fields, "csrf_token": token}, ("screenshot", "pay.png", big))
    response = client.post(url, data=body, content_type=content_type)
    assert response.status_code == 400
    assert "不能超过8MB" in response.get_data(as_text=True)


def multipart(fields, upload):
    boundary = "----paperwork-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    name, filename, data = upload
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_the_commitment_letter_carries_the_promise_and_needs_signature_and_agreement(client):
    learner = factories.learner(name="王芳")
    plan = factories.makeup_plan(2015)
    log_in(client, learner)
    url = f"/h5/makeup/{plan.id}/commitment"
    page = client.get(url).get_data(as_text=True)
    assert "本人所提供的缴费信息真实有效，如系伪造，本人愿依法承担相应法律责任" in page
    assert learner.id_number in page
    refused = submit_form(
        client, url, {"paid_on": "2015-06-01", "reason": "平台已关闭", "signature": "王"}
    )
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "作为签名" in text and "勾选" in text
    accepted = submit_form(
        client, url,
        {"paid_on": "2015-06-01", "reason": "平台已关闭", "signature": "王芳", "agreed": "y"},
    )  # fmt: skip
    assert accepted.status_code == 302
    application = db.session.scalar(select(MakeupApplication))
    assert application.kind.value == "commitment" and application.signature == "王芳"


def test_a_rejection_reaches_the_learner_with_its_reason(client):
    learner = factories.learner()
    plan = factories.makeup_plan(2014)
    log_in(client, learner)
    submit_form(
        client, f"/h5/makeup/{plan.id}/voucher", voucher_form(factories.image_bytes()),
        content_type="multipart/form-data",
    )  # fmt: skip
    application = db.session.scalar(select(MakeupApplication))
    staff_client = client.application.test_client()
    log_in_staff(staff_client, factories.staff(StaffRole.STAFF))
    detail = f"/admin/makeup/{application.id}"
    submit_form(staff_client, f"{detail}/reject", {"reason": ""}, page=detail)
    assert application.status is ReviewStatus.PENDING
    submit_form(staff_client, f"{detail}/reject", {"reason": "截图看不清订单编号"}, page=detail)
    db.session.refresh(application)
    assert application.status is ReviewStatus.REJECTED
    page = client.get("/h5/makeup?year=2019").get_data(as_text=True)
    assert "截图看不清订单编号" in page and "提交缴费凭证" in page


def test_a_second_submission_for_the_same_year_is_refused_on_the_form(client):
    learner = factories.learner(name="李娜")
    plan = factories.makeup_plan(2019)
    log_in(client, learner)
    url = f"/h5/makeup/{plan.id}/voucher"
    # Two tabs opened the form before either was sent.
    token = csrf_from(client.get(url).get_data(as_text=True))

    def send():
        data = {**voucher_form(factories.image_bytes()), "csrf_token": token}
        return client.post(url, data=data, content_type="multipart/form-data")

    assert send().status_code == 302
    second = send()
    page = second.get_data(as_text=True)
    assert second.status_code == 400
    assert 'name="order_no"' in page  # the form again, with the reason on it
    assert "2019年度补学申请正在审核中" in page
    assert db.session.scalar(select(func.count(MakeupApplication.id))) == 1


def test_the_console_shows_the_applicant_masked_as_everywhere_else_in_it(client):
    learner = factories.learner(name="王芳", unit_obj=factories.unit("重庆市沙坪坝区第一中学"))
    plan = factories.makeup_plan(2016)
    log_in(client, learner)
    submit_form(
        client, f"/h5/makeup/{plan.id}/commitment",
        {"paid_on": "2016-06-01", "reason": "平台已关闭", "signature": "王芳", "agreed": "y"},
    )  # fmt: skip
    application = db.session.scalar(select(MakeupApplication))
    staff_client = client.application.test_client()
    log_in_staff(staff_client, factories.staff(StaffRole.STAFF))
    page = staff_client.get(f"/admin/makeup/{application.id}").get_data(as_text=True)
    assert "王芳" in page and "重庆市沙坪坝区第一中学" in page
    assert learner.id_number not in page and mask_id_number(learner.id_number) in page
    assert learner.phone not in page and mask_phone(learner.phone) in page


def test_the_make_up_page_asks_the_same_of_the_database_for_one_year_or_many(client):
    learner = factories.learner()
    log_in(client, learner)
    counts = []
    for year in (2019, 2018, 2017):
        factories.makeup_plan(year)
        counts.append(statements_for(client, "/h5/makeup"))
    assert counts[0] == counts[-1]


def test_the_makeup_page_chooses_a_year_then_offers_its_actions(client):
    learner = factories.learner(name="李娜")
    log_in(client, learner)
    for year in (2019, 2018, 2017):
        factories.makeup_plan(year)
    page = client.get("/h5/makeup").get_data(as_text=True)
    assert page.count("/h5/makeup?year=") == 3 and "makeup-actions" not in page
    chosen = client.get("/h5/makeup?year=2018").get_data(as_text=True)
    actions = chosen.split('class="weui-btn-area makeup-actions"')[1].split("</div>")[0]
    plan_2018 = db.session.scalar(
        select(Plan).where(Plan.year == 2018, Plan.kind == PlanKind.MAKEUP)
    )
    assert f"/h5/makeup/{plan_2018.id}/voucher" in actions
    assert f"/h5/makeup/{plan_2018.id}/commitment" in actions
    assert "2019" not in actions and 'aria-current="page"' in chosen
    # A year that is not offered shows the list alone.
    assert "makeup-actions" not in client.get("/h5/makeup?year=2030").get_data(as_text=True)


def test_own_applications_come_first_and_an_opened_year_links_to_its_study(client):
    learner = factories.learner(name="李娜")
    plan = factories.makeup_plan(2019)
    factories.makeup_plan(2018)
    log_in(client, learner)
    submit_form(
        client, f"/h5/makeup/{plan.id}/voucher", voucher_form(factories.image_bytes()),
        content_type="multipart/form-data",
    )  # fmt: skip
    application = db.session.scalar(select(MakeupApplication))
    page = client.get("/h5/makeup").get_data(as_text=True)
    assert page.index("我的申请") < page.index("请选择要补学的年度")
    assert f"/h5/study/plans/{plan.id}" not in page  # pending: nothing to study yet

    staff_client = client.application.test_client()
    log_in_staff(staff_client, factories.staff(StaffRole.STAFF))
    detail = f"/admin/makeup/{application.id}"
    submit_form(staff_client, f"{detail}/approve", {}, page=detail)
    page = client.get("/h5/makeup").get_data(as_text=True)
    mine = page.split('class="weui-cells makeup-applications"')[1].split("</div>\n</div>")[0]
    assert f'href="/h5/study/plans/{plan.id}"' in mine and "已开通" in mine
    years = page.split('class="weui-cells makeup-years"')[1]
    assert "已开通" in years
    chosen = client.get("/h5/makeup?year=2019").get_data(as_text=True)
    actions = chosen.split('class="weui-btn-area makeup-actions"')[1].split("</div>")[0]
    assert "进入学习" in actions and "提交缴费凭证" not in actions
    assert client.get(f"/h5/study/plans/{plan.id}").status_code == 200
