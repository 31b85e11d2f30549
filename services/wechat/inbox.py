"""At-most-once answering of WeChat pushes.

WeChat retries a push it got no answer to within 5 s (three times, same MsgId, or for events
the same sender and CreateTime). The first delivery claims the key in Redis and its reply is
stored under it; a retry, even one arriving while the first is still working, gets that same
reply and causes nothing else.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from flask import current_app

from infra.redis_client import get_redis

log = logging.getLogger(__name__)

_PENDING = b"pending"
# A claim that was never completed (the worker died) frees the key for the next retry.
PENDING_SECONDS = 8
POLL_SECONDS = 0.05


def answer_once(key: str, answer: Callable[[], str]) -> str:
    """The reply to the push with this key; ``answer`` runs for the first delivery only."""
    redis = get_redis()
    redis_key = f"wechat:push:{key}"
    if redis.set(redis_key, _PENDING, nx=True, ex=PENDING_SECONDS):
        try:
            reply = answer()
        except BaseException:
            redis.delete(redis_key)
            raise
        redis.set(
            redis_key,
            json.dumps({"reply": reply}),
            ex=current_app.config["WECHAT_DEDUPE_SECONDS"],
        )
        return reply
    log.info("repeated push %s: answering as the first delivery did", key)
    deadline = time.monotonic() + current_app.config["WECHAT_REPLY_WAIT_SECONDS"]
    while True:
        stored = redis.get(redis_key)
        if stored and stored != _PENDING:
            return json.loads(stored)["reply"]
        if time.monotonic() >= deadline:
            # The first delivery is still answering; WeChat takes the earliest complete answer.
            return ""
        time.sleep(POLL_SECONDS)
