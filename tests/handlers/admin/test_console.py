from datetime import UTC, datetime
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from infra.extensions import db
from models.orders import SeatStatus
from models.staff import AuditLog, StaffRole, StaffUser
from services import reports
from services.display import mask_id_number, mask_phone
from tests import factories
from tests.conftest import count_statements, submit_form


def _figures():
    """Two units in two districts; a group order bought by one unit for another's staff."""
    yuzhong = factories.unit("渝中医院", "500103")
    jiangbei = factories.unit("江北设计院", "500105")
    plan = factories.plan(year=2022, price_fen=3000)
    a = [factories.learner(unit_obj=yuzhong) for _ in range(3)]
    b = [factories.learner(unit_obj=jiangbei) for _ in range(2)]
    factories.paid_order(a[0], plan)
    factories.paid_order(a[1], plan)
    group = factories.paid_order(a[0], plan, seats=[b[0], b[1]])
    # One seat of the group order refunded: no revenue, no enrollment counted.
    seat = next(seat for seat in group.seats if seat.learner_id == b[1].id)
    seat.status = SeatStatus.REFUNDED
    from models.enrollments import Enrollment, EnrollmentStatus

    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == b[1].id))
    enrollment.status = EnrollmentStatus.REVOKED
    finished = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == a[0].id))
    from models.base import utcnow

    finished.completed_at = utcnow()
    finished.earned_hours = 30
    db.session.flush()
    return yuzhong, jiangbei, plan


def test_report_by_district_counts_each_learner_where_they_belong():
    _figures()
    report = reports.build_report(2022, by="district")
    rows = {row.name: row for row in report.rows}
    assert (rows["渝中区"].registered, rows["渝中区"].bought, rows["渝中区"].finished) == (3, 2, 1)
    assert rows["渝中区"].revenue_fen == 6000
    assert (rows["江北区"].registered, rows["江北区"].bought, rows["江北区"].finished) == (2, 1, 0)
    assert rows["江北区"].revenue_fen == 3000  # the group seat counts in the colleague's unit
    assert rows["渝中区"].completion_percent == 50.0
    assert reports.build_report(2021).total.bought == 0


def test_report_by_unit_and_for_a_unit_admin():
    _, jiangbei, _ = _figures()
    by_unit = {row.name: row for row in reports.build_report(2022, by="unit").rows}
    assert by_unit["渝中医院"].district == "渝中区"
    scoped = reports.build_report(2022, by="unit", unit_id=jiangbei.id)
    assert [row.name for row in scoped.rows] == ["江北设计院"]


def test_report_page_and_excel_export(client, login_staff):
    _, jiangbei, _ = _figures()
    # A hostile unit name must stay text in the spreadsheet.
    jiangbei.name = '=HYPERLINK("http://x","点我")'
    db.session.flush()
    login_staff(StaffRole.FINANCE)
    page = client.get("/admin/reports?year=2022&by=unit").get_data(as_text=True)
    assert "渝中医院" in page
    assert "<svg" in page
    assert "收入（元）" in page and "60.00" in page  # finance sees the revenue
    response = client.get("/admin/reports.xlsx?year=2022&by=unit")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "单位",
        "所在区县",
        "注册人数",
        "购买人数",
        "完成人数",
        "完成率(%)",
        "收入(元)",
    )
    names = [row[0] for row in rows[1:]]
    assert "渝中医院" in names
    assert '\'=HYPERLINK("http://x","点我")' in names
    assert all(not (isinstance(cell, str) and cell.startswith("=")) for row in rows for cell in row)
    assert rows[-1][0] == "合计"


