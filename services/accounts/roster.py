"""Rosters (附件2) that units email: read safely, check row by row, create the accounts.

A roster names its district, contact, unit and contact phone in a header block (区县,
联系人, 单位全称, 联系电话 — often in merged cells), then lists people under the columns
序号, 姓名, 身份证号码, 手机号码, 性别, 备注. Every good row becomes an account whose username
is the ID number; the initial password is the number's last 6 characters, derivable, so
nothing is hashed at import and the owner must choose a new one at first login. Bad rows
are reported with their reasons in an .xlsx report, existing accounts are reported and left
alone, and importing the same file again creates nothing.

Two doors use this module: the console (preview, then confirm) and ``flask roster import``.
Services flush; the caller commits, so a failure anywhere leaves no account behind.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import openpyxl
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from models.accounts import AccountSource, Gender, Learner
from models.base import utcnow
from models.org import District, Unit
from models.roster import RosterImport, RosterImportStatus
from services import spreadsheets
from services.accounts.identity import parse_id_number, parse_mobile, parse_name
from services.accounts.org import find_district_by_name, find_or_create_unit
from services.audit import Actor, record_action
from services.errors import Conflict, NotFound, ValidationError
from services.spreadsheets import ReadLimits, SpreadsheetRefused

Progress = Callable[[int, int | None], None]

FIELDS = ("seq", "name", "id_number", "phone", "gender", "note")
FIELD_LABELS = ("序号", "姓名", "身份证号码", "手机号码", "性别", "备注")
REPORT_HEADERS = ("行号", *FIELD_LABELS, "结果", "原因")

# Header cells carry notes such as 姓名（姓名中间不能有空格和符号）: matched by what they start with.
_COLUMN_PREFIXES = {
    "seq": ("序号",),
    "name": ("姓名",),
    "id_number": ("身份证",),
    "phone": ("手机", "联系电话", "电话"),
    "gender": ("性别",),
    "note": ("备注",),
}
_HEADER_SEARCH_ROWS = 30
_HEADER_LABELS = re.compile(
    r"(区\s*县|联\s*系\s*人|单\s*位\s*全\s*称|单\s*位\s*名\s*称|联\s*系\s*电\s*话)\s*[:：]?"
)
_HEADER_KEYS = {
    "区县": "district",
    "联系人": "contact_name",
    "单位全称": "unit_name",
    "单位名称": "unit_name",
    "联系电话": "contact_phone",
}
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff]")
# Typed before a number to keep Excel from treating it as one.
_TEXT_MARKS = "'‘’`"
_GENDERS = {"男": Gender.MALE, "男性": Gender.MALE, "女": Gender.FEMALE, "女性": Gender.FEMALE}
# Under SQLite's and PostgreSQL's bound-parameter limits: one query per lookup up to here.
_LOOKUP_CHUNK = 10_000
_PROGRESS_EVERY = 250

TEMPLATE_HINT = "请使用附件2的格式：表头为“序号、姓名、身份证号码、手机号码、性别、备注”。"


@dataclass(frozen=True)
class RosterHeader:
    district: str = ""
    contact_name: str = ""
    unit_name: str = ""
    contact_phone: str = ""


@dataclass(frozen=True)
class RosterRow:
    number: int  # as Excel shows it
    values: tuple[str, ...]  # the cells' text in FIELDS order, as written
    # Excel keeps 15 significant digits of a number: an ID number stored as one is damaged.
    id_as_number: bool = False


@dataclass(frozen=True)
class RosterFile:
    header: RosterHeader
    rows: tuple[RosterRow, ...]


class RowOutcome(enum.StrEnum):
    NEW = "new"
    EXISTING = "existing"
    ERROR = "error"

    @property
    def label(self) -> str:
        return {"new": "新建", "existing": "已存在", "error": "有误"}[self.value]


@dataclass(frozen=True)
class NewAccount:
    name: str
    id_number: str
    phone: str
    gender: Gender
    birth_date: date


@dataclass(frozen=True)
class CheckedRow:
    row: RosterRow
    outcome: RowOutcome
    reason: str = ""
    account: NewAccount | None = None


@dataclass(frozen=True)
class RosterCheck:
    header: RosterHeader
    district: District
    unit_name: str
    unit: Unit | None
    rows: tuple[CheckedRow, ...]

    def count(self, outcome: RowOutcome) -> int:
        return sum(1 for row in self.rows if row.outcome is outcome)


@dataclass(frozen=True)
class ReportLine:
    row_number: int
    values: tuple[str, ...]
    outcome: str
    reason: str


# --- reading -----------------------------------------------------------------------------


def read_limits() -> ReadLimits:
    config = current_app.config
    return ReadLimits(
        max_file_bytes=config["ROSTER_MAX_FILE_BYTES"],
        max_uncompressed_bytes=config["ROSTER_MAX_UNCOMPRESSED_BYTES"],
        max_rows=config["ROSTER_MAX_ROWS"],
    )


def squash(text: str) -> str:
    """A code or label: full-width to half-width, and no whitespace anywhere."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return "".join(text.split())


