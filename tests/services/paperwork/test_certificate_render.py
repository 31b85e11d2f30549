from datetime import date

from services.paperwork.certificate_render import (
    HEIGHT,
    PAPER,
    WIDTH,
    CertificateFace,
    mm,
    render_image,
)


def face(holder_name: str, unit_name: str) -> CertificateFace:
    return CertificateFace(
        number="GX2022-7K3M-9QXD-R2TB-H8WC",
        holder_name=holder_name,
        holder_id_number="500103198503121015",
        unit_name=unit_name,
        plan_title="重庆市2022年专业技术人员继续教育公需科目培训",
        year=2022,
        hours=30,
        issued_on=date(2022, 11, 3),
        verify_url="https://gx.example.cn/verify/GX2022-7K3M-9QXD-R2TB-H8WC",
    )


def test_the_longest_name_and_unit_stay_inside_the_margins():
    # Registration allows 30 characters for a name and 100 for a unit's name.
    name = "阿卜杜克热木·阿卜杜热合曼·买买提明·艾力江·阿布都拉"
    unit = ("重庆市渝北区人民政府龙山街道办事处社区事务服务中心附属第一卫生服务站管理办公室" * 3)[
        :100
    ]
    image = render_image(face(name, unit))
    assert image.size == (WIDTH, HEIGHT)
    # Between the right margin of the text and the inner frame, level with the name, the
    # paragraph and the unit, there is nothing but paper.
    beside_the_text = image.crop((WIDTH - mm(41), mm(80), WIDTH - mm(16), mm(162)))
    assert beside_the_text.getcolors() == [(beside_the_text.width * beside_the_text.height, PAPER)]