def test_unit_admin_sees_only_their_unit(client, login_staff):
    yuzhong, jiangbei, _ = _figures()
    other = factories.learner(name="赵六", unit_obj=yuzhong)
    mine = factories.learner(name="钱七", unit_obj=jiangbei)
    login_staff(StaffRole.UNIT_ADMIN, unit_obj=jiangbei)
    page = client.get("/admin/reports?year=2022").get_data(as_text=True)
    assert "江北区" in page and "渝中区" not in page
    assert "收入" not in page
    export = client.get("/admin/reports.xlsx?year=2022")
    header = next(load_workbook(BytesIO(export.data)).active.iter_rows(values_only=True))
    assert header == ("区县", "注册人数", "购买人数", "完成人数", "完成率(%)")  # no revenue
    learners = client.get("/admin/learners").get_data(as_text=True)
    assert "钱七" in learners and "赵六" not in learners
    assert client.get(f"/admin/learners/{other.id}").status_code == 404
    assert client.get(f"/admin/learners/{mine.id}").status_code == 200
    assert client.get("/admin/staff").status_code == 403
    assert client.get("/admin/units").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_a_unit_admin_without_a_unit_sees_no_one(client, login_staff):
    # The account lost its unit (or never had one): no scope must never mean every unit.
    _figures()
    someone = factories.learner(name="周八")
    login_staff(StaffRole.UNIT_ADMIN)
    for path in ("/admin/", "/admin/learners", f"/admin/learners/{someone.id}", "/admin/reports"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "周八" not in response.get_data(as_text=True)
        assert "没有所属单位" in response.get_data(as_text=True)
    assert client.get("/admin/reports.xlsx").status_code == 403


def test_learner_search_masks_and_finds(client, login_staff):
    learner = factories.learner(name="孙悟空")
    login_staff(StaffRole.STAFF)
    for query in (learner.id_number, learner.phone, learner.id_number[-4:], "悟空"):
        page = client.get("/admin/learners", query_string={"q": query}).get_data(as_text=True)
        results = page[page.index("<table") :]
        assert "孙悟空" in results, query
        assert learner.id_number not in results
        assert learner.phone not in results
    detail = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    assert learner.id_number not in detail
    assert learner.id_number[-4:] in detail


def test_learner_search_takes_a_number_copied_masked_from_another_page(client, login_staff):
    learner = factories.learner(name="孙悟净")
    factories.learner(name="孙悟能")
    login_staff(StaffRole.STAFF)
    for query in (mask_id_number(learner.id_number), mask_phone(learner.phone)):
        page = client.get("/admin/learners", query_string={"q": query}).get_data(as_text=True)
        results = page[page.index("<table") :]
        assert "孙悟净" in results and "孙悟能" not in results, query


def test_learner_search_runs_the_same_queries_for_a_full_page(client, login_staff):
    login_staff(StaffRole.STAFF)
    factories.learner(name="孙一")

    def page_statements():
        with count_statements() as statements:
            assert client.get("/admin/learners").status_code == 200
        return len(statements)

    one_row = page_statements()
    for _ in range(12):  # each in a unit of its own
        factories.learner(name="孙二")
    assert page_statements() == one_row


def test_staff_accounts_are_managed_by_admins_and_audited(client, login_staff):
    admin = login_staff(StaffRole.ADMIN)
    response = submit_form(
        client,
        "/admin/staff",
        {"username": "finance01", "name": "财务一", "role": "finance", "password": "Money2022x"},
    )
    assert response.status_code == 302
    created = db.session.scalar(select(StaffUser).where(StaffUser.username == "finance01"))
    assert created.role is StaffRole.FINANCE
    response = submit_form(
        client,
        "/admin/staff",
        {"username": "unitadmin1", "name": "单位", "role": "unit_admin", "password": "Unit2022x"},
    )
    assert response.status_code == 400
    assert "单位管理员必须指定所属单位" in response.get_data(as_text=True)
    response = submit_form(
        client, f"/admin/staff/{created.id}/active", {"active": "0"}, page="/admin/staff"
    )
    db.session.refresh(created)
    assert created.is_active is False
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.staff_id == admin.id).order_by(AuditLog.id)
    ).all()
    assert actions == ["staff.create", "staff.deactivate"]
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "<td>停用工作人员账号</td>" in log and "<td>工作人员 #" in log
    # A deactivated account cannot log in.
    other = client.application.test_client()
    response = submit_form(
        other, "/admin/login", {"username": "finance01", "password": "Money2022x"}
    )
    assert response.status_code == 401


def test_staff_account_changes_record_the_address_they_came_from(client, login_staff):
    login_staff(StaffRole.ADMIN)
    office = {"REMOTE_ADDR": "198.51.100.4"}
    submit_form(
        client,
        "/admin/staff",
        {"username": "finance02", "name": "财务二", "role": "finance", "password": "Money2022x"},
        environ_base=office,
    )
    created = db.session.scalar(select(StaffUser).where(StaffUser.username == "finance02"))
    submit_form(
        client,
        f"/admin/staff/{created.id}/password",
        {"password": "Money2023x"},
        page="/admin/staff",
        environ_base=office,
    )
    entries = db.session.execute(
        select(AuditLog.action, AuditLog.ip).where(AuditLog.target_id == str(created.id))
    ).all()
    assert sorted(entries) == [
        ("staff.create", office["REMOTE_ADDR"]),
        ("staff.reset_password", office["REMOTE_ADDR"]),
    ]