def squash_spaces(text: str) -> str:
    """A name as typed (its full-width brackets kept), without the spaces that pad it for
    alignment."""
    return "".join(_INVISIBLE.sub("", text).split())


def read_roster(
    path: Path, *, limits: ReadLimits | None = None, on_progress: Progress | None = None
) -> RosterFile:
    """The header block and the people of the first sheet that has the table header."""
    limits = limits or ReadLimits()
    with ExitStack() as stack:
        workbook = stack.enter_context(spreadsheets.open_upload(path, limits))
        for sheet in spreadsheets.worksheets(workbook):
            total = spreadsheets.declared_rows(sheet)
            rows = stack.enter_context(closing(spreadsheets.stream_rows(sheet, limits)))
            lines: list[str] = []
            columns = None
            for number, values in rows:
                columns = _table_columns(values)
                if columns is not None or number >= _HEADER_SEARCH_ROWS:
                    break
                line = "\t".join(filter(None, (spreadsheets.cell_text(v) for v in values)))
                if line.strip():
                    lines.append(line)
            if columns is None:
                continue
            missing = [
                label
                for field, label in zip(FIELDS, FIELD_LABELS, strict=True)
                if field in ("name", "id_number", "phone") and field not in columns
            ]
            if missing:
                raise SpreadsheetRefused(f"表头缺少“{'、'.join(missing)}”列。" + TEMPLATE_HINT)
            people = []
            last = 0
            for last, values in rows:
                row = _person_row(last, values, columns)
                if row is not None:
                    people.append(row)
                if on_progress is not None and last % _PROGRESS_EVERY == 0:
                    on_progress(last, total)
            if on_progress is not None:
                on_progress(max(last, total or 0), total)
            return RosterFile(header=_header_block(lines), rows=tuple(people))
    raise SpreadsheetRefused("找不到名单的表头行。" + TEMPLATE_HINT)


def _table_columns(values: tuple[object, ...]) -> dict[str, int] | None:
    """Column positions when this is the table's header row."""
    found: dict[str, int] = {}
    for index, value in enumerate(values):
        if not isinstance(value, str):
            continue
        text = re.split(r"[(（]", squash(value), maxsplit=1)[0]
        for field, prefixes in _COLUMN_PREFIXES.items():
            if field not in found and text.startswith(prefixes):
                found[field] = index
                break
    return found if "name" in found and "id_number" in found else None


def _header_block(lines: list[str]) -> RosterHeader:
    """区县/联系人/单位全称/联系电话: the value follows its label in the same cell or the next."""
    values: dict[str, str] = {}
    for line in lines:
        text = line
        labels = list(_HEADER_LABELS.finditer(text))
        for index, match in enumerate(labels):
            end = labels[index + 1].start() if index + 1 < len(labels) else len(text)
            value = text[match.end() : end].strip(" \t:：_")
            key = _HEADER_KEYS[squash(match.group(1))]
            if value and not values.get(key):
                values[key] = " ".join(value.split())
    return RosterHeader(**values)


def _person_row(
    number: int, values: tuple[object, ...], columns: dict[str, int]
) -> RosterRow | None:
    cells = [values[columns[field]] if field in columns else None for field in FIELDS]
    texts = tuple(spreadsheets.cell_text(cell).strip() for cell in cells)
    # 序号 is often filled in ahead and 备注 says nothing about a person.
    if not any(squash(text) for text in texts[1:5]):
        return None
    id_cell = cells[FIELDS.index("id_number")]
    return RosterRow(
        number=number,
        values=texts,
        id_as_number=isinstance(id_cell, float),
    )


# --- checking ----------------------------------------------------------------------------


