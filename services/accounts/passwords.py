"""Password hashing (scrypt) and the password policy."""

from __future__ import annotations

import hmac

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from services.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 32


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def verify_password(stored_hash: str | None, password: str, *, initial: str | None = None) -> bool:
    """Check ``password``; an account without a hash still has its derivable ``initial`` one."""
    if stored_hash is None:
        if initial is None:
            return False
        return hmac.compare_digest(password.encode(), initial.encode())
    try:
        return check_password_hash(stored_hash, password)
    except ValueError:
        # A legacy hash this platform cannot read: the owner resets it through 首次登录.
        return False


def spend_dummy_check(password: str) -> None:
    """Spend one hash on an unknown account, so timing does not tell which accounts exist."""
    dummy = current_app.extensions.get("dummy_password_hash")
    if dummy is None:
        dummy = current_app.extensions["dummy_password_hash"] = hash_password("not-a-password")
    check_password_hash(dummy, password)


def check_policy(password: str, *, id_number: str | None = None, field: str = "password") -> None:
    if len(password) < MIN_LENGTH or len(password) > MAX_LENGTH:
        raise ValidationError(field, f"密码长度应为{MIN_LENGTH}至{MAX_LENGTH}位。")
    if not any(char.isdigit() for char in password) or not any(
        char.isascii() and char.isalpha() for char in password
    ):
        raise ValidationError(field, "密码须同时包含字母和数字。")
    if any(char.isspace() for char in password):
        raise ValidationError(field, "密码不能包含空格。")
    if id_number and (password == id_number[-6:] or id_number in password):
        raise ValidationError(field, "密码不能使用身份证号码或其后6位。")