def test_units_are_created_and_corrected_with_audit(client, login_staff):
    login_staff(StaffRole.STAFF)
    district = factories.district("500106")
    response = submit_form(
        client,
        "/admin/units/new",
        {
            "name": "重庆市沙坪坝区某中学",
            "district_id": district.id,
            "credit_code": "91350100M000100Y44",
        },
        page="/admin/units",
    )
    assert response.status_code == 400
    assert "校验位不正确" in response.get_data(as_text=True)
    response = submit_form(
        client,
        "/admin/units/new",
        {
            "name": "重庆市沙坪坝区某中学",
            "district_id": district.id,
            "credit_code": "91350100M000100Y43",
        },
        page="/admin/units",
    )
    assert response.status_code == 302
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "unit.create"))
    assert entry.after["credit_code"] == "91350100M000100Y43"


def test_console_pages_need_a_staff_login(client):
    for path in ("/admin/", "/admin/reports", "/admin/learners", "/admin/staff", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/admin/login" in response.headers["Location"]


def _nav_links(page: str) -> dict[str, str]:
    import re

    nav = page[page.index('<nav class="admin-nav"') : page.index("</nav>")]
    return {label: href for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}


def test_each_role_sees_the_pages_it_may_open_and_every_link_opens(client, login_staff):
    unit = factories.unit()
    expected = {
        StaffRole.ADMIN: {
            "名单导入",
            "学习计划与课程",
            "订单",
            "工作人员账号",
            "操作日志",
            "补学审核",
        },
        StaffRole.STAFF: {"名单导入", "学习计划与课程", "补学审核", "证书", "发票", "单位与区县"},
        StaffRole.FINANCE: {"订单", "退款", "发票", "统计报表"},
        StaffRole.UNIT_ADMIN: {"学员查询", "未完成学员", "统计报表"},
    }
    hidden = {
        StaffRole.STAFF: {"订单", "退款", "工作人员账号", "操作日志", "未完成学员"},
        StaffRole.FINANCE: {"名单导入", "学习计划与课程", "补学审核", "工作人员账号"},
        StaffRole.UNIT_ADMIN: {
            "名单导入",
            "订单",
            "发票",
            "补学审核",
            "单位与区县",
            "工作人员账号",
        },
    }
    for role in StaffRole:
        other = client.application.test_client()
        member = factories.staff(role, unit_obj=unit if role is StaffRole.UNIT_ADMIN else None)
        submit_form(
            other, "/admin/login", {"username": member.username, "password": factories.PASSWORD}
        )
        links = _nav_links(other.get("/admin/").get_data(as_text=True))
        assert expected[role] <= set(links), role
        assert not (hidden.get(role, set()) & set(links)), role
        for label, href in links.items():
            assert other.get(href).status_code == 200, (role, label)


def test_a_learners_page_says_each_order_status_in_words(client, login_staff):
    learner = factories.learner(name="周敏")
    factories.paid_order(learner, factories.plan())
    login_staff(StaffRole.STAFF)
    detail = client.get(f"/admin/learners/{learner.id}").get_data(as_text=True)
    orders = detail[detail.index("<h2>订单</h2>") : detail.index("<h2>证书</h2>")]
    assert "<td>已支付</td>" in orders
    assert "paid" not in orders


def test_reports_open_on_the_latest_year_that_has_a_plan():
    from datetime import date

    assert reports.default_year(date(2026, 11, 28)) == 2026  # no plan at all: this year
    factories.plan(year=2022)
    factories.plan(year=2030)  # announced for later: not the one staff mean
    assert reports.default_year(date(2026, 11, 28)) == 2022
    factories.plan(year=2026)
    assert reports.default_year(date(2026, 11, 28)) == 2026


def test_dashboard_gives_the_deadline_of_the_years_plan(client, login_staff):
    # The closing date is the plan's (data), not a date written into the page.
    plan = factories.plan(year=2022)
    plan.study_ends_at = datetime(2022, 12, 20, 15, 59, tzinfo=UTC)  # 23:59 in Chongqing
    db.session.flush()
    login_staff(StaffRole.STAFF)
    page = client.get("/admin/").get_data(as_text=True)
    assert "2022-12-20" in page
    assert "12 月 31 日" not in page


def test_absurd_page_numbers_show_a_page_not_an_error(client, login_staff):
    login_staff(StaffRole.ADMIN)
    for path in (
        "/admin/learners",
        "/admin/units",
        "/admin/audit",
        "/admin/orders",
        "/admin/refunds",
    ):
        for page in ("99999999999999999999", "-5", "abc"):
            response = client.get(path, query_string={"page": page})
            assert response.status_code == 200, (path, page)
