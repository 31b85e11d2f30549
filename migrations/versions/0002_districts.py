"""reference data: Chongqing's 38 county-level divisions (GB/T 2260) and the 3 zones

Revision ID: 0002_districts
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_districts"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

DISTRICTS = [
    ("500101", "万州区"), ("500102", "涪陵区"), ("500103", "渝中区"), ("500104", "大渡口区"),
    ("500105", "江北区"), ("500106", "沙坪坝区"), ("500107", "九龙坡区"), ("500108", "南岸区"),
    ("500109", "北碚区"), ("500110", "綦江区"), ("500111", "大足区"), ("500112", "渝北区"),
    ("500113", "巴南区"), ("500114", "黔江区"), ("500115", "长寿区"), ("500116", "江津区"),
    ("500117", "合川区"), ("500118", "永川区"), ("500119", "南川区"), ("500120", "璧山区"),
    ("500151", "铜梁区"), ("500152", "潼南区"), ("500153", "荣昌区"), ("500154", "开州区"),
    ("500155", "梁平区"), ("500156", "武隆区"), ("500229", "城口县"), ("500230", "丰都县"),
    ("500231", "垫江县"), ("500233", "忠县"), ("500235", "云阳县"), ("500236", "奉节县"),
    ("500237", "巫山县"), ("500238", "巫溪县"), ("500240", "石柱土家族自治县"),
    ("500241", "秀山土家族苗族自治县"), ("500242", "酉阳土家族苗族自治县"),
    ("500243", "彭水苗族土家族自治县"),
]  # fmt: skip

# Zones that act as districts for personnel files; they have no GB/T 2260 code of their own.
ZONES = [("LJXQ", "两江新区"), ("GXQ", "西部科学城重庆高新区"), ("WSJKQ", "万盛经开区")]

districts = sa.table(
    "districts",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("kind", sa.String),
    sa.column("sort_order", sa.Integer),
)


def upgrade():
    rows = [
        {
            "code": code,
            "name": name,
            "kind": "county" if code[3] == "2" else "district",
            "sort_order": index,
        }
        for index, (code, name) in enumerate(DISTRICTS, start=1)
    ]
    rows += [
        {"code": code, "name": name, "kind": "zone", "sort_order": 100 + index}
        for index, (code, name) in enumerate(ZONES, start=1)
    ]
    op.bulk_insert(districts, rows)


def downgrade():
    codes = [code for code, _ in DISTRICTS + ZONES]
    op.execute(districts.delete().where(districts.c.code.in_(codes)))
