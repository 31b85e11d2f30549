"""Roster import (附件2): real files written with openpyxl, messy and hostile ones."""

from __future__ import annotations

from datetime import date

import openpyxl
import pytest
from sqlalchemy import event, func, select

from infra.extensions import db
from models.accounts import AccountSource, Gender, Learner
from models.org import Unit
from models.roster import RosterImport, RosterImportStatus
from models.staff import AuditLog
from services import spreadsheets
from services.accounts import roster
from services.accounts.identity import id_check_character
from services.audit import Actor
from services.errors import Conflict, ValidationError
from services.spreadsheets import SpreadsheetRefused
from tests import factories
from tests.roster_files import (
    billion_laughs_shared_strings,
    billion_laughs_sheet,
    external_entity_sheet,
    million_rows_sheet,
    replace_member,
    save_roster,
    with_entity_declarations,
    with_shared_strings,
    zip_bomb,
)

FIRST_PERSON_ROW = 5  # title, 区县/联系人, 单位全称/联系电话, table header

TEST_ACTOR = Actor.system("test")


def import_file(path, **kwargs):
    return roster.import_roster(path, filename=path.name, actor=TEST_ACTOR, **kwargs)


def id_ending_in_x(*, male: bool) -> str:
    while True:
        number = factories.valid_id_number(male=male)
        if number.endswith("X"):
            return number


def wrong_check_character(number: str) -> str:
    right = id_check_character(number[:17])
    return number[:17] + ("1" if right != "1" else "2")


def full_width(text: str) -> str:
    return text.translate({ord(digit): ord(digit) + 0xFEE0 for digit in "0123456789"})


def learner_count() -> int:
    return db.session.scalar(select(func.count(Learner.id)))


def import_count() -> int:
    return db.session.scalar(select(func.count(RosterImport.id)))


def by_id_number(number: str) -> Learner | None:
    return db.session.scalar(select(Learner).where(Learner.id_number == number))


# --- a messy roster, row by row ----------------------------------------------------------