def check_roster(roster: RosterFile) -> RosterCheck:
    """Judge every row against the rules and the accounts that exist (nothing is written)."""
    header = roster.header
    if not header.district:
        raise ValidationError("file", "表头缺少“区县”：请在名单上方填写单位所在的区县后重新导入。")
    district = find_district_by_name(header.district)
    if district is None:
        raise ValidationError(
            "file",
            f"表头的区县“{header.district}”不是本市的区县，整份名单未导入。"
            "请改为正确的区县名称（例如：渝中区、两江新区）后重新导入。",
        )
    unit_name = squash_spaces(header.unit_name)
    if not unit_name:
        raise ValidationError("file", "表头缺少“单位全称”：请填写单位全称后重新导入。")
    if len(unit_name) > 100:
        raise ValidationError("file", "表头的“单位全称”超过100个字，请核对后重新导入。")
    unit = db.session.scalar(
        select(Unit).where(Unit.district_id == district.id, Unit.name == unit_name)
    )

    parsed = [(row, *_parse_row(row)) for row in roster.rows]
    accounts = [account for _, account, _ in parsed if account is not None]
    existing_ids = _existing_id_numbers(account.id_number for account in accounts)
    phone_owners = _phone_owners(account.phone for account in accounts)

    first_with_id: dict[str, int] = {}
    first_with_phone: dict[str, int] = {}
    checked = []
    for row, account, problems in parsed:
        if account is None:
            checked.append(CheckedRow(row, RowOutcome.ERROR, "".join(problems)))
            continue
        earlier = first_with_id.setdefault(account.id_number, row.number)
        if earlier != row.number:
            checked.append(
                CheckedRow(row, RowOutcome.ERROR, f"身份证号码与第{earlier}行重复，本行未导入。")
            )
        elif account.id_number in existing_ids:
            checked.append(
                CheckedRow(row, RowOutcome.EXISTING, "该身份证号码已有账号，账号信息未作修改。")
            )
        elif account.phone in phone_owners:
            checked.append(
                CheckedRow(
                    row, RowOutcome.ERROR, "手机号码已被其他账号使用，请核对后改填本人的手机号码。"
                )
            )
        elif account.phone in first_with_phone:
            checked.append(
                CheckedRow(
                    row,
                    RowOutcome.ERROR,
                    f"手机号码与第{first_with_phone[account.phone]}行相同，"
                    "每个账号须使用本人的手机号码。",
                )
            )
        else:
            first_with_phone[account.phone] = row.number
            checked.append(CheckedRow(row, RowOutcome.NEW, account=account))
    return RosterCheck(
        header=header, district=district, unit_name=unit_name, unit=unit, rows=tuple(checked)
    )


def _parse_row(row: RosterRow) -> tuple[NewAccount | None, list[str]]:
    """The account a row describes, or the reasons it cannot be one."""
    values = dict(zip(FIELDS, row.values, strict=True))
    problems: list[str] = []
    name = resident = phone = None
    try:
        name = parse_name(squash_spaces(values["name"]))
    except ValidationError as error:
        problems.append(error.message)
    if row.id_as_number:
        problems.append(
            "身份证号码被Excel存成了数字，末几位已不可信：请把该列设为“文本”格式，"
            "重新填写后再导入。"
        )
    else:
        try:
            resident = parse_id_number(squash(values["id_number"]).lstrip(_TEXT_MARKS))
        except ValidationError as error:
            problems.append(error.message)
    try:
        phone = parse_mobile(squash(values["phone"]).lstrip(_TEXT_MARKS))
    except ValidationError as error:
        problems.append(error.message)
    gender_text = squash(values["gender"])
    if gender_text and gender_text not in _GENDERS:
        problems.append("性别应填写“男”或“女”。")
    elif gender_text and resident and _GENDERS[gender_text] is not resident.gender:
        problems.append(f"性别与身份证号码不符（按身份证号码应为{resident.gender.label}）。")
    if problems or name is None or resident is None or phone is None:
        return None, problems
    return (
        NewAccount(
            name=name,
            id_number=resident.number,
            phone=phone,
            gender=resident.gender,
            birth_date=resident.birth_date,
        ),
        [],
    )


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        yield ordered[start : start + _LOOKUP_CHUNK]


