from datetime import datetime, timedelta

from sqlalchemy import func, select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.display import LOCAL_TZ
from services.wechat import reminders
from tests import factories
from wechat_sim.state import SimUser


def _bind(learner, sim=None):
    openid = f"o{learner.id:08d}"
    db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
    db.session.flush()
    if sim is not None:  # the learner follows the account on WeChat's side too
        sim.users[openid] = SimUser(openid, learner.name, "")
        sim.subscribed.add(openid)
    return openid


def _reminders():
    return db.session.scalars(
        select(TemplateMessage)
        .where(TemplateMessage.kind == "deadline_reminder")
        .order_by(TemplateMessage.id)
    ).all()


def _buyers(plan, sim, count):
    learners = [factories.learner() for _ in range(count)]
    for learner in learners:
        _bind(learner, sim.state)
        factories.paid_order(learner, plan)
    commit()
    return learners


def test_reminders_go_once_to_buyers_who_have_not_finished(runner, wechat_sim):
    plan = factories.plan(year=2022)
    studying, finished, not_bought, unbound = (factories.learner() for _ in range(4))
    for learner in (studying, finished, not_bought):
        _bind(learner, wechat_sim.state)
    factories.paid_order(studying, plan)
    factories.paid_order(unbound, plan)
    done = factories.enrollment(finished, plan)
    done.completed_at = utcnow()
    db.session.flush()

    result = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert result.exit_code == 0, result.output
    assert "1 reminders queued" in result.output
    [message] = _reminders()
    assert message.learner_id == studying.id  # not the one who has not bought
    assert message.status is TemplateMessageStatus.SENT, message.error
    assert message.payload["path"] == "/h5/study"
    [sent] = wechat_sim.state.template_messages
    assert sent["touser"] == f"o{studying.id:08d}"
    assert sent["data"]["thing3"]["value"] == "已获0/30学时，请尽快完成"
    deadline = plan.study_ends_at.astimezone(LOCAL_TZ).strftime("%Y年%m月%d日 %H:%M")
    assert sent["data"]["time2"]["value"] == deadline

    again = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert "0 reminders queued" in again.output
    assert db.session.scalar(select(func.count(TemplateMessage.id))) == 1
    assert len(wechat_sim.state.template_messages) == 1


def test_a_large_run_is_paced_under_the_daily_quota(app, runner, wechat_sim, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_REMINDER_DAILY_QUOTA", 2)
    plan = factories.plan(year=2022)
    _buyers(plan, wechat_sim, 5)

    result = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert result.exit_code == 0, result.output
    assert "5 reminders queued" in result.output
    assert "3 reminders not sent yet" in result.output
    assert [m.status for m in _reminders()].count(TemplateMessageStatus.SENT) == 2
    assert wechat_sim.state.template_calls == 2  # WeChat was not asked for more

    # The same day again: the allowance is used, nothing more goes.
    runner.invoke(args=["reminders", "resume"])
    assert wechat_sim.state.template_calls == 2

    today = datetime.now(LOCAL_TZ).date()
    for days in (1, 2):
        reminders.resume_reminders(today=today + timedelta(days=days))
        commit()
    assert {m.status for m in _reminders()} == {TemplateMessageStatus.SENT}
    openids = [m["touser"] for m in wechat_sim.state.template_messages]
    assert len(openids) == len(set(openids)) == 5
    assert reminders.waiting_reminders() == 0


def test_45009_stops_the_day_and_the_next_day_sends_the_rest_once(runner, wechat_sim):
    wechat_sim.state.template_quota = 3  # the account's daily quota on WeChat's side
    plan = factories.plan(year=2022)
    _buyers(plan, wechat_sim, 5)

    result = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert result.exit_code == 0, result.output
    assert "2 reminders not sent yet" in result.output
    statuses = [m.status for m in _reminders()]
    assert statuses.count(TemplateMessageStatus.SENT) == 3
    waiting = [m for m in _reminders() if m.status is TemplateMessageStatus.QUEUED]
    assert len(waiting) == 2
    assert "45009" in waiting[0].error
    assert wechat_sim.state.template_calls == 4  # three taken, one refused, then it stopped

    runner.invoke(args=["reminders", "resume"])  # still the same day: WeChat is not asked
    assert wechat_sim.state.template_calls == 4

    wechat_sim.state.next_day()
    tomorrow = datetime.now(LOCAL_TZ).date() + timedelta(days=1)
    reminders.resume_reminders(today=tomorrow)
    commit()
    assert {m.status for m in _reminders()} == {TemplateMessageStatus.SENT}
    assert all(m.error == "" for m in _reminders())
    openids = [m["touser"] for m in wechat_sim.state.template_messages]
    assert len(openids) == len(set(openids)) == 5


def test_reminders_need_the_years_plan(runner):
    result = runner.invoke(args=["reminders", "send", "--year", "2019"])
    assert result.exit_code != 0
    assert "2019年度没有公需科目学习计划" in result.output


def test_a_new_round_adds_nothing_for_a_reminder_still_waiting(
    app, runner, wechat_sim, monkeypatch
):
    monkeypatch.setitem(app.config, "WECHAT_REMINDER_DAILY_QUOTA", 1)
    plan = factories.plan(year=2022)
    _buyers(plan, wechat_sim, 2)
    runner.invoke(args=["reminders", "send", "--year", "2022"])
    # The next round (another day) while one reminder of the first still waits.
    targets = [t for batch in reminders.reminder_targets(plan) for t in batch]
    tomorrow = datetime.now(LOCAL_TZ).date() + timedelta(days=1)
    assert reminders.queue_reminders(plan, targets, today=tomorrow) == 1  # only the one sent
    commit()
    openids = [m["touser"] for m in wechat_sim.state.template_messages]
    assert len(openids) == len(set(openids)) == 2