def test_a_messy_roster_is_judged_row_by_row(tmp_path):
    existing = factories.learner(name="赵敏")
    other_account = factories.learner()
    ids = [factories.valid_id_number(male=male) for male in (True, True, False, True, True, True)]
    while ids[5].endswith("X"):  # the number Excel stored as a float needs digits only
        ids[5] = factories.valid_id_number(male=True)
    ethnic = factories.valid_id_number(male=False)
    x_id = id_ending_in_x(male=False)
    quoted = factories.valid_id_number(male=True)
    people = [
        (" 张  三 ", f" {ids[0][:6]} {ids[0][6:14]} {ids[0][14:]} ", " 137 0000 1001 ", " 男 "),
        ("李\u3000四", x_id.lower(), full_width("13700001002"), "女"),
        None,
        ("王五", ids[1], "13700001003", "女"),
        ("张三", ids[0], "13700001001", "男"),
        ("赵敏", existing.id_number, existing.phone, existing.gender.label),
        ("钱七", wrong_check_character(ids[2]), "13700001004", "女"),
        ("孙八", ids[3], other_account.phone, ""),
        ("周九", ids[4], "13700001001", ""),
        ("吴十*", ids[5], "13700001005", "男"),
        ("郑十一", float(ids[5]), "13700001006", "男"),
        ("阿依古丽·买买提", full_width(ethnic), "13700001007", "女性"),
        ("冯十二", "'" + quoted, "'13700001008", "男性"),
        ("陈十三", "", "13700001009", "男"),
        ("卫十四", factories.valid_id_number(male=True), "13700001010", "未知"),
        None,
    ]
    path = save_roster(tmp_path, people)
    before = (existing.name, existing.phone, existing.password_hash, existing.updated_at)

    record = import_file(path)

    expected = {
        5: ("new", ""),
        6: ("new", ""),
        8: ("error", "性别与身份证号码不符（按身份证号码应为男）"),
        9: ("error", "身份证号码与第5行重复"),
        10: ("existing", "已有账号"),
        11: ("error", "校验位不正确"),
        12: ("error", "手机号码已被其他账号使用"),
        13: ("error", "手机号码与第5行相同"),
        14: ("error", "姓名只能是汉字"),
        15: ("error", "身份证号码被Excel存成了数字"),
        16: ("new", ""),
        17: ("new", ""),
        18: ("error", "请填写身份证号码"),
        19: ("error", "性别应填写“男”或“女”"),
    }
    lines = {line.row_number: line for line in roster.report_lines(record)}
    for row, (outcome, reason) in expected.items():
        if outcome == "new":
            assert row not in lines, f"row {row} should have been imported"
            continue
        line = lines[row]
        assert line.outcome == ("有误" if outcome == "error" else "已存在"), row
        assert reason in line.reason, (row, line.reason)
    # Empty rows (7 and 20, 序号 only) and the footnote are neither imported nor reported.
    assert set(lines) == {row for row, (outcome, _) in expected.items() if outcome != "new"}

    assert (record.total_rows, record.created_count, record.existing_count, record.error_count) == (
        14,
        4,
        1,
        9,
    )
    zhang = by_id_number(ids[0])
    assert (zhang.name, zhang.phone, zhang.gender) == ("张三", "13700001001", Gender.MALE)
    li = by_id_number(x_id)
    assert (li.name, li.phone, li.gender) == ("李四", "13700001002", Gender.FEMALE)
    assert by_id_number(ethnic).name == "阿依古丽·买买提"
    assert by_id_number(quoted).phone == "13700001008"
    for learner in (zhang, li):
        assert learner.password_hash is None  # the initial password is derivable
        assert learner.must_change_password is True
        assert learner.source is AccountSource.ROSTER
        assert learner.roster_import_id == record.id
        assert learner.unit.name == "重庆市渝中区人民医院"
        assert learner.unit.district.name == "渝中区"
        assert learner.district_id == learner.unit.district_id
    assert zhang.birth_date == date(int(ids[0][6:10]), int(ids[0][10:12]), int(ids[0][12:14]))
    # The existing account is reported, not changed; bad rows are never written.
    db.session.refresh(existing)
    assert (existing.name, existing.phone, existing.password_hash, existing.updated_at) == before
    assert existing.roster_import_id is None
    for number in (ids[1], ids[3], ids[4], ids[5], wrong_check_character(ids[2])):
        assert by_id_number(number) is None


def test_the_initial_password_is_the_last_six_characters(tmp_path):
    from services.accounts.learners import authenticate

    x_id = id_ending_in_x(male=True)
    import_file(save_roster(tmp_path, [("张三", x_id.lower(), "13700001001", "男")]))
    assert authenticate(x_id, x_id[-6:]).must_change_password is True
    with pytest.raises(ValidationError):
        authenticate(x_id, x_id[-6:].lower() + "0")


@pytest.mark.parametrize("layout", ["merged", "cells", "one_cell"])
def test_the_header_block_is_read_in_every_layout(tmp_path, layout):
    path = save_roster(
        tmp_path,
        [("张三", factories.valid_id_number(), "13700001001", "男")],
        layout=layout,
        district="两江新区",
        unit="重庆两江新区 智能制造研究院",
        contact="刘 老师",
        contact_phone="13800138000",
    )
    record = import_file(path)
    assert record.district_name == "两江新区"
    assert record.unit_name == "重庆两江新区智能制造研究院"
    assert record.contact_name == "刘 老师"
    assert record.contact_phone == "13800138000"
    assert record.created_count == 1


@pytest.mark.parametrize("written", ["重庆市渝中区", "渝中", "渝中区 "])
def test_the_district_may_be_written_as_people_do(tmp_path, written):
    path = save_roster(
        tmp_path, [("张三", factories.valid_id_number(), "13700001001", "")], district=written
    )
    assert import_file(path).district_name == "渝中区"


