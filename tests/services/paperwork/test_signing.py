"""Signed certificate PDFs, checked with pyHanko's own validator as a reader would."""

import io
import logging
import re
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from fontTools import ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from services import stored_files
from services.audit import Actor
from services.errors import Conflict
from services.paperwork import certificates, cjk_fonts, signing
from services.paperwork.certificate_render import render_files, seal_box_points
from tests import factories
from wechat_sim.server import LoopbackServer
from wechat_sim.tsa import TimestampAuthority

STAFF = Actor.system("system:test")


def issued(name="张伟"):
    learner = factories.learner(name=name)
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan)
    return certificates.issue_certificate(learner.id, plan.id)


def pdf_of(certificate) -> bytes:
    path = certificates.certificate_file(certificate.id, certificate.learner_id, "pdf")
    return stored_files.read(path)


def development_root(app) -> asn1_x509.Certificate:
    folder = signing.development_bundle(Path(app.instance_path))
    return signing.load_pem_certificates((folder / "ca.pem").read_bytes())[0]


def validate(data: bytes, *roots: asn1_x509.Certificate):
    reader = PdfFileReader(io.BytesIO(data))
    (signature,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=list(roots), allow_fetching=False)
    return signature, validate_pdf_signature(signature, context)


def test_a_certificate_pdf_is_signed_over_its_seal(app):
    certificate = issued()
    data = pdf_of(certificate)
    signature, status = validate(data, development_root(app))
    assert status.intact and status.valid and status.trusted
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line
    assert "合格证书电子签名" in status.signing_cert.subject.human_friendly
    # PAdES baseline: the ETSI sub-filter.
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    # The widget is visible and sits on the seal.
    widget = signature.sig_field
    rect = [float(edge) for edge in widget["/Rect"]]
    assert rect == [float(round(edge)) for edge in seal_box_points()]
    assert rect[2] - rect[0] > 100 and "/AP" in widget
    assert signature.sig_object["/Reason"] == f"合格证书 {certificate.number}"


def stamp_lines(signature) -> list[str]:
    """The lines of the visible signature as a reader copies them: the text of each line's
    marked span (``/ActualText``), which pyHanko writes beside the glyphs it draws."""
    data = signature.sig_field["/AP"]["/N"].data
    return [
        str(generic.read_string_from_stream(io.BytesIO(data[found.end() :])))
        for found in re.finditer(rb"/ActualText\s*", data)
    ]


def stamp_font(signature):
    appearance = signature.sig_field["/AP"]["/N"]
    return appearance["/Resources"]["/Font"]["/F1"]


