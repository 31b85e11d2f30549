"""How personal data, money and states are shown: masked ID numbers and phones, yuan, local
time, the colour of a status."""

from __future__ import annotations

import enum
from datetime import datetime
from zoneinfo import ZoneInfo

from models.invoices import InvoiceStatus
from models.makeup import ReviewStatus

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def mask_id_number(id_number: str | None) -> str:
    """500101199001011234 → 500***********1234: region and birth date hidden."""
    if not id_number:
        return ""
    if len(id_number) < 8:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) != 11:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def mask_name(name: str | None) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧**娜: for public pages."""
    if not name:
        return ""
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def yuan(fen: int | None) -> str:
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_TZ).strftime(fmt)


def local_date(moment: datetime | None) -> str:
    return local_time(moment, "%Y-%m-%d")


# The colour of a status badge on the learner's pages (CSS ``paper-status_<tone>``). Keyed by
# type as well: two enums may share a value ("pending").
_TONES: dict[tuple[type[enum.Enum], enum.Enum], str] = {
    (InvoiceStatus, InvoiceStatus.REQUESTED): "wait",
    (InvoiceStatus, InvoiceStatus.ISSUED): "ok",
    (InvoiceStatus, InvoiceStatus.REVERSING): "wait",
    (InvoiceStatus, InvoiceStatus.REVERSED): "off",
    (InvoiceStatus, InvoiceStatus.CANCELLED): "off",
    (ReviewStatus, ReviewStatus.PENDING): "wait",
    (ReviewStatus, ReviewStatus.APPROVED): "ok",
    (ReviewStatus, ReviewStatus.REJECTED): "bad",
}


def status_tone(status: enum.Enum) -> str:
    """``ok``, ``wait``, ``bad`` or ``off``."""
    return _TONES.get((type(status), status), "off")
