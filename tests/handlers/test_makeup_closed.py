"""补学 of a year whose study window has ended: refused with 该年度补学已截止 everywhere."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import func, select

from infra.extensions import db
from models.base import utcnow
from models.enrollments import Enrollment
from models.makeup import MakeupApplication, ReviewStatus
from models.orders import Order
from models.staff import StaffRole
from services.paperwork import makeup
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import log_in, log_in_staff


def closed_plan(year=2018):
    plan = factories.makeup_plan(year)
    plan.study_ends_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    return plan


def test_the_makeup_page_of_a_closed_year_says_so_and_disables_its_buttons(client):
    learner = factories.learner(name="李娜")
    open_plan = factories.makeup_plan(2019)
    plan = closed_plan()
    log_in(client, learner)
    years = client.get("/h5/makeup").get_data(as_text=True)
    closed_row = years[years.index("2018年度公需科目") :]
    assert closed_row.index("已截止") < closed_row.index("</a>")
    page = client.get("/h5/makeup?year=2018").get_data(as_text=True)
    assert "该年度补学已截止" in page
    assert page.count("disabled>提交缴费凭证") == 1
    assert f'href="/h5/makeup/{plan.id}/voucher"' not in page
    other = client.get("/h5/makeup?year=2019").get_data(as_text=True)
    assert "该年度补学已截止" not in other
    assert f'href="/h5/makeup/{open_plan.id}/voucher"' in other

    detail = client.get(f"/h5/plans/{plan.id}").get_data(as_text=True)
    assert "该年度补学已截止" in detail
    assert f"/h5/plans/{plan.id}/buy" not in detail and "disabled>立即购买" in detail

    form = client.get(f"/h5/makeup/{plan.id}/voucher").get_data(as_text=True)
    assert "该年度补学已截止" in form and "disabled>提交审核" in form


def test_a_voucher_for_a_closed_year_is_not_accepted_and_nothing_is_stored(client):
    learner = factories.learner(name="李娜")
    plan = closed_plan()
    log_in(client, learner)
    response = submit_form(
        client,
        f"/h5/makeup/{plan.id}/voucher",
        {
            "order_no": "CQ2018052000123",
            "payer": "李娜",
            "paid_at": "2018-05-20T10:30",
            "platform": "某继续教育网",
            "screenshot": (io.BytesIO(factories.image_bytes()), "pay.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "该年度补学已截止" in response.get_data(as_text=True)
    response = submit_form(
        client,
        f"/h5/makeup/{plan.id}/commitment",
        {"paid_on": "2018-05-20", "reason": "原平台已关闭", "signature": "李娜", "agreed": "y"},
    )
    assert response.status_code == 400
    assert "该年度补学已截止" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(MakeupApplication.id))) == 0


def test_a_closed_year_cannot_be_bought(client):
    learner = factories.learner()
    plan = closed_plan()
    log_in(client, learner)
    response = submit_form(client, f"/h5/plans/{plan.id}/buy", {})
    assert response.status_code == 400
    assert "该年度补学已截止" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_an_application_filed_in_time_is_not_approved_once_the_year_has_closed(client):
    learner = factories.learner(name="李娜")
    plan = factories.makeup_plan(2018)
    application = makeup.submit_commitment(
        learner.id,
        plan.id,
        makeup.Commitment(
            paid_on="2018-05-20", reason="原平台已关闭", signature="李娜", agreed=True
        ),
    )
    plan.study_ends_at = utcnow() - timedelta(minutes=1)
    db.session.flush()

    desk = client.application.test_client()
    log_in_staff(desk, factories.staff(StaffRole.STAFF))
    detail = f"/admin/makeup/{application.id}"
    response = submit_form(desk, f"{detail}/approve", {}, page=detail)
    page = desk.get(response.headers["Location"]).get_data(as_text=True)
    assert "该年度补学已截止" in page
    db.session.refresh(application)
    assert application.status is ReviewStatus.PENDING
    assert db.session.scalar(select(func.count(Enrollment.id))) == 0
