"""Demo plans and orders: the 2022 plan from the notice's topic list (二、培训内容), the make-up
plans of 2011-2021, and a few orders of the demo learners.

A real 2022 plan closes on 31 December 2022, 23:59:59 Beijing time. So that the demo can be
bought and studied whenever it is shown, the demo plans' sale and study windows run to the end
of the current year instead (the README says so).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.catalog import Chapter, Course, Plan, PlanKind, Question
from models.orders import (
    InvoiceChoice,
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    Payment,
    PaymentSource,
)
from services.display import LOCAL_TZ

PRICE_FEN = 3000
NOTICE_DATE = datetime(2022, 6, 8, tzinfo=LOCAL_TZ)  # 渝人服函〔2022〕35号

# (course, lecturer, chapter titles): the topics of the 2022 notice, three 学时 each.
TOPICS_2022 = [
    ("习近平新时代中国特色社会主义思想", "市委党校", ["核心要义", "实践要求", "学思践悟"]),
    ("党的十九届六中全会精神", "市委党校", ["百年奋斗的重大成就", "历史经验与启示"]),
    ("中央人才工作会议精神", "市人力社保局", ["新时代人才强国战略", "人才发展体制机制改革"]),
    ("2022年全国两会精神", "市委党校", ["政府工作报告要点", "民生与高质量发展"]),
    ("市第六次党代会精神", "市委党校", ["今后五年的目标任务", "现代化新重庆建设"]),
    ("乡村振兴", "西南大学", ["乡村振兴战略总要求", "产业振兴与人才振兴", "重庆实践"]),
    ("党史学习教育", "重庆红岩革命历史博物馆", ["红岩精神", "党史中的重庆"]),
    ("成渝地区双城经济圈建设", "重庆大学", ["战略定位", "协同发展的重点任务"]),
    ("数字经济", "重庆邮电大学", ["数字经济的内涵", "数字产业化与产业数字化"]),
    ("数字技术", "重庆邮电大学", ["人工智能与大数据", "工业互联网应用"]),
    ("网络安全", "市网信办", ["网络安全法律体系", "个人信息保护", "常见网络风险防范"]),
    ("绿色环保", "重庆大学", ["碳达峰碳中和", "长江上游生态屏障"]),
    ("职业素质与专业能力", "市人力资源开发服务中心", ["职业道德与诚信", "专业能力提升路径"]),
    ("专技人员继续教育规定及条例解读", "市人力社保局", ["继续教育规定解读", "学时认定与证书"]),
]

# Make-up years: the themes of those years' public-required courses, six 学时 each.
MAKEUP_TOPICS = {
    2011: ["十二五规划纲要解读", "专业技术人员职业道德", "信息化与电子政务", "心理健康与压力管理", "知识产权保护"],
    2012: ["党的十八大精神", "专业技术人员创新能力", "生态文明建设", "公共危机管理", "沟通与协调能力"],
    2013: ["党的群众路线教育", "中国梦与专业技术人员的使命", "新型城镇化", "科学素养与科研方法", "依法行政"],
    2014: ["全面深化改革", "法治中国建设", "大数据基础", "团队建设与协作", "职业心理健康"],
    2015: ["十三五规划建议解读", "互联网+行动计划", "大众创业万众创新", "时间管理", "廉洁从业"],
    2016: ["两学一做学习教育", "供给侧结构性改革", "工匠精神", "网络安全法解读", "诚信建设"],
    2017: ["党的十九大精神", "新发展理念", "人工智能概论", "一带一路与内陆开放", "职业素养提升"],
    2018: ["宪法修正案解读", "乡村振兴战略", "生态环境保护", "数字中国建设", "科学思维方法"],
    2019: ["新中国成立70周年", "长江经济带发展", "5G与新型基础设施", "优化营商环境条例", "心理调适"],
    2020: ["民法典解读", "疫情防控与公共卫生", "成渝地区双城经济圈建设初探", "全面建成小康社会", "数字办公与远程协作"],
    2021: ["建党百年与党史学习教育", "十四五规划和2035年远景目标", "碳达峰碳中和", "数据安全法解读", "继续教育条例解读"],
}  # fmt: skip

# Short demo media; the study pages' seeder makes one file per length.
CHAPTER_SECONDS = (30, 45, 60, 90, 120)

QUESTIONS = {
    "习近平新时代中国特色社会主义思想": [
        ("新时代中国特色社会主义思想的核心要义是什么？", ["坚持和发展中国特色社会主义", "加快城镇化", "扩大出口"], 0),
    ],
    "网络安全": [
        ("收到自称客服索要短信验证码的电话，应当怎么做？", ["立即告知验证码", "拒绝并核实对方身份", "转发给同事"], 1),
        ("下列哪种密码更安全？", ["123456", "生日", "字母数字组合的长密码"], 2),
    ],
    "专技人员继续教育规定及条例解读": [
        ("专业技术人员每年应完成多少学时的公需科目学习？", ["10学时", "30学时", "60学时"], 1),
    ],
    "绿色环保": [
        ("“双碳”目标中的碳中和，我国力争在哪一年前实现？", ["2030年", "2060年", "2050年"], 1),
    ],
}  # fmt: skip

GENERIC_QUESTIONS = [
    ("学习过程中弹出的题目需要怎样处理？", ["忽略即可", "作答后继续学习", "刷新页面"], 1),
    ("课程后出现绿色小勾表示什么？", ["课程已学完", "课程已收藏", "课程需重学"], 0),
    ("修满学分要求后在哪里打印合格证书？", ["我的证书", "我的订单", "团体购买"], 0),
]  # fmt: skip


def _window_end() -> datetime:
    """31 December of the current year, 23:59:59 Beijing time."""
    return datetime(datetime.now(LOCAL_TZ).year, 12, 31, 23, 59, 59, tzinfo=LOCAL_TZ)


def _plan(year: int, kind: PlanKind, title: str, description: str) -> tuple[Plan, bool]:
    plan = db.session.scalar(select(Plan).where(Plan.year == year, Plan.kind == kind))
    if plan is not None:
        return plan, False
    plan = Plan(
        year=year,
        kind=kind,
        title=title,
        description=description,
        price_fen=PRICE_FEN,
        required_hours=30,
        minutes_per_hour=45,
        chapter_threshold_percent=95,
        sale_starts_at=NOTICE_DATE,
        sale_ends_at=_window_end(),
        study_ends_at=_window_end(),
        is_published=True,
    )
    db.session.add(plan)
    db.session.flush()
    return plan, True


def _course(
    plan: Plan,
    index: int,
    title: str,
    lecturer: str,
    hours: int,
    chapters: list[str],
    titles: list[str],
):
    course = Course(plan_id=plan.id, title=title, lecturer=lecturer, hours=hours, sort_order=index)
    db.session.add(course)
    db.session.flush()
    for number, chapter_title in enumerate(chapters):
        seconds = CHAPTER_SECONDS[(index + number) % len(CHAPTER_SECONDS)]
        db.session.add(
            Chapter(
                course_id=course.id,
                title=f"第{number + 1}节 {chapter_title}",
                duration_seconds=seconds,
                media_url=f"demo/chapter-{seconds}s.webm",
                sort_order=number,
            )
        )
    for stem, options, answer in [*QUESTIONS.get(title, []), _topic_question(title, titles)]:
        db.session.add(
            Question(course_id=course.id, stem=stem, options=options, answer_index=answer)
        )
    return course


def _topic_question(title: str, titles: list[str]) -> tuple[str, list[str], int]:
    """Every demo course has a bank: at least a question on what the course is about, the
    other options two other courses of the same plan."""
    others = [other for other in titles if other != title]
    at = titles.index(title)
    decoys = [others[at % len(others)], others[(at + 1) % len(others)]]
    return "您正在学习的这门课程讲的是哪个专题？", [title, *decoys], 0


def seed_plans() -> Plan:
    plan, created = _plan(
        2022,
        PlanKind.CURRENT,
        "重庆市2022年专技人员继续教育公需科目培训",
        "坚持“围绕中心、服务大局、学以致用”的原则，围绕新时代党的创新理论、乡村振兴、"
        "成渝地区双城经济圈建设、数字经济、网络安全、绿色环保、职业素质与专业能力等内容开展学习。"
        "修满30学时即完成当年的公需科目学习任务，可在线打印合格证书。",
    )
    if created:
        for index, (title, lecturer, chapters) in enumerate(TOPICS_2022):
            titles = [topic[0] for topic in TOPICS_2022]
            _course(plan, index, title, lecturer, 3, chapters, titles)
    for year, topics in MAKEUP_TOPICS.items():
        makeup, created = _plan(
            year,
            PlanKind.MAKEUP,
            f"重庆市{year}年专技人员继续教育公需科目培训（补学）",
            f"补学{year}年度公需科目：修满30学时可打印该年度合格证书。"
            "已在其他网站缴费但未完成学习的，可提交缴费凭证申请免费补学。",
        )
        if created:
            for index, title in enumerate(topics):
                _course(makeup, index, title, "", 6, ["专题讲授", "案例与要点回顾"], topics)
    if db.session.scalar(select(Question.id).where(Question.course_id.is_(None))) is None:
        for stem, options, answer in GENERIC_QUESTIONS:
            db.session.add(
                Question(course_id=None, stem=stem, options=options, answer_index=answer)
            )
    db.session.flush()
    return plan


def _learner(phone: str) -> Learner | None:
    return db.session.scalar(select(Learner).where(Learner.phone == phone))


def _paid_order(
    out_trade_no: str,
    transaction_id: str,
    buyer: Learner,
    plan: Plan,
    seats: list[Learner],
    paid_at: datetime,
    openid: str | None,
) -> Order:
    from services.payments.checkout import enroll_seats

    order = Order(
        out_trade_no=out_trade_no,
        buyer_id=buyer.id,
        plan_id=plan.id,
        kind=OrderKind.GROUP if seats != [buyer] else OrderKind.INDIVIDUAL,
        seat_count=len(seats),
        unit_price_fen=plan.price_fen,
        amount_fen=plan.price_fen * len(seats),
        status=OrderStatus.PAID,
        invoice_choice=InvoiceChoice.LATER,
        expires_at=paid_at + timedelta(minutes=28),
        paid_at=paid_at,
        created_at=paid_at - timedelta(minutes=2),
    )
    db.session.add(order)
    db.session.flush()
    db.session.add_all(OrderSeat(order_id=order.id, learner_id=seat.id) for seat in seats)
    db.session.add(
        Payment(
            order_id=order.id,
            transaction_id=transaction_id,
            amount_fen=order.amount_fen,
            payer_openid=openid,
            success_time=paid_at,
            source=PaymentSource.NOTIFY,
            raw={"out_trade_no": out_trade_no, "transaction_id": transaction_id, "demo": True},
        )
    )
    db.session.flush()
    enroll_seats(order)
    return order


def seed() -> list[str]:
    plan = seed_plans()
    zhang, li = _learner("13800000001"), _learner("13800000002")
    colleagues = [_learner("13800000004"), _learner("13800000005")]
    if zhang is None or li is None or None in colleagues:
        return ["demo plans: 2022 and make-up years 2011-2021 (demo learners missing, no orders)"]
    now = utcnow()
    orders_by_no = {
        order.out_trade_no: order
        for order in db.session.scalars(select(Order).where(Order.out_trade_no.like("GXDEMO%")))
    }
    if "GXDEMO2022ZW0001" not in orders_by_no:
        _paid_order(
            "GXDEMO2022ZW0001",
            "4200000000202206150000000001",
            zhang,
            plan,
            [zhang],
            now - timedelta(days=3),
            "oDEMO_zhangwei",
        )
    if "GXDEMO2022GP0001" not in orders_by_no:
        _paid_order(
            "GXDEMO2022GP0001",
            "4200000000202206150000000002",
            zhang,
            plan,
            colleagues,  # type: ignore[arg-type]
            now - timedelta(days=2),
            "oDEMO_zhangwei",
        )
    ayiguli = _learner("13800000003")
    past = db.session.scalar(select(Plan).where(Plan.year == 2021, Plan.kind == PlanKind.MAKEUP))
    if ayiguli is not None and past is not None and "GXDEMO2021AY0001" not in orders_by_no:
        _paid_order(
            "GXDEMO2021AY0001",
            "4200000000202206150000000003",
            ayiguli,
            past,
            [ayiguli],
            now - timedelta(days=20),
            None,
        )
    if "GXDEMO2022LN0001" not in orders_by_no:
        unpaid = Order(
            out_trade_no="GXDEMO2022LN0001",
            buyer_id=li.id,
            plan_id=plan.id,
            kind=OrderKind.INDIVIDUAL,
            seat_count=1,
            unit_price_fen=plan.price_fen,
            amount_fen=plan.price_fen,
            expires_at=now + timedelta(minutes=30),
            created_at=now,
        )
        db.session.add(unpaid)
        db.session.flush()
        db.session.add(OrderSeat(order_id=unpaid.id, learner_id=li.id))
    db.session.flush()
    return [
        f"demo plans: {plan.title} and make-up plans 2011-2021, on sale until "
        f"{_window_end():%Y-%m-%d} (a real 2022 plan closed on {date(2022, 12, 31)})",
        "demo orders: 张伟 paid the 2022 plan and a group order for 王芳 and 刘洋; "
        "李娜 has an unpaid order (pay it at /h5/orders); 阿依古丽·买买提 paid the 2021 make-up plan",
    ]