def test_the_visible_signature_is_in_chinese_with_the_font_embedded(app):
    data = pdf_of(issued())
    signature, status = validate(data, development_root(app))
    assert status.bottom_line
    lines = stamp_lines(signature)
    assert lines[:2] == ["电子签章：", signing.DEV_ORGANISATION]
    assert re.fullmatch(r"时间：\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[2])
    font = stamp_font(signature)
    # A subset (six-letter prefix) of Noto Sans CJK, its program inside the PDF.
    assert re.fullmatch(r"/[A-Z]{6}\+NotoSansCJKsc-Regular-Identity-H", str(font["/BaseFont"]))
    (descendant,) = font["/DescendantFonts"]
    program = descendant.get_object()["/FontDescriptor"]["/FontFile3"]
    # Only the glyphs of the stamp: a few kilobytes, not Noto CJK's 16 MB face.
    assert len(program.data) < 60_000


def test_the_stamp_font_is_one_face_of_the_collection(app):
    path, index = cjk_fonts.font_file("sans")
    assert path.suffix == ".ttc" and index > 0  # SC is not the first face of Noto's collection
    program = cjk_fonts.font_subset("sans", "电子签章")
    font = ttLib.TTFont(io.BytesIO(program))
    assert font["name"].getDebugName(1) == "Noto Sans CJK SC"
    assert {chr(code) for code in font.getBestCmap()} == set("电子签章")


@pytest.fixture
def no_cjk_font(monkeypatch, tmp_path):
    def forget():
        cjk_fonts._find_file.cache_clear()
        cjk_fonts.font_file.cache_clear()
        cjk_fonts.font_subset.cache_clear()
        signing._WARNED_NO_FONT.clear()

    forget()
    monkeypatch.setattr(cjk_fonts, "FONT_DIRS", (tmp_path,))
    yield
    monkeypatch.undo()
    forget()


def test_without_a_cjk_font_the_stamp_stays_english_and_the_log_says_so(app, no_cjk_font, caplog):
    caplog.set_level(logging.WARNING, logger=signing.__name__)
    certificate = issued()
    _, pdf = render_files(certificates.certificate_face(certificate))
    data = certificates.sign_certificate_pdf(pdf, certificate.number)
    signature, status = validate(data, development_root(app))
    assert status.bottom_line
    assert "fonts-noto-cjk" in caplog.text
    appearance = signature.sig_field["/AP"]["/N"]
    assert b"(Digitally signed)" in appearance.data
    assert str(stamp_font(signature)["/BaseFont"]) == "/Courier"


def test_one_changed_byte_breaks_the_signature(app):
    data = bytearray(pdf_of(issued()))
    # A byte of the page image, inside the signed range.
    data[len(data) // 3] ^= 0x01
    _, status = validate(bytes(data), development_root(app))
    assert not status.intact
    assert not status.bottom_line
    assert not signing.check_signature(bytes(data)).ours_and_unchanged


def test_a_trust_root_that_is_not_ours_is_not_trusted(app):
    _, foreign_ca, _, _ = signing.issue_test_pki(signer_common_name="他人")
    _, status = validate(pdf_of(issued()), signing.to_asn1(foreign_ca))
    assert status.intact and not status.trusted


def test_a_timestamp_authority_stamps_every_signature(app, monkeypatch):
    tsa = TimestampAuthority()
    server = LoopbackServer(tsa).serve()
    try:
        monkeypatch.setitem(app.config, "CERTIFICATE_TSA_URL", server.url + "/")
        data = pdf_of(issued())
    finally:
        server.stop()
    assert tsa.requests >= 1
    reader = PdfFileReader(io.BytesIO(data))
    (signature,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=[development_root(app)], allow_fetching=False)
    tsa_context = ValidationContext(trust_roots=[tsa.ca_cert], allow_fetching=False)
    status = validate_pdf_signature(signature, context, ts_validation_context=tsa_context)
    assert status.bottom_line
    stamp = status.timestamp_validity
    assert stamp is not None and stamp.intact and stamp.valid and stamp.trusted
    check = signing.check_signature(data)
    assert check.timestamped and check.signed_at == stamp.timestamp
    # Intact, but /verify trusts no TSA until its roots are configured.
    assert not check.timestamp_trusted and check.timestamp_verdict == "untrusted"


def test_a_timestamp_authority_that_is_down_fails_the_download_and_keeps_nothing(app, monkeypatch):
    monkeypatch.setitem(app.config, "CERTIFICATE_TSA_URL", "http://127.0.0.1:9/")
    certificate = issued()
    with pytest.raises(signing.SigningUnavailable, match="时间戳服务暂时无法访问"):
        certificates.certificate_file(certificate.id, certificate.learner_id, "pdf")
    assert certificate.pdf_path is None


def test_a_revoked_certificate_is_never_signed_again(app):
    certificate = issued()
    path = certificates.certificate_file(certificate.id, certificate.learner_id, "pdf")
    before = stored_files.read(path)
    new = certificates.reissue_certificate(
        certificate.id, actor=STAFF, reason="姓名有误", corrected_name="张卫"
    )
    with pytest.raises(Conflict):
        certificates.certificate_file(certificate.id, certificate.learner_id, "pdf")
    with pytest.raises(Conflict):
        certificates.ensure_files(certificate)
    assert stored_files.read(path) == before
    # The new certificate is signed under its own number.
    data = pdf_of(new)
    _, status = validate(data, development_root(app))
    assert status.bottom_line
    assert signing.check_signature(data).title == f"合格证书 {new.number}"


def test_an_unsigned_pdf_of_an_earlier_release_is_signed_on_the_next_download(app):
    certificate = issued()
    png, pdf = render_files(certificates.certificate_face(certificate))
    stem = f"certificates/{certificate.year}/{certificate.number}"
    certificate.png_path = stored_files.write(f"{stem}.png", png)
    certificate.pdf_path = stored_files.write(f"{stem}.pdf", pdf)
    assert not signing.check_signature(pdf).signed
    data = pdf_of(certificate)
    assert certificate.pdf_path.endswith(".signed.pdf")
    assert signing.check_signature(data).ours_and_unchanged


def _configured(app, monkeypatch, **settings):
    for name in (
        "CERTIFICATE_SIGNING_PKCS12",
        "CERTIFICATE_SIGNING_PKCS12_PASSWORD",
        "CERTIFICATE_SIGNING_KEY",
        "CERTIFICATE_SIGNING_KEY_PASSWORD",
        "CERTIFICATE_SIGNING_CERT",
        "CERTIFICATE_SIGNING_CHAIN",
    ):
        monkeypatch.setitem(app.config, name, settings.get(name, ""))
    monkeypatch.setitem(app.config, "CERTIFICATE_SIGNING_DEV_CA", False)


def test_the_signing_key_comes_from_a_pkcs12_file(app, monkeypatch, tmp_path):
    _, ca_cert, key, cert = signing.issue_test_pki(signer_common_name="重庆市证书签名")
    p12 = tmp_path / "signing.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signing", key, cert, [ca_cert], BestAvailableEncryption(b"s3cret")
        )
    )
    _configured(
        app,
        monkeypatch,
        CERTIFICATE_SIGNING_PKCS12=str(p12),
        CERTIFICATE_SIGNING_PKCS12_PASSWORD="s3cret",
    )
    data = pdf_of(issued())
    _, status = validate(data, signing.to_asn1(ca_cert))
    assert status.bottom_line
    assert "重庆市证书签名" in status.signing_cert.subject.human_friendly
    assert signing.check_signature(data).ours_and_unchanged


