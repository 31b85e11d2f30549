from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage
from tests import factories


def _bind(learner):
    db.session.add(WechatBinding(openid=f"o{learner.id:08d}", learner_id=learner.id))
    db.session.flush()


def test_reminders_go_once_to_those_not_finished(runner):
    plan = factories.plan(year=2022)
    studying, finished, not_bought, unbound = (factories.learner() for _ in range(4))
    for learner in (studying, finished, not_bought):
        _bind(learner)
    factories.paid_order(studying, plan)
    factories.paid_order(unbound, plan)
    done = factories.enrollment(finished, plan)
    done.completed_at = utcnow()
    db.session.flush()

    result = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert result.exit_code == 0, result.output
    assert "2 reminders queued" in result.output
    messages = db.session.scalars(
        select(TemplateMessage).where(TemplateMessage.kind == "deadline_reminder")
    ).all()
    assert {message.learner_id for message in messages} == {studying.id, not_bought.id}
    by_learner = {message.learner_id: message.payload for message in messages}
    assert by_learner[not_bought.id]["path"] == "/h5/plans"
    assert "已获0/30学时" in by_learner[studying.id]["data"]["thing3"]["value"]

    again = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert "0 reminders queued" in again.output
    assert db.session.scalar(select(func.count(TemplateMessage.id))) == 2


def test_reminders_need_the_years_plan(runner):
    result = runner.invoke(args=["reminders", "send", "--year", "2019"])
    assert result.exit_code != 0
    assert "2019年度没有公需科目学习计划" in result.output