def _existing_id_numbers(id_numbers: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(id_numbers):
        found.update(
            db.session.scalars(select(Learner.id_number).where(Learner.id_number.in_(chunk)))
        )
    return found


def _phone_owners(phones: Iterable[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for chunk in _chunks(phones):
        result = db.session.execute(
            select(Learner.phone, Learner.id_number).where(Learner.phone.in_(chunk))
        )
        owners.update((phone, id_number) for phone, id_number in result)
    return owners


# --- importing ---------------------------------------------------------------------------


def preview_roster(
    source: Path,
    *,
    filename: str,
    actor: Actor,
    keep_upload: bool = True,
    on_progress: Progress | None = None,
) -> RosterImport:
    """Check a roster and record what importing it would do; no account is written.

    The console keeps the upload for the confirmation; ``keep_upload=False`` (a dry run
    from the shell) keeps only the error report.
    """
    check = check_roster(read_roster(source, limits=read_limits(), on_progress=on_progress))
    record = RosterImport(
        filename=_display_name(filename),
        file_sha256=_sha256(source),
        stored_path=_store_upload(source) if keep_upload else None,
        staff_id=actor.staff_id,
        status=RosterImportStatus.PREVIEWED,
    )
    _apply_check(record, check)
    db.session.add(record)
    db.session.flush()
    record_action(
        actor,
        action="roster.preview",
        target_type="roster_import",
        target_id=record.id,
        after=_summary(record),
    )
    return record


def confirm_roster(
    import_id: int,
    *,
    actor: Actor,
    on_progress: Progress | None = None,
) -> RosterImport:
    """Import a previewed roster: the stored file is checked again against today's accounts."""
    record = db.session.get(RosterImport, import_id, with_for_update=True)
    if record is None:
        raise NotFound("找不到该名单导入记录。")
    refusal = confirm_refusal(record)
    path = stored_file(record.stored_path)
    if refusal is not None or path is None:
        raise Conflict(refusal or _UPLOAD_GONE)
    check = check_roster(read_roster(path, limits=read_limits(), on_progress=on_progress))
    return _import(record, check, actor=actor)


_UPLOAD_GONE = "上传的名单文件已不在，请重新上传。"


def confirm_refusal(record: RosterImport) -> str | None:
    """Why a previewed roster cannot be imported now; None when it can."""
    if record.status is RosterImportStatus.IMPORTED:
        return "该名单已导入，不能重复导入。"
    if stored_file(record.stored_path) is None:
        return _UPLOAD_GONE
    return None


def import_roster(
    source: Path,
    *,
    filename: str,
    actor: Actor,
    on_progress: Progress | None = None,
) -> RosterImport:
    """Check and import a roster in one step (the shell command)."""
    check = check_roster(read_roster(source, limits=read_limits(), on_progress=on_progress))
    record = RosterImport(
        filename=_display_name(filename),
        file_sha256=_sha256(source),
        stored_path=_store_upload(source),
        staff_id=actor.staff_id,
        status=RosterImportStatus.PREVIEWED,
    )
    db.session.add(record)
    db.session.flush()
    return _import(record, check, actor=actor)


def _import(record: RosterImport, check: RosterCheck, *, actor: Actor) -> RosterImport:
    before = {"status": record.status.value}
    unit_created = check.unit is None
    unit = check.unit or _find_or_create_unit(check.district, check.unit_name)
    now = utcnow()
    rows = [
        {
            "name": account.name,
            "id_number": account.id_number,
            "phone": account.phone,
            "gender": account.gender,
            "birth_date": account.birth_date,
            "unit_id": unit.id,
            "district_id": check.district.id,
            # The initial password is the ID number's last 6 characters (see accounts).
            "password_hash": None,
            "must_change_password": True,
            "source": AccountSource.ROSTER,
            "roster_import_id": record.id,
            "created_at": now,
            "updated_at": now,
        }
        for account in (row.account for row in check.rows if row.outcome is RowOutcome.NEW)
        if account is not None
    ]
    if rows:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(Learner), rows)
        except IntegrityError:
            raise Conflict(
                "导入时名单中有人刚刚注册了账号，本次未导入任何账号。请重新导入该名单"
                "（已注册的人员将显示为“已存在”）。"
            ) from None
    _apply_check(record, check)
    record.unit_id = unit.id
    record.status = RosterImportStatus.IMPORTED
    record.imported_at = now
    if actor.staff_id is not None:
        record.staff_id = actor.staff_id
    db.session.flush()
    record_action(
        actor,
        action="roster.import",
        target_type="roster_import",
        target_id=record.id,
        before=before,
        after={**_summary(record), "unit_created": unit_created},
    )
    return record


def _find_or_create_unit(district: District, name: str) -> Unit:
    try:
        with db.session.begin_nested():
            return find_or_create_unit(district, name)
    except IntegrityError:
        # Another import created the same unit a moment ago: it is there now.
        return find_or_create_unit(district, name)


def _apply_check(record: RosterImport, check: RosterCheck) -> None:
    record.district_name = check.district.name
    record.unit_name = check.unit_name
    record.unit_id = check.unit.id if check.unit else None
    record.contact_name = check.header.contact_name[:50] or None
    record.contact_phone = check.header.contact_phone[:30] or None
    record.total_rows = len(check.rows)
    record.created_count = check.count(RowOutcome.NEW)
    record.existing_count = check.count(RowOutcome.EXISTING)
    record.error_count = check.count(RowOutcome.ERROR)
    record.error_report_path = _write_report(check)


def _summary(record: RosterImport) -> dict[str, object]:
    return {
        "status": record.status.value,
        "filename": record.filename,
        "district": record.district_name,
        "unit": record.unit_name,
        "unit_id": record.unit_id,
        "total_rows": record.total_rows,
        "created": record.created_count,
        "existing": record.existing_count,
        "errors": record.error_count,
    }


# --- files -------------------------------------------------------------------------------


def _storage_root() -> Path:
    return Path(current_app.config["STORAGE_DIR"])


def stored_file(relative: str | None) -> Path | None:
    """A file this module stored, or None when it is gone."""
    if not relative:
        return None
    path = _storage_root() / relative
    return path if path.is_file() else None


def _display_name(filename: str) -> str:
    name = re.split(r"[\\/]", filename or "")[-1].strip()
    return (name or "名单.xlsx")[:255]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _store_upload(source: Path) -> str:
    relative = f"rosters/uploads/{utcnow():%Y%m%d}-{secrets.token_hex(8)}.xlsx"
    target = _storage_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return relative


def _write_report(check: RosterCheck) -> str | None:
    """Rows that were not imported (errors, then existing accounts), with their reasons."""
    reported = [row for row in check.rows if row.outcome is not RowOutcome.NEW]
    if not reported:
        return None
    reported.sort(key=lambda row: (row.outcome is not RowOutcome.ERROR, row.row.number))
    relative = f"rosters/reports/{utcnow():%Y%m%d}-{secrets.token_hex(8)}.xlsx"
    spreadsheets.write_table(
        _storage_root() / relative,
        title="未导入的行",
        headers=REPORT_HEADERS,
        rows=((row.row.number, *row.row.values, row.outcome.label, row.reason) for row in reported),
        widths=(8, 6, 12, 22, 14, 6, 16, 8, 60),
    )
    return relative


def report_lines(record: RosterImport, *, limit: int = 200) -> list[ReportLine]:
    """The first rows of an import's report, for the console page (ID and phone without
    spaces or full-width digits, ready to be masked)."""
    path = stored_file(record.error_report_path)
    if path is None:
        return []
    lines: list[ReportLine] = []
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(min_row=2, values_only=True)
        with closing(rows):
            for values in rows:
                if len(lines) >= limit:
                    break
                texts = [_unprefix(spreadsheets.cell_text(value)) for value in values]
                # ID number and phone are shown masked, which needs them without spaces.
                for index in (3, 4):
                    texts[index] = squash(texts[index])
                lines.append(
                    ReportLine(
                        row_number=int(texts[0]),
                        values=tuple(texts[1:7]),
                        outcome=texts[7],
                        reason=texts[8],
                    )
                )
    finally:
        workbook.close()
    return lines


def _unprefix(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def recent_imports(limit: int = 50) -> list[RosterImport]:
    return list(
        db.session.scalars(select(RosterImport).order_by(RosterImport.id.desc()).limit(limit))
    )


def get_import(import_id: int) -> RosterImport:
    record = db.session.get(RosterImport, import_id)
    if record is None:
        raise NotFound("找不到该名单导入记录。")
    return record


@dataclass(frozen=True)
class ImportPage:
    """One roster import in the console: its counts, report lines, earlier imports of the
    same file, and whether staff may confirm it."""

    record: RosterImport
    lines: list[ReportLine]
    earlier: list[RosterImport]

    @property
    def is_preview(self) -> bool:
        return self.record.status is RosterImportStatus.PREVIEWED

    @property
    def can_confirm(self) -> bool:
        return confirm_refusal(self.record) is None


def import_page(import_id: int) -> ImportPage:
    record = get_import(import_id)
    return ImportPage(record, report_lines(record), earlier_imports(record))


def earlier_imports(record: RosterImport) -> list[RosterImport]:
    """Imports of the very same file before this one (a re-run creates nothing new)."""
    return list(
        db.session.scalars(
            select(RosterImport)
            .where(
                RosterImport.file_sha256 == record.file_sha256,
                RosterImport.status == RosterImportStatus.IMPORTED,
                RosterImport.id != record.id,
            )
            .order_by(RosterImport.id)
        )
    )
