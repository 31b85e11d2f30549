"""The job worker as production runs it (``flask --app wsgi jobs worker``), on real Redis."""

from __future__ import annotations

import pytest
from rq import Queue

from infra.extensions import db
from infra.redis_client import get_redis
from infra.transaction import commit
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat.tasks import send_template_message
from tests import factories
from wxapp.cli.jobs import AppWorker


@pytest.mark.committed
def test_the_worker_runs_a_queued_job_and_keeps_what_it_committed():
    learner = factories.learner()  # no WeChat bound: the message is skipped
    message = TemplateMessage(
        learner_id=learner.id, kind="payment_success", dedupe_key="worker-test", payload={}
    )
    db.session.add(message)
    commit()
    message_id = message.id

    queue = Queue("worker-test", connection=get_redis())
    queued = queue.enqueue(send_template_message, message_id)
    AppWorker([queue], connection=get_redis()).work(burst=True)

    assert queued.get_status(refresh=True) == "finished"
    db.session.remove()
    assert db.session.get(TemplateMessage, message_id).status is TemplateMessageStatus.SKIPPED
