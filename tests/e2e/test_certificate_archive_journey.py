"""A unit admin downloads the unit's certificates of a year as one ZIP, in the browser."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from infra.transaction import commit
from models.staff import StaffRole
from services.paperwork import certificate_archive, certificates, signing
from tests import factories
from tests.e2e.conftest import desktop, snap


@pytest.mark.committed
def test_a_unit_admin_downloads_the_years_certificates(live_platform, browser, shots):
    base = live_platform.url
    unit = factories.unit("重庆市渝中区人民医院")
    plan = factories.plan(year=2022)
    numbers = []
    for name in ("张伟", "李娜"):
        learner = factories.learner(name=name, unit_obj=unit)
        factories.completed_enrollment(learner, plan)
        numbers.append(certificates.issue_certificate(learner.id, plan.id).number)
    unit_admin = factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit)
    commit()

    console = desktop(browser).new_page()
    console.goto(base + "/admin/login")
    console.fill("#username", unit_admin.username)
    console.fill("#password", factories.PASSWORD)
    console.get_by_role("button", name="登录").click()
    console.get_by_role("link", name="单位证书打包下载").click()
    expect(console.locator("h1")).to_have_text("单位证书打包下载")
    expect(console.locator(".admin-table")).to_contain_text("2022年度")
    expect(console.locator(".admin-table")).to_contain_text("2份")
    snap(console, shots, "archive-01-years")
    with console.expect_download() as download:
        console.get_by_role("link", name="下载ZIP").click()
    assert download.value.suggested_filename == "合格证书-重庆市渝中区人民医院-2022.zip"
    with zipfile.ZipFile(Path(download.value.path())) as archive:
        assert archive.testzip() is None
        pdfs = [name for name in archive.namelist() if name.endswith(".pdf")]
        assert sorted(pdfs) == sorted([f"张伟-{numbers[0]}.pdf", f"李娜-{numbers[1]}.pdf"])
        assert certificate_archive.LIST_NAME in archive.namelist()
        for name in pdfs:
            assert signing.check_signature(archive.read(name)).ours_and_unchanged