def test_an_unknown_district_refuses_the_whole_file(tmp_path):
    path = save_roster(
        tmp_path, [("张三", factories.valid_id_number(), "13700001001", "")], district="火星区"
    )
    learners, imports = learner_count(), import_count()
    with pytest.raises(ValidationError, match=r"火星区.*不是本市的区县"):
        import_file(path)
    assert (learner_count(), import_count()) == (learners, imports)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"district": ""}, "表头缺少“区县”"),
        ({"unit": ""}, "表头缺少“单位全称”"),
        ({"header": ("序号", "名字", "证件", "电话", "性别", "备注")}, "找不到名单的表头行"),
        ({"header": ("序号", "姓名", "身份证号码", "性别", "备注")}, "表头缺少“手机号码”列"),
    ],
)
def test_a_roster_without_its_header_is_refused(tmp_path, overrides, message):
    path = save_roster(
        tmp_path, [("张三", factories.valid_id_number(), "13700001001", "")], **overrides
    )
    with pytest.raises(ValidationError, match=message):
        import_file(path)
    assert import_count() == 0


def test_the_unit_is_found_under_the_district_or_created_there(tmp_path):
    known = factories.unit("重庆市渝中区人民医院", "500103")
    same_name_elsewhere = factories.unit("重庆市第一中学校", "500106")
    first = import_file(
        save_roster(
            tmp_path, [("张三", factories.valid_id_number(), "13700001001", "")], name="a.xlsx"
        )
    )
    assert first.unit_id == known.id
    second = import_file(
        save_roster(
            tmp_path,
            [("李四", factories.valid_id_number(), "13700001002", "")],
            unit="重庆市第一中学校",
            name="b.xlsx",
        )
    )
    created = db.session.get(Unit, second.unit_id)
    assert created.id != same_name_elsewhere.id
    assert (created.name, created.district.name) == ("重庆市第一中学校", "渝中区")
    audit = db.session.scalar(
        select(AuditLog).where(
            AuditLog.action == "roster.import", AuditLog.target_id == str(second.id)
        )
    )
    assert audit.after["unit_created"] is True
    assert audit.after["created"] == 1


def test_running_the_same_file_again_changes_nothing(tmp_path):
    existing = factories.learner()
    people = [
        ("张三", factories.valid_id_number(), "13700001001", ""),
        ("李四", factories.valid_id_number(male=False), "13700001002", "女"),
        ("王五", existing.id_number, existing.phone, ""),
        ("赵六", "12345", "13700001003", ""),
    ]
    path = save_roster(tmp_path, people)
    first = import_file(path)
    snapshot = {
        learner.id: (learner.name, learner.phone, learner.updated_at, learner.roster_import_id)
        for learner in db.session.scalars(select(Learner))
    }
    units = db.session.scalar(select(func.count(Unit.id)))

    second = import_file(path)

    assert (first.created_count, first.existing_count, first.error_count) == (2, 1, 1)
    assert (second.created_count, second.existing_count, second.error_count) == (0, 3, 1)
    db.session.expire_all()
    assert {
        learner.id: (learner.name, learner.phone, learner.updated_at, learner.roster_import_id)
        for learner in db.session.scalars(select(Learner))
    } == snapshot
    assert db.session.scalar(select(func.count(Unit.id))) == units
    assert roster.earlier_imports(second) == [first]


