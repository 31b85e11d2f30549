"""Validation of what identifies people and units: resident ID numbers (GB 11643),
unified social credit codes (GB 32100), Chinese names and mobile numbers.

Codes (ID numbers, credit codes, phones, order and certificate numbers) are normalised:
full-width letters and digits become half-width, spaces go, x becomes X. Text people read
(names, unit names, invoice titles, plan titles, reasons) is kept exactly as typed, with only
the surrounding whitespace removed: 重庆建工（集团）股份有限公司 is a registered name, and its
full-width brackets are part of it. Each ``parse_*`` function raises ``ValidationError`` with a
message for the user.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from models.accounts import Gender
from services.errors import ValidationError

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits: the province-level divisions of GB/T 2260.
_PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
}  # fmt: skip

_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# Han characters of the basic block and extensions A-H, plus the compatibility block.
_HAN = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002a6df\U0002a700-\U0002ebef\U00030000-\U000323af"
)
_NAME = re.compile(f"^[{_HAN}]+(?:·[{_HAN}]+)*$")
# Dots people type for the separator in ethnic names.
_NAME_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "∙": "·", "⋅": "·", "．": "·"})
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


def normalise_code(raw: str | None) -> str:
    """A code as typed on any keyboard: full-width letters and digits to half-width,
    surrounding whitespace removed. Never for text that is read (see ``clean_text``)."""
    if raw is None:
        return ""
    return unicodedata.normalize("NFKC", str(raw)).strip()


def clean_text(raw: str | None) -> str:
    """Free text exactly as typed, only the surrounding whitespace removed."""
    if raw is None:
        return ""
    return str(raw).strip()


def id_check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    gender: Gender


def parse_id_number(raw: str | None, *, today: date | None = None) -> ResidentId:
    """A valid 18-character resident ID number, normalised, with the facts it carries."""
    number = normalise_code(raw).replace(" ", "").upper()
    if not number:
        raise ValidationError("id_number", "请填写身份证号码。")
    if len(number) != 18:
        raise ValidationError("id_number", "身份证号码应为18位。")
    if not (number[:17].isdigit() and (number[17].isdigit() or number[17] == "X")):
        raise ValidationError("id_number", "身份证号码只能由数字和末位的X组成。")
    if number[:2] not in _PROVINCES:
        raise ValidationError("id_number", "身份证号码的地区码不正确。")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError("id_number", "身份证号码中的出生日期不存在。") from None
    today = today or date.today()
    if birth.year < 1900 or birth > today:
        raise ValidationError("id_number", "身份证号码中的出生日期不正确。")
    if id_check_character(number[:17]) != number[17]:
        raise ValidationError("id_number", "身份证号码校验位不正确，请核对后重新输入。")
    gender = Gender.MALE if int(number[16]) % 2 == 1 else Gender.FEMALE
    return ResidentId(number=number, birth_date=birth, gender=gender)


def parse_name(raw: str | None) -> str:
    name = clean_text(raw).translate(_NAME_DOTS)
    if not name:
        raise ValidationError("name", "请填写姓名。")
    if re.search(r"\s", name):
        raise ValidationError("name", "姓名中间不能有空格。")
    if not _NAME.match(name):
        raise ValidationError(
            "name", "姓名只能是汉字，不能有空格和符号（少数民族姓名可用间隔号“·”）。"
        )
    if len(name) < 2 or len(name) > 30:
        raise ValidationError("name", "姓名应为2至30个字。")
    return name


def parse_mobile(raw: str | None) -> str:
    phone = normalise_code(raw).replace(" ", "").replace("-", "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not phone:
        raise ValidationError("phone", "请填写手机号码。")
    if not _MOBILE.match(phone):
        raise ValidationError("phone", "手机号码应为以1开头的11位数字。")
    return phone


def credit_code_check_character(first17: str) -> str:
    total = sum(
        _CREDIT_ALPHABET.index(char) * weight
        for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True)
    )
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def parse_credit_code(raw: str | None) -> str:
    """A unified social credit code (统一社会信用代码), GB 32100."""
    code = normalise_code(raw).replace(" ", "").upper()
    if not code:
        raise ValidationError("tax_code", "请填写统一社会信用代码。")
    if len(code) != 18:
        raise ValidationError("tax_code", "统一社会信用代码应为18位。")
    if any(char not in _CREDIT_ALPHABET for char in code):
        raise ValidationError(
            "tax_code", "统一社会信用代码只能由数字和大写字母组成（不含I、O、Z、S、V）。"
        )
    if credit_code_check_character(code[:17]) != code[17]:
        raise ValidationError("tax_code", "统一社会信用代码校验位不正确，请核对后重新输入。")
    return code
