"""Excel files in and out, safe against hostile uploads and formula injection.

Reading an upload:
- the zip's declared sizes and compression ratios are inspected before anything is parsed.
  Python's ``zipfile`` never inflates a member past its declared size (and then fails the
  CRC check), so the declaration is a real bound on memory and time;
- the XML goes through defusedxml, which refuses entity declarations (billion laughs) and
  external references; openpyxl uses it when it is installed, and ``require_defused_xml``
  makes sure it really does;
- every sheet's ``<row>`` elements are counted in the inflating stream, before openpyxl
  opens the workbook (which reads a sheet whole to size it when ``<dimension>`` is
  missing); then sheets are streamed in read-only mode and rows are counted again against
  the limit, gaps included, whatever the sheet's declared dimension says.
Every refusal is a ``SpreadsheetRefused`` with a message for the person who uploaded.

Writing a report: text that a spreadsheet would run as a formula is prefixed with an
apostrophe, and characters that XML cannot carry are dropped.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, overload

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from services.errors import ValidationError

_MB = 1024 * 1024
# Compound documents (.xls, and .xlsx files with an opening password) start with this.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Members smaller than this may compress as well as they like (styles, empty sheets).
_RATIO_FLOOR = _MB
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_MAX_CELL_TEXT = 500

RESAVE = "请在Excel中“另存为”Excel 工作簿（.xlsx）后重新上传。"

# A row element of a sheet, with or without a namespace prefix (``<row …>``, ``<x:row/>``).
_ROW_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,30}:)?row[\s/>]")  # at most 37 bytes
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_STREAM_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    max_file_bytes: int = 10 * _MB
    max_uncompressed_bytes: int = 32 * _MB
    max_compression_ratio: int = 100
    max_members: int = 500
    max_rows: int = 20_000
    max_columns: int = 20


class SpreadsheetRefused(ValidationError):
    """The file cannot or must not be read; nothing was parsed past the point of refusal."""

    def __init__(self, message: str) -> None:
        super().__init__("file", message)


def require_defused_xml() -> None:
    """openpyxl parses with defusedxml only when it is installed and not switched off
    (``OPENPYXL_DEFUSEDXML``); reading untrusted files without it is a deployment error."""
    from openpyxl.xml import functions

    streamed = getattr(functions.iterparse, "__module__", "")
    whole = getattr(functions.fromstring, "__module__", "")
    lxml_safe = openpyxl.LXML and "lxml" in whole  # lxml, called with resolve_entities=False
    if (
        not openpyxl.DEFUSEDXML
        or not streamed.startswith("defusedxml")
        or not (whole.startswith("defusedxml") or lxml_safe)
    ):
        raise RuntimeError(
            "openpyxl is not parsing through defusedxml: install defusedxml and leave "
            "OPENPYXL_DEFUSEDXML unset"
        )


def inspect_upload(path: Path, limits: ReadLimits) -> None:
    """Refuse what is not a reasonable .xlsx before any XML is parsed."""
    size = path.stat().st_size
    if size == 0:
        raise SpreadsheetRefused("文件是空的，请选择填写好的Excel文件。")
    if size > limits.max_file_bytes:
        raise SpreadsheetRefused(f"文件超过{_size_text(limits.max_file_bytes)}，请拆分后分批上传。")
    with path.open("rb") as handle:
        magic = handle.read(8)
    if magic == _OLE_MAGIC:
        raise SpreadsheetRefused(
            "这是旧版 .xls 文件或设置了打开密码的文件：请取消密码，"
            "在Excel中“另存为”Excel 工作簿（.xlsx）后重新上传。"
        )
    if not magic.startswith(b"PK"):
        raise SpreadsheetRefused("无法识别该文件，它不是Excel 工作簿（.xlsx）。" + RESAVE)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise SpreadsheetRefused("文件已损坏，无法打开。" + RESAVE) from None
    if len(members) > limits.max_members:
        raise SpreadsheetRefused("文件内部结构异常（部件过多），已拒绝。" + RESAVE)
    total = 0
    for member in members:
        total += member.file_size
        ratio_exceeded = (
            member.file_size > _RATIO_FLOOR
            and member.file_size > limits.max_compression_ratio * max(member.compress_size, 1)
        )
        if ratio_exceeded or total > limits.max_uncompressed_bytes:
            raise SpreadsheetRefused(
                "文件解压后异常巨大（疑似压缩炸弹），已拒绝。"
                "如确为名单，请删除多余的行列，另存为 .xlsx 后重新上传。"
            )
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names or not any(name.startswith("xl/") for name in names):
        raise SpreadsheetRefused("无法识别该文件，它不是Excel 工作簿（.xlsx）。" + RESAVE)
    for name in sorted(names):
        if _WORKSHEET.match(name) and count_row_elements(path, name) > limits.max_rows:
            raise too_many_rows(limits)


def too_many_rows(limits: ReadLimits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        f"表格超过{limits.max_rows}行，已拒绝。请拆分为每份不超过{limits.max_rows}行后分批导入。"
    )


def count_row_elements(path: Path, member: str) -> int:
    """The ``<row>`` elements of one sheet, counted while it inflates (a megabyte at a time,
    nothing parsed)."""
    count = 0
    tail = b""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            while chunk := stream.read(_STREAM_CHUNK):
                window = tail + chunk
                # An element starting in the last 64 bytes may go on in the next chunk: it is
                # counted there, with those bytes carried over.
                cut = max(len(window) - 64, 0)
                count += sum(1 for match in _ROW_ELEMENT.finditer(window) if match.start() < cut)
                tail = window[cut:]
            count += len(_ROW_ELEMENT.findall(tail))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise SpreadsheetRefused("文件已损坏，无法打开。" + RESAVE) from None
    return count


def _size_text(size: int) -> str:
    return f"{size / _MB:g}MB" if size >= _MB else f"{max(size // 1024, 1)}KB"


def _refusal_for(error: BaseException) -> SpreadsheetRefused:
    # openpyxl wraps what the parser raised in a ValueError of its own.
    cause: BaseException | None = error
    for _ in range(10):
        if cause is None or isinstance(cause, DefusedXmlException):
            break
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, DefusedXmlException):
        return SpreadsheetRefused(
            "文件中含有不安全的XML内容（实体声明或外部引用），已拒绝。" + RESAVE
        )
    return SpreadsheetRefused("文件已损坏或不是有效的Excel文件，无法读取。" + RESAVE)


@contextmanager
def open_upload(path: Path, limits: ReadLimits) -> Iterator[Workbook]:
    """The workbook in streaming read-only mode, values only (formulas give their results)."""
    require_defused_xml()
    inspect_upload(path, limits)
    # openpyxl warns about what it skips (extensions, missing styles); that is not the
    # uploader's concern, and the file is judged by what can be read.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Opened here so that it is closed here, also when openpyxl gives up half-way.
        with path.open("rb") as handle:
            try:
                workbook = openpyxl.load_workbook(
                    handle, read_only=True, data_only=True, keep_links=False
                )
            except Exception as error:  # openpyxl fails on malformed files with many types
                raise _refusal_for(error) from None
            try:
                yield workbook
            finally:
                workbook.close()


def worksheets(workbook: Workbook) -> list[ReadOnlyWorksheet]:
    return [sheet for sheet in workbook.worksheets if isinstance(sheet, ReadOnlyWorksheet)]


def declared_rows(sheet: ReadOnlyWorksheet) -> int | None:
    """The row count the sheet claims (``<dimension>``); may be absent or wrong."""
    return sheet.max_row


def stream_rows(
    sheet: ReadOnlyWorksheet, limits: ReadLimits
) -> Generator[tuple[int, tuple[object, ...]]]:
    """(row number, values) for every row, gaps included, refusing past ``max_rows``."""
    too_many = too_many_rows(limits)
    declared = declared_rows(sheet)
    if declared is not None and declared > limits.max_rows:
        raise too_many
    # A dimension that claims fewer rows than there are would silently cut the sheet short.
    sheet.reset_dimensions()
    # The stubs give the read-only sheet Worksheet's own iter_rows, whose self is a Worksheet.
    rows = sheet.iter_rows(values_only=True, max_col=limits.max_columns)  # type: ignore[misc]
    number = 0
    try:
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except Exception as error:  # the sheet's XML is parsed lazily, row by row
                raise _refusal_for(error) from None
            number += 1
            if number > limits.max_rows:
                raise too_many
            yield number, values
    finally:
        rows.close()  # closes the sheet's stream inside the archive


def cell_text(value: object) -> str:
    """A cell's value as the text a person typed (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)[:_MAX_CELL_TEXT]


@overload
def formula_safe(value: str) -> str: ...
@overload
def formula_safe(value: object) -> object: ...


def formula_safe(value: object) -> object:
    """A value that a spreadsheet shows as written, never runs."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith(_FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_table(
    target: Path | BinaryIO,
    *,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    widths: Sequence[int] = (),
) -> None:
    """One sheet: a bold header row, then the rows, every text made formula-safe."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    for index, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=formula_safe(text))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append([formula_safe(value) for value in row])
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(target)


def table_bytes(
    *,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    widths: Sequence[int] = (),
) -> bytes:
    """``write_table`` into memory, for a download."""
    buffer = BytesIO()
    write_table(buffer, title=title, headers=headers, rows=rows, widths=widths)
    return buffer.getvalue()
