"""Side effects wait for the commit: a rollback drops what it undid, and only that."""

import pytest
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from infra.transaction import after_commit, commit
from models.org import Unit
from tests import factories


def test_side_effects_run_after_the_commit():
    ran = []
    after_commit(ran.append, "sent")
    assert ran == []
    commit()
    assert ran == ["sent"]


def test_a_rollback_drops_the_side_effects_it_undid():
    ran = []
    factories.unit()
    after_commit(ran.append, "sent")
    db.session.rollback()
    commit()
    assert ran == []


def test_a_rolled_back_savepoint_keeps_what_waited_before_it():
    # A service that catches a clash inside a savepoint (a concurrent duplicate) must not
    # silently cancel the messages queued earlier in the same transaction.
    ran = []
    taken = factories.unit()
    after_commit(ran.append, "before")
    with pytest.raises(IntegrityError), db.session.begin_nested():
        after_commit(ran.append, "inside")
        db.session.add(Unit(name="另一个单位", district_id=taken.district_id, code=taken.code))
        db.session.flush()
    after_commit(ran.append, "after")
    commit()
    assert ran == ["before", "after"]