def test_a_failure_while_writing_leaves_no_account(tmp_path):
    """Someone registers one of the roster's people while the accounts are being written:
    the import fails as a whole and not one account of the file is left behind."""
    people = [("张三", factories.valid_id_number(), f"137{index:08d}", "") for index in range(1500)]
    path = save_roster(tmp_path, people)
    late = people[-1][1]
    connection = db.session.connection()
    fired = []

    def register_meanwhile(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO learners") and not fired:
            fired.append(statement)
            cursor.execute(
                "INSERT INTO learners (name, id_number, phone, gender, birth_date, "
                "must_change_password, source, created_at, updated_at) VALUES "
                "('抢先', %s, '13600000000', 'male', '1988-06-01', false, 'self', now(), now())",
                (late,),
            )

    event.listen(connection, "before_cursor_execute", register_meanwhile)
    learners = learner_count()
    try:
        with pytest.raises(Conflict, match="本次未导入任何账号"):
            import_file(path)
    finally:
        event.remove(connection, "before_cursor_execute", register_meanwhile)
    assert fired
    assert learner_count() == learners
    assert by_id_number(people[0][1]) is None


def test_lookups_take_the_same_number_of_queries_whatever_the_size(tmp_path):
    existing = factories.learner()

    def statements_to_check(size: int) -> int:
        people = [(existing.name, existing.id_number, existing.phone, "")] + [
            ("张三", factories.valid_id_number(), f"137{size:04d}{index:04d}", "")
            for index in range(size)
        ]
        sheet = roster.read_roster(save_roster(tmp_path, people, name=f"{size}.xlsx"))
        connection = db.session.connection()
        seen = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(connection, "before_cursor_execute", count)
        try:
            check = roster.check_roster(sheet)
        finally:
            event.remove(connection, "before_cursor_execute", count)
        assert check.count(roster.RowOutcome.EXISTING) == 1
        return len(seen)

    assert statements_to_check(10) == statements_to_check(2000)


def test_preview_writes_no_account_and_confirm_imports_what_is_true_then(tmp_path):
    people = [
        ("张三", factories.valid_id_number(), "13700001001", ""),
        ("李四", factories.valid_id_number(male=False), "13700001002", ""),
    ]
    path = save_roster(tmp_path, people)
    learners = learner_count()
    record = roster.preview_roster(path, filename="名单.xlsx", actor=TEST_ACTOR)
    assert record.status is RosterImportStatus.PREVIEWED
    assert (record.created_count, record.unit_id) == (2, None)
    assert learner_count() == learners
    assert (
        db.session.scalar(select(func.count(Unit.id)).where(Unit.name == "重庆市渝中区人民医院"))
        == 0
    )
    # Between preview and confirmation one of them registers on the H5 page.
    factories.learner(name="李四", id_number=people[1][1], phone="13700001002")

    confirmed = roster.confirm_roster(record.id, actor=TEST_ACTOR)

    assert confirmed.status is RosterImportStatus.IMPORTED
    assert (confirmed.created_count, confirmed.existing_count) == (1, 1)
    assert by_id_number(people[0][1]).roster_import_id == record.id
    with pytest.raises(Conflict, match="已导入"):
        roster.confirm_roster(record.id, actor=TEST_ACTOR)
    actions = list(
        db.session.scalars(
            select(AuditLog.action)
            .where(AuditLog.target_id == str(record.id))
            .order_by(AuditLog.id)
        )
    )
    assert actions == ["roster.preview", "roster.import"]


# --- the error report --------------------------------------------------------------------


def test_the_error_report_lists_rows_with_reasons_and_cannot_run_formulas(tmp_path):
    existing = factories.learner()
    good = factories.valid_id_number()
    people = [
        (
            '=HYPERLINK("http://evil.example/","点我")',
            factories.valid_id_number(),
            "13700001001",
            "男",
            "+1",
        ),
        ("李四", "@SUM(A1:A2)", "-13700001002", "-", "\t=1+1"),
        ("王五", existing.id_number, existing.phone, "", "=cmd|' /C calc'!A0"),
        ("赵六", good, "13700001003", "", "=2+2"),
        ("孙七", "50010319880601101x", "13700001004", "女"),
    ]
    record = import_file(save_roster(tmp_path, people))
    report = roster.stored_file(record.error_report_path)
    workbook = openpyxl.load_workbook(report)  # full mode: cell types are visible
    sheet = workbook.worksheets[0]
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
            if isinstance(cell.value, str):
                assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), cell.coordinate
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == roster.REPORT_HEADERS
    # Errors first, in row order, then existing accounts; values as the unit typed them.
    assert [row[0] for row in rows[1:]] == [5, 6, 9, 7]
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example/","点我")'
    assert rows[1][6] == "'+1"
    assert rows[1][7] == "有误"
    assert "姓名只能是汉字" in rows[1][8]
    assert rows[2][3:6] == ("'@SUM(A1:A2)", "'-13700001002", "'-")
    assert rows[2][6] == "'=1+1"  # surrounding whitespace trimmed, then made safe
    assert rows[2][8] == "身份证号码应为18位。性别应填写“男”或“女”。"
    assert rows[3][3] == "50010319880601101x"  # as written, lower-case x and all
    assert rows[4][7:] == ("已存在", "该身份证号码已有账号，账号信息未作修改。")
    assert by_id_number(good) is not None
    # The console shows the same lines without the protective apostrophe.
    lines = roster.report_lines(record)
    assert lines[0].values[1].startswith("=HYPERLINK")


