from datetime import date

import pytest

from models.accounts import Gender
from services.accounts.identity import (
    credit_code_check_character,
    id_check_character,
    parse_credit_code,
    parse_id_number,
    parse_mobile,
    parse_name,
)
from services.errors import ValidationError

# Published examples whose check characters are known.
KNOWN_GOOD_IDS = ["11010519491231002X", "500103198503121015", "50010519881123302X"]


@pytest.mark.parametrize("number", KNOWN_GOOD_IDS)
def test_known_good_id_numbers_pass(number):
    assert parse_id_number(number).number == number


def test_id_number_is_normalised():
    resident = parse_id_number("  11010519491231002x ")
    assert resident.number == "11010519491231002X"
    assert resident.birth_date == date(1949, 12, 31)
    assert resident.gender is Gender.FEMALE


def test_full_width_digits_are_accepted():
    assert parse_id_number("５００１０３１９８５０３１２１０１５").number == "500103198503121015"


def test_gender_follows_the_seventeenth_digit():
    assert parse_id_number("500103198503121015").gender is Gender.MALE
    assert parse_id_number("11010519491231002X").gender is Gender.FEMALE


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "请填写身份证号码"),
        ("11010519491231002", "应为18位"),
        ("1101051949123100211", "应为18位"),
        ("11010519491231002Y", "只能由数字和末位的X组成"),
        ("A1010519491231002X", "只能由数字和末位的X组成"),
        ("110105194912310021", "校验位不正确"),
        ("990105194912310021", "地区码不正确"),
        ("110105194902300021", "出生日期不存在"),  # 30 February
        ("440524188001010014", "出生日期不正确"),  # valid checksum, born 1880
    ],
)
def test_bad_id_numbers_are_refused_with_a_reason(number, message):
    with pytest.raises(ValidationError) as caught:
        parse_id_number(number)
    assert message in caught.value.message
    assert caught.value.field == "id_number"


def test_birth_date_in_the_future_is_refused():
    first17 = "50010320300101001"
    number = first17 + id_check_character(first17)
    with pytest.raises(ValidationError, match="出生日期不正确"):
        parse_id_number(number, today=date(2026, 11, 28))


@pytest.mark.parametrize("name", ["张三", "欧阳娜娜", "阿依古丽·买买提", "刘䶮", "王㵘"])
def test_chinese_names_pass(name):
    assert parse_name(name) == name


def test_ethnic_name_dots_are_normalised():
    assert parse_name("阿依古丽•买买提") == "阿依古丽·买买提"
    assert parse_name(" 张三 ") == "张三"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "请填写姓名"),
        ("张 三", "不能有空格"),
        ("张三1", "只能是汉字"),
        ("Zhang San", "不能有空格"),
        ("张三!", "只能是汉字"),
        ("·张三", "只能是汉字"),
        ("张三·", "只能是汉字"),
        ("张", "2至30个字"),
    ],
)
def test_bad_names_are_refused(name, message):
    with pytest.raises(ValidationError) as caught:
        parse_name(name)
    assert message in caught.value.message


def test_mobile_numbers():
    assert parse_mobile(" 13800138000 ") == "13800138000"
    assert parse_mobile("+8613800138000") == "13800138000"
    for bad in ["12800138000", "1380013800", "138001380001", "abcdefghijk"]:
        with pytest.raises(ValidationError):
            parse_mobile(bad)


def test_credit_codes():
    assert parse_credit_code("91350100M000100Y43") == "91350100M000100Y43"
    assert parse_credit_code(" 91350100m000100y43 ") == "91350100M000100Y43"
    with pytest.raises(ValidationError, match="校验位"):
        parse_credit_code("91350100M000100Y44")
    with pytest.raises(ValidationError, match="只能由数字和大写字母"):
        parse_credit_code("91350100M000100YI3")


def test_an_id_number_does_not_pass_as_a_credit_code():
    # An ID number with a credit-code-valid last character would be a 1-in-31 accident;
    # the usual case must fail on the checksum.
    number = "500103198503121015"
    assert credit_code_check_character(number[:17]) != number[17]
    with pytest.raises(ValidationError):
        parse_credit_code(number)
