"""How many ID numbers a designee may check in 团体购买.

Checking a list tells, for every valid ID number, whether it has an account and whether it
holds the plan: an oracle over every resident's number. So the distinct ID numbers a learner
checks are counted, per learner and per client address, in the windows of
``GROUP_LOOKUP_LIMIT_PER_LEARNER`` and ``GROUP_LOOKUP_LIMIT_PER_ADDRESS`` (such as
``2000 per hour;5000 per day``). Checking the same list again (after fixing a line, to
download the failures, to order) costs nothing more: only numbers not yet counted in a
window count. A check of ``GROUP_LOOKUP_AUDIT_LINES`` numbers or more is written to the
audit log. Redis keeps the counts, each number named by a keyed digest.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from flask import current_app
from limits import parse_many

from infra.redis_client import get_redis
from services.audit import Actor, record_action
from services.errors import ServiceError


@dataclass(frozen=True)
class Asker:
    """Who checks a list: the signed-in learner, from the client address."""

    learner_id: int
    address: str | None


class LookupsExhausted(ServiceError):
    status_code = 429
    code = "too_many_lookups"


# Every window is checked before any is counted: a refused check counts nothing.
_SPEND = """
local unpack = unpack or table.unpack
local n = #KEYS
local first = 2 * n + 1
for i = 1, n do
  local fresh = 0
  for j = first, #ARGV do
    if redis.call('SISMEMBER', KEYS[i], ARGV[j]) == 0 then fresh = fresh + 1 end
  end
  if redis.call('SCARD', KEYS[i]) + fresh > tonumber(ARGV[i]) then return i end
end
for i = 1, n do
  for j = first, #ARGV, 500 do
    redis.call('SADD', KEYS[i], unpack(ARGV, j, math.min(j + 499, #ARGV)))
  end
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[n + i]))
end
return 0
"""

_REFUSALS = {
    "learner": "您核验的身份证号码已达上限（{limit}个/{window}），请{later}再试；"
    "单位人数较多时可把名单发给工作人员统一办理。",
    "address": "您所在网络核验的身份证号码已达上限（{limit}个/{window}），请{later}再试。",
}
_WINDOW_WORDS = {3600: ("小时", "1小时后"), 86400: ("天", "明天")}


def _digest(id_number: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"group-lookup:" + id_number.encode(), hashlib.sha256).hexdigest()[:20]


def spend_lookups(asker: Asker, id_numbers: list[str]) -> None:
    """Count the numbers this check looks up, or refuse the whole check (nothing counted)."""
    if not id_numbers:
        return
    config = current_app.config
    now = int(time.time())
    scopes = [("learner", str(asker.learner_id), config["GROUP_LOOKUP_LIMIT_PER_LEARNER"])]
    if asker.address:
        scopes.append(("address", asker.address, config["GROUP_LOOKUP_LIMIT_PER_ADDRESS"]))
    keys: list[str] = []
    amounts: list[int] = []
    expiries: list[int] = []
    described: list[tuple[str, int, int]] = []
    for scope, who, limits_text in scopes:
        for item in parse_many(limits_text):
            seconds = item.get_expiry()
            window = now // seconds
            keys.append(f"group-lookups:{scope}:{_digest(who)}:{seconds}:{window}")
            amounts.append(item.amount)
            expiries.append(seconds)
            described.append((scope, item.amount, seconds))
    members = sorted({_digest(number) for number in id_numbers})
    refused = int(get_redis().eval(_SPEND, len(keys), *keys, *amounts, *expiries, *members))
    if refused:
        scope, limit, seconds = described[refused - 1]
        span, later = _WINDOW_WORDS.get(seconds, (f"{seconds // 60}分钟", "稍后"))
        raise LookupsExhausted(_REFUSALS[scope].format(limit=limit, window=span, later=later))


def record_large_check(asker: Asker, *, plan_id: int, numbers: int) -> None:
    """A check of many numbers leaves a line in the audit log (who, from where, how many)."""
    if numbers < int(current_app.config["GROUP_LOOKUP_AUDIT_LINES"]):
        return
    record_action(
        Actor.learner(asker.learner_id, asker.address),
        action="group_purchase.check",
        target_type="plan",
        target_id=plan_id,
        after={"id_numbers": numbers},
    )
