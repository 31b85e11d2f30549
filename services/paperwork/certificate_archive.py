"""A unit's certificates of one year as one ZIP archive, for the unit admin.

The archive holds the signed PDF of every valid certificate of the unit's learners (those
whose unit it is now) for that year, and a list (证书清单.csv). It is written as it is sent:
each PDF is copied from storage in small pieces into the stream, so memory stays bounded
whatever the number of certificates. A certificate not drawn yet is drawn and signed on the
way; the caller's ``after_each`` (the handler's commit) keeps the stored paths.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import Learner
from models.certificates import Certificate, CertificateStatus
from services import stored_files
from services.accounts import org
from services.display import LOCAL_TZ
from services.errors import NotFound
from services.paperwork.certificates import ensure_files

CHUNK = 64 * 1024
LIST_NAME = "证书清单.csv"


@dataclass(frozen=True)
class ArchiveYear:
    year: int
    certificates: int


def _unit_certificates(unit_id: int):
    return (
        select(Certificate)
        .join(Learner, Learner.id == Certificate.learner_id)
        .where(Learner.unit_id == unit_id, Certificate.status == CertificateStatus.VALID)
    )


def archive_years(unit_id: int) -> list[ArchiveYear]:
    """The years the unit has valid certificates in, newest first, with their counts."""
    org.get_unit(unit_id)
    rows = db.session.execute(
        select(Certificate.year, func.count(Certificate.id))
        .join(Learner, Learner.id == Certificate.learner_id)
        .where(Learner.unit_id == unit_id, Certificate.status == CertificateStatus.VALID)
        .group_by(Certificate.year)
        .order_by(Certificate.year.desc())
    )
    return [ArchiveYear(year, count) for year, count in rows]


def archive_certificate_ids(unit_id: int, year: int) -> list[int]:
    """The certificates an archive holds; refuses a year without any."""
    ids = list(
        db.session.scalars(
            _unit_certificates(unit_id)
            .with_only_columns(Certificate.id)
            .where(Certificate.year == year)
            .order_by(Certificate.holder_name, Certificate.number)
        )
    )
    if not ids:
        raise NotFound(f"本单位{year}年度没有有效的合格证书。")
    return ids


def archive_name(unit_id: int, year: int) -> str:
    return f"合格证书-{org.get_unit(unit_id).name}-{year}.zip"


class _Pending(io.RawIOBase):
    """What the ZIP writer has produced and the response has not sent yet."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _entry_name(certificate: Certificate) -> str:
    """``姓名-证书编号.pdf``: the number makes it unique; no character a file system refuses."""
    safe = "".join(c for c in certificate.holder_name if c not in '/\\:*?"<>|')
    return f"{safe}-{certificate.number}.pdf"


def stream_archive(
    certificate_ids: list[int], *, after_each: Callable[[], None] = lambda: None
) -> Iterator[bytes]:
    """The ZIP archive, in pieces of about ``CHUNK`` bytes."""
    pending = _Pending()
    listing = io.StringIO()
    writer = csv.writer(listing)
    writer.writerow(["证书编号", "姓名", "培训项目", "年度", "学时", "发证日期", "文件"])
    with zipfile.ZipFile(pending, "w", zipfile.ZIP_STORED) as archive:
        for certificate_id in certificate_ids:
            certificate = db.session.get(Certificate, certificate_id)
            if certificate is None or certificate.status is not CertificateStatus.VALID:
                continue  # revoked while the archive was being sent
            ensure_files(certificate)
            after_each()
            assert certificate.pdf_path is not None  # ensure_files stored it
            name = _entry_name(certificate)
            with (
                stored_files.resolve(certificate.pdf_path).open("rb") as source,
                archive.open(name, "w") as target,
            ):
                while piece := source.read(CHUNK):
                    target.write(piece)
                    yield pending.drain()
            writer.writerow(
                [
                    certificate.number,
                    certificate.holder_name,
                    certificate.plan_title,
                    certificate.year,
                    certificate.hours,
                    certificate.issued_at.astimezone(LOCAL_TZ).date().isoformat(),
                    name,
                ]
            )
            db.session.expunge(certificate)  # the session does not grow with the archive
        # Excel opens UTF-8 CSV as such only with the byte order mark.
        archive.writestr(LIST_NAME, "\ufeff" + listing.getvalue())
    yield pending.drain()
