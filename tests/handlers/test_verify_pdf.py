"""The public check of an uploaded certificate PDF at /verify."""

import io

import pytest
from asn1crypto import pem
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from services import stored_files
from services.audit import Actor
from services.paperwork import certificates, signing
from services.paperwork.certificate_render import render_files
from tests import factories
from tests.conftest import csrf_from
from wechat_sim.server import LoopbackServer
from wechat_sim.tsa import TimestampAuthority

STAFF = Actor.system("system:test")


def issued(name="张伟"):
    learner = factories.learner(name=name)
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan)
    return certificates.issue_certificate(learner.id, plan.id)


def signed_pdf(certificate) -> bytes:
    path = certificates.certificate_file(certificate.id, certificate.learner_id, "pdf")
    return stored_files.read(path)


def upload(client, data: bytes, filename="证书.pdf"):
    """POST the form as a browser does. The body is encoded in memory: the test client would
    spool a large one to a temporary file it never closes."""
    token = csrf_from(client.get("/verify/").get_data(as_text=True))
    boundary, body = encode_multipart(
        MultiDict({"csrf_token": token, "pdf": FileStorage(io.BytesIO(data), filename)})
    )
    return client.post(
        "/verify/pdf", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_the_search_page_offers_the_upload(client):
    page = client.get("/verify/").get_data(as_text=True)
    assert 'action="/verify/pdf"' in page and 'enctype="multipart/form-data"' in page


def test_an_original_certificate_is_intact_and_valid(client):
    certificate = issued()
    response = upload(client, signed_pdf(certificate))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "签名完好，证书真实有效" in page
    assert certificate.number in page
    assert "合格证书电子签名" in page  # whose signature it is
    assert certificate.holder_id_number not in page  # masked
    assert "张*" in page or "*伟" in page


def test_one_changed_byte_is_caught(client):
    data = bytearray(signed_pdf(issued()))
    data[len(data) // 3] ^= 0x01
    page = upload(client, bytes(data)).get_data(as_text=True)
    assert "签名已损坏" in page and "真实有效" not in page


def test_a_revoked_certificate_says_so(client):
    certificate = issued()
    data = signed_pdf(certificate)
    certificates.revoke_certificate(certificate.id, actor=STAFF, reason="信息有误")
    page = upload(client, data).get_data(as_text=True)
    assert "签名完好，但该证书已作废" in page and "已作废" in page


def test_a_signed_number_we_never_issued_is_unknown(client):
    certificate = issued()
    _, pdf = render_files(certificates.certificate_face(certificate))
    forged_number = "GX2022-0000-0000-0000-0000"
    pdf = pdf.replace(certificate.number.encode("utf-16-be"), forged_number.encode("utf-16-be"))
    data = certificates.sign_certificate_pdf(pdf, forged_number)
    page = upload(client, data).get_data(as_text=True)
    assert "签名完好，但未查询到该证书" in page and forged_number in page


def test_appending_to_a_signed_file_is_noticed(client):
    data = signed_pdf(issued())
    # A second incremental update after the signature: the signature covers only part now.
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.set_info(
        generic.DictionaryObject({generic.NameObject("/Title"): generic.TextStringObject("改")})
    )
    out = io.BytesIO()
    writer.write(out)
    page = upload(client, out.getvalue()).get_data(as_text=True)
    assert "文件在签名后被追加修改" in page


def test_a_signature_that_is_not_ours(client, tmp_path):
    _, ca_cert, key, cert = signing.issue_test_pki(
        signer_common_name="电子签名", organisation="某某伪造机构"
    )
    (tmp_path / "key.pem").write_bytes(signing.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(signing.cert_pem(cert))
    (tmp_path / "ca.pem").write_bytes(signing.cert_pem(ca_cert))
    material = signing.material_from_pem(
        tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "ca.pem"
    )
    certificate = issued()
    _, pdf = render_files(certificates.certificate_face(certificate))
    data = certificates.sign_certificate_pdf(pdf, certificate.number, material=material)
    page = upload(client, data).get_data(as_text=True)
    assert "签名不是发证机构的" in page and "某某伪造机构" in page
    assert "真实有效" not in page


def test_an_unsigned_pdf(client):
    certificate = issued()
    _, pdf = render_files(certificates.certificate_face(certificate))
    page = upload(client, pdf).get_data(as_text=True)
    assert "该PDF没有数字签名" in page


def test_what_is_not_a_pdf_is_refused_in_chinese(client):
    response = upload(client, b"\x89PNG\r\n\x1a\n" + b"0" * 100, "证书.png")
    assert response.status_code == 400
    assert "该文件不是PDF文件" in response.get_data(as_text=True)
    broken = upload(client, b"%PDF-1.4\nnot really a pdf")
    assert broken.status_code == 400
    assert "该文件不是PDF文件" in broken.get_data(as_text=True)


def test_no_file_is_refused(client):
    token = csrf_from(client.get("/verify/").get_data(as_text=True))
    response = client.post(
        "/verify/pdf", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "请选择要验证的证书PDF文件" in response.get_data(as_text=True)


def test_an_oversized_file_is_refused_in_chinese(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "VERIFY_PDF_MAX_BYTES", 100 * 1024)
    within_form = upload(client, b"%PDF-1.4\n" + b"0" * (120 * 1024))
    assert within_form.status_code == 400
    assert "文件过大" in within_form.get_data(as_text=True)
    huge = upload(client, b"%PDF-1.4\n" + b"0" * (400 * 1024))
    assert huge.status_code == 413
    assert "文件过大" in huge.get_data(as_text=True)


@pytest.fixture
def timestamped_pdf(app, monkeypatch):
    """A certificate PDF signed with a timestamp of the simulator's TSA."""
    tsa = TimestampAuthority()
    server = LoopbackServer(tsa).serve()
    try:
        monkeypatch.setitem(app.config, "CERTIFICATE_TSA_URL", server.url + "/")
        data = signed_pdf(issued())
    finally:
        server.stop()
    assert tsa.requests >= 1
    return tsa, data


def trust_for_timestamps(app, monkeypatch, tmp_path, *roots):
    path = tmp_path / "tsa-roots.pem"
    path.write_bytes(b"".join(pem.armor("CERTIFICATE", root.dump()) for root in roots))
    monkeypatch.setitem(app.config, "CERTIFICATE_TSA_TRUST_ROOTS", str(path))


def test_a_timestamp_of_a_trusted_authority_is_said_trusted(
    client, app, monkeypatch, tmp_path, timestamped_pdf
):
    tsa, data = timestamped_pdf
    trust_for_timestamps(app, monkeypatch, tmp_path, tsa.ca_cert)
    page = upload(client, data).get_data(as_text=True)
    assert "签名完好，证书真实有效" in page
    assert "可信：时间戳签名完好，签发时间戳的机构证书链至受信任的时间戳服务机构根证书" in page
    assert "（可信时间戳）" in page


def test_a_timestamp_of_an_authority_not_configured_is_not_trusted(
    client, app, monkeypatch, tmp_path, timestamped_pdf
):
    _, data = timestamped_pdf
    _, foreign_ca, _, _ = signing.issue_test_pki(signer_common_name="其他时间戳机构")
    trust_for_timestamps(app, monkeypatch, tmp_path, signing.to_asn1(foreign_ca))
    page = upload(client, data).get_data(as_text=True)
    # The certificate's own signature still holds; only the time is not proven.
    assert "签名完好，证书真实有效" in page
    assert "不可信：时间戳签名完好，但签发机构不在受信任的时间戳服务机构之列" in page
    assert "（时间戳，未获信任）" in page and "（可信时间戳）" not in page
    # No TSA roots configured at all: no timestamp is trusted.
    monkeypatch.setitem(app.config, "CERTIFICATE_TSA_TRUST_ROOTS", "")
    page = upload(client, data).get_data(as_text=True)
    assert "不可信：时间戳签名完好" in page


def test_a_signature_without_a_timestamp_says_so(client):
    page = upload(client, signed_pdf(issued())).get_data(as_text=True)
    assert "无：签名未附时间戳，签名时间为签名方自己的时钟" in page
    assert "可信时间戳" not in page


def test_a_timestamp_whose_token_was_altered_is_said_broken(
    client, app, monkeypatch, tmp_path, timestamped_pdf
):
    tsa, data = timestamped_pdf
    trust_for_timestamps(app, monkeypatch, tmp_path, tsa.ca_cert)
    (signature,) = PdfFileReader(io.BytesIO(data)).embedded_signatures
    (token,) = signature.signer_info["unsigned_attrs"][0]["values"]
    token_signature = token["content"]["signer_infos"][0]["signature"].native
    # The token sits hex-encoded in /Contents; change one digit of the TSA's signature value.
    hex_text = token_signature.hex().encode()
    where = data.lower().find(hex_text)
    assert where > 0
    digit = data[where + 10 : where + 11]
    altered = data[: where + 10] + (b"0" if digit != b"0" else b"1") + data[where + 11 :]
    page = upload(client, altered).get_data(as_text=True)
    # The certificate's own signature does not cover the token (an unsigned attribute).
    assert "签名完好，证书真实有效" in page
    assert "无效：时间戳签名已损坏，签名时间无法得到证明" in page
    assert "可信时间戳" not in page