def test_the_signing_key_comes_from_pem_files(app, monkeypatch, tmp_path):
    _, ca_cert, key, cert = signing.issue_test_pki(signer_common_name="PEM签名")
    (tmp_path / "key.pem").write_bytes(signing.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(signing.cert_pem(cert))
    (tmp_path / "chain.pem").write_bytes(signing.cert_pem(ca_cert))
    _configured(
        app,
        monkeypatch,
        CERTIFICATE_SIGNING_KEY=str(tmp_path / "key.pem"),
        CERTIFICATE_SIGNING_CERT=str(tmp_path / "cert.pem"),
        CERTIFICATE_SIGNING_CHAIN=str(tmp_path / "chain.pem"),
    )
    data = pdf_of(issued())
    _, status = validate(data, signing.to_asn1(ca_cert))
    assert status.bottom_line
    # The development CA is not what /verify trusts now.
    assert signing.check_signature(data).trusted


def test_without_a_key_nothing_is_signed_or_stored(app, monkeypatch):
    _configured(app, monkeypatch)
    certificate = issued()
    with pytest.raises(signing.SigningUnavailable) as refused:
        certificates.certificate_file(certificate.id, certificate.learner_id, "pdf")
    assert "CERTIFICATE_SIGNING_PKCS12" in refused.value.detail
    assert certificate.pdf_path is None


def test_the_development_ca_is_generated_once_and_said_so(tmp_path, caplog):
    first = signing.development_material(tmp_path)
    assert "development CA" in caplog.text
    again = signing.development_material(tmp_path)
    assert first.signer.signing_cert.dump() == again.signer.signing_cert.dump()
    assert (tmp_path / "signing" / "development" / "ca.pem").is_file()


def test_pyhankos_lxml_does_not_become_openpyxls_parser():
    # pyHanko installs lxml; openpyxl would parse rosters with it, entity declarations and all.
    import openpyxl
    from openpyxl.xml import functions

    assert openpyxl.LXML is False
    assert functions.fromstring.__module__.startswith("defusedxml")


def test_signing_and_checking_work_inside_a_running_event_loop(app):
    import asyncio

    certificate = issued()
    _, pdf = render_files(certificates.certificate_face(certificate))

    async def inside():
        signed = certificates.sign_certificate_pdf(pdf, certificate.number)
        return signing.check_signature(signed)

    assert asyncio.run(inside()).ours_and_unchanged