def test_formula_safe_text():
    assert spreadsheets.formula_safe("=1+1") == "'=1+1"
    assert spreadsheets.formula_safe("\r=2") == "'\r=2"
    assert spreadsheets.formula_safe("a\x01b") == "ab"
    assert spreadsheets.formula_safe("张三") == "张三"
    assert spreadsheets.formula_safe(5) == 5


def test_no_report_when_every_row_is_imported(tmp_path):
    record = import_file(
        save_roster(tmp_path, [("张三", factories.valid_id_number(), "13700001001", "")])
    )
    assert record.error_report_path is None
    assert roster.report_lines(record) == []


# --- hostile files -----------------------------------------------------------------------


def test_openpyxl_really_parses_through_defusedxml():
    from openpyxl.xml import functions

    spreadsheets.require_defused_xml()
    assert openpyxl.DEFUSEDXML is True
    assert functions.iterparse.__module__.startswith("defusedxml")


def _valid(tmp_path):
    return save_roster(tmp_path, [("张三", factories.valid_id_number(), "13700001001", "")])


def _refused(path, message):
    learners, imports = learner_count(), import_count()
    with pytest.raises(SpreadsheetRefused, match=message) as caught:
        import_file(path)
    assert caught.value.field == "file"
    assert (learner_count(), import_count()) == (learners, imports)


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx", inflated_bytes=80 << 20)
    assert path.stat().st_size < 200_000
    _refused(path, "压缩炸弹")


