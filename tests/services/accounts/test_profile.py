"""个人信息: a learner's own phone change keeps one account per phone, even in a race."""

from __future__ import annotations

import pytest

from infra.extensions import db
from services.accounts import profile
from services.errors import ValidationError
from tests import factories


def test_a_phone_another_account_takes_at_the_same_moment_is_refused_with_a_message(
    app, monkeypatch
):
    mine = factories.learner(phone="13900000001")
    factories.learner(phone="13900000002")
    db.session.flush()
    # The uniqueness check ran before the other account took the number, and the code was right.
    monkeypatch.setattr(profile, "_new_phone", lambda learner, raw: raw)
    monkeypatch.setattr(profile.sms, "check_verification_code", lambda *args: None)
    with pytest.raises(ValidationError) as refused:
        profile.change_own_phone(mine.id, "13900000002", "123456")
    assert refused.value.message == "该手机号码已被其他账号使用。"
    db.session.refresh(mine)
    assert mine.phone == "13900000001"
