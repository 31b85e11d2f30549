"""防挂机 questions: the course's bank, topped up with the platform's rules, never arithmetic.

A question a script could compute from its stem (the arithmetic fallback there was) proves
nothing. A course's bank (staff edit it in the console, ``services/catalog.py``) asks about
the course's content; where a course has none, or too few, the pool is filled from the
generic bank in the database and then from ``PLATFORM_RULES``: questions about this
platform's own rules of study, which a learner reads on its pages and a script does not
know. The ledger shows each question with its options in a new order and a new one-time id
every time (``heartbeat.lua``, ``answer.lua``), and never sends the right answer.
"""

from __future__ import annotations

import json
import random
from typing import Any

from sqlalchemy import select

from infra.extensions import db
from models.catalog import Question

POOL_SIZE = 8

# (stem, options, the right option's index): the platform's rules as its pages state them.
PLATFORM_RULES: list[tuple[str, list[str], int]] = [
    ("学习过程中弹出防挂机题目时，应当怎样做？", ["作答正确后继续学习", "关闭页面", "刷新页面跳过"], 0),
    ("倍速播放的内容是否计入学时？", ["计入双倍学时", "不计入学时", "计入一半学时"], 1),
    ("拖动进度条跳过的内容是否计入学时？", ["计入学时", "不计入学时", "计入一半学时"], 1),
    ("同一账号在两台设备上同时学习会怎样？", ["两台设备都计时", "只有最后开始学习的设备计时", "学时翻倍"], 1),
    ("暂停播放期间是否计入学时？", ["计入学时", "不计入学时", "暂停超过10分钟才不计"], 1),
    ("已经学过的内容重复观看，学时会怎样？", ["再次计入学时", "不再重复计入", "计入一半学时"], 1),
    ("课程名称后出现绿色小勾表示什么？", ["课程已学完", "课程已收藏", "课程需重学"], 0),
    ("修满学分要求后在哪里打印合格证书？", ["我的证书", "我的订单", "团体购买"], 0),
    ("防挂机题目答错后会怎样？", ["没有任何影响", "上一题以来的学时需要重新观看", "直接获得证书"], 1),
    ("长时间不回答弹出的题目会怎样？", ["继续计时", "学习暂停，不再计时", "自动答对"], 1),
]  # fmt: skip


def question_json(stem: str, options: list[Any]) -> str:
    """A pool entry as the ledger stores it: stem and options in the bank's order."""
    return json.dumps(
        {"stem": stem, "options": [str(option) for option in options]}, ensure_ascii=False
    )


def pool_for(course_id: int, size: int = POOL_SIZE) -> list[tuple[str, int]]:
    """A session's questions: the course's bank first, then the generic bank and the
    platform's rules, each in a random order; entries (question json, right option's index)."""
    rows = db.session.execute(
        select(Question.course_id, Question.stem, Question.options, Question.answer_index).where(
            (Question.course_id == course_id) | Question.course_id.is_(None), Question.is_active
        )
    ).all()
    valid = [
        row for row in rows if len(row.options) >= 2 and 0 <= row.answer_index < len(row.options)
    ]
    course = [(row.stem, list(row.options), row.answer_index) for row in valid if row.course_id]
    generic = [
        (row.stem, list(row.options), row.answer_index) for row in valid if not row.course_id
    ]
    random.shuffle(course)
    pool = course[:size]
    if len(pool) < size:
        stems = {stem for stem, _, _ in pool}
        fill = [entry for entry in generic + PLATFORM_RULES if entry[0] not in stems]
        random.shuffle(fill)
        seen: set[str] = set()
        for entry in fill:
            if len(pool) >= size:
                break
            if entry[0] not in seen:
                seen.add(entry[0])
                pool.append(entry)
    # The course's own questions come first: the first question of a session is about the
    # course whenever it has a bank.
    return [(question_json(stem, options), answer) for stem, options, answer in pool]


def shown(raw: str) -> dict[str, Any] | None:
    """The question as the player gets it, from what the ledger returns: the one-time id,
    the order in which the options are shown, and the pool entry (``id\\norder\\njson``)."""
    if not raw:
        return None
    question_id, order, entry = raw.split("\n", 2)
    data = json.loads(entry)
    options = data["options"]
    return {
        "id": question_id,
        "stem": data["stem"],
        "options": [options[int(index)] for index in order.split(",")],
    }