def test_a_small_bomb_is_refused_by_its_compression_ratio(tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx", inflated_bytes=8 << 20)
    assert path.stat().st_size < 50_000
    _refused(path, "压缩炸弹")


@pytest.mark.parametrize(
    "member",
    ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml", "[Content_Types].xml"],
)
def test_entity_declarations_are_refused_in_every_part(tmp_path, member):
    _refused(with_entity_declarations(_valid(tmp_path), member), "不安全的XML内容")


def test_billion_laughs_in_the_sheet_is_refused(tmp_path):
    path = replace_member(_valid(tmp_path), "xl/worksheets/sheet1.xml", billion_laughs_sheet())
    _refused(path, "不安全的XML内容")


def test_billion_laughs_in_the_shared_strings_is_refused(tmp_path):
    _refused(
        with_shared_strings(_valid(tmp_path), billion_laughs_shared_strings()), "不安全的XML内容"
    )


def test_an_external_entity_is_refused_and_never_read(tmp_path):
    path = replace_member(_valid(tmp_path), "xl/worksheets/sheet1.xml", external_entity_sheet())
    _refused(path, "不安全的XML内容")


def test_a_million_rows_are_refused(tmp_path):
    path = replace_member(_valid(tmp_path), "xl/worksheets/sheet1.xml", million_rows_sheet())
    assert path.stat().st_size < 3_000_000
    _refused(path, "表格超过20000行")


def test_a_million_rows_behind_a_small_dimension_are_refused(tmp_path):
    sheet = million_rows_sheet(dimension="A1:F5")
    _refused(replace_member(_valid(tmp_path), "xl/worksheets/sheet1.xml", sheet), "表格超过20000行")


@pytest.mark.parametrize("dimension", [None, "A1:F1000000"])
def test_a_sparse_million_row_sheet_is_refused(tmp_path, dimension):
    sheet = million_rows_sheet(sparse=True, dimension=dimension)
    path = replace_member(_valid(tmp_path), "xl/worksheets/sheet1.xml", sheet)
    assert path.stat().st_size < 20_000
    _refused(path, "表格超过20000行")


def test_the_row_limit_is_a_setting(tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "ROSTER_MAX_ROWS", 6)
    people = [("张三", factories.valid_id_number(), f"1370000100{index}", "") for index in range(3)]
    _refused(save_roster(tmp_path, people), "表格超过6行")


def test_files_that_are_not_xlsx_are_refused(tmp_path, app, monkeypatch):
    text = tmp_path / "名单.xlsx"
    text.write_text("序号,姓名,身份证号码\n1,张三,500103198806011016\n")
    _refused(text, "不是Excel 工作簿")
    old = tmp_path / "名单.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    _refused(old, "旧版 .xls 文件或设置了打开密码")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    _refused(empty, "文件是空的")
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(_valid(tmp_path).read_bytes()[:3000])
    _refused(truncated, "文件已损坏")
    broken = replace_member(
        _valid(tmp_path), "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row"
    )
    _refused(broken, "文件已损坏或不是有效的Excel文件")
    not_a_workbook = replace_member(_valid(tmp_path), "xl/workbook.xml", b"")
    _refused(not_a_workbook, "文件已损坏或不是有效的Excel文件")
    monkeypatch.setitem(app.config, "ROSTER_MAX_FILE_BYTES", 1000)
    _refused(_valid(tmp_path), "文件超过1KB")


def test_the_demo_sample_shows_every_outcome(tmp_path):
    from services.demo import org_and_people, roster_sample

    org_and_people.seed()
    path = tmp_path / roster_sample.SAMPLE_NAME
    roster_sample.write_sample(path)
    record = import_file(path)
    assert (record.created_count, record.existing_count, record.error_count) == (5, 1, 4)
    assert record.unit_name == "重庆市万州区第三人民医院"
    assert import_file(path).created_count == 0


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "名单.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")
    _refused(path, "不是Excel 工作簿")


def test_the_console_offers_to_confirm_a_roster_exactly_when_it_can_be_imported(tmp_path):
    people = [("张三", factories.valid_id_number(), "13700001011", "")]
    path = save_roster(tmp_path, people)
    kept = roster.preview_roster(path, filename="名单.xlsx", actor=TEST_ACTOR)
    # A dry run from the shell keeps only the report: there is nothing to import later.
    dry = roster.preview_roster(path, filename="名单.xlsx", actor=TEST_ACTOR, keep_upload=False)
    assert roster.import_page(kept.id).can_confirm and roster.import_page(kept.id).is_preview
    page = roster.import_page(dry.id)
    assert page.is_preview and not page.can_confirm
    with pytest.raises(Conflict, match="名单文件已不在"):
        roster.confirm_roster(dry.id, actor=TEST_ACTOR)
    roster.confirm_roster(kept.id, actor=TEST_ACTOR)
    page = roster.import_page(kept.id)
    assert not page.is_preview and not page.can_confirm
    with pytest.raises(Conflict, match="已导入"):
        roster.confirm_roster(kept.id, actor=TEST_ACTOR)
