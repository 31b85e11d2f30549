"""Digital signatures (PAdES, with pyHanko) on the PDFs the platform issues, and checking them.

The signing key and certificate come from configuration: a PKCS#12 file
(``CERTIFICATE_SIGNING_PKCS12`` and its password) or PEM files (``CERTIFICATE_SIGNING_KEY``,
``CERTIFICATE_SIGNING_CERT``, ``CERTIFICATE_SIGNING_CHAIN``). Development and the tests
(``CERTIFICATE_SIGNING_DEV_CA``) generate their own CA and signing certificate once, keep them
under the instance folder and say so in the log; production without a configured key refuses
to sign. With ``CERTIFICATE_TSA_URL`` every signature carries an RFC 3161 timestamp.

A PDF checks out when its last signature is intact, covers the whole file (nothing appended
afterwards) and chains to one of our trust roots: the self-signed certificates of the chain
(or of the PKCS#12 file), or the signing certificate itself when it has no chain.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import current_app
from pyhanko import stamp
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from requests import RequestException

from services.display import LOCAL_TZ
from services.errors import ServiceError
from services.paperwork import cjk_fonts

log = logging.getLogger(__name__)
T = TypeVar("T")

SIGNATURE_FIELD = "GXSignature"
DEV_FOLDER = "development"
DEV_ORGANISATION = "重庆市人力资源开发服务中心（开发环境）"


class SigningUnavailable(ServiceError):
    """No signing key is configured (production), the configured one cannot be loaded, or
    the timestamp authority did not answer: nothing unsigned is handed out instead."""

    status_code = 503
    code = "signing_unavailable"

    def __init__(
        self, detail: str, message: str = "证书签名服务暂时不可用，请稍后再下载。"
    ) -> None:
        super().__init__(message)
        self.detail = detail
        log.error("signing unavailable: %s", detail)


@dataclass(frozen=True)
class SigningMaterial:
    signer: signers.SimpleSigner
    trust_roots: tuple[asn1_x509.Certificate, ...]
    tsa_url: str
    # The roots a timestamp token's TSA certificate must chain to (CERTIFICATE_TSA_TRUST_ROOTS).
    tsa_trust_roots: tuple[asn1_x509.Certificate, ...]
    source: str  # where the key came from, for the log

    @property
    def signer_name(self) -> str:
        return describe(self.signer.signing_cert)


_MATERIAL: dict[tuple, SigningMaterial] = {}
_MATERIAL_LOCK = threading.Lock()


def _settings_key() -> tuple:
    config = current_app.config
    return (
        config.get("CERTIFICATE_SIGNING_PKCS12", ""),
        config.get("CERTIFICATE_SIGNING_PKCS12_PASSWORD", ""),
        config.get("CERTIFICATE_SIGNING_KEY", ""),
        config.get("CERTIFICATE_SIGNING_KEY_PASSWORD", ""),
        config.get("CERTIFICATE_SIGNING_CERT", ""),
        config.get("CERTIFICATE_SIGNING_CHAIN", ""),
        bool(config.get("CERTIFICATE_SIGNING_DEV_CA")),
        config.get("CERTIFICATE_TSA_URL", ""),
        current_app.instance_path,
        config.get("CERTIFICATE_TSA_TRUST_ROOTS", ""),
    )


def signing_material() -> SigningMaterial:
    """The configured signer, loaded once per process and configuration."""
    key = _settings_key()
    with _MATERIAL_LOCK:
        material = _MATERIAL.get(key)
        if material is None:
            material = _load(*key)
            _MATERIAL[key] = material
            log.info("PDFs are signed by %s (%s)", material.signer_name, material.source)
        return material


def development_material(instance_path: Path, tsa_url: str = "") -> SigningMaterial:
    """The development signer without an app (benchmarks)."""
    return _load("", "", "", "", "", "", True, tsa_url, str(instance_path), "")


def material_from_pem(key: Path, cert: Path, chain: Path) -> SigningMaterial:
    """A signer from PEM files, without an app."""
    return _load("", "", str(key), "", str(cert), str(chain), False, "", "", "")


def _load(
    pkcs12: str,
    pkcs12_password: str,
    key_file: str,
    key_password: str,
    cert_file: str,
    chain_file: str,
    dev_ca: bool,
    tsa_url: str,
    instance_path: str,
    tsa_trust_roots_file: str,
) -> SigningMaterial:
    chain_files = [chain_file] if chain_file else []
    if pkcs12:
        signer = signers.SimpleSigner.load_pkcs12(
            pkcs12, ca_chain_files=chain_files, passphrase=pkcs12_password.encode() or None
        )
        source = f"PKCS#12 {pkcs12}"
    elif key_file and cert_file:
        signer = signers.SimpleSigner.load(
            key_file,
            cert_file,
            ca_chain_files=chain_files,
            key_passphrase=key_password.encode() or None,
        )
        source = f"PEM {cert_file}"
    elif dev_ca:
        bundle = development_bundle(Path(instance_path))
        signer = signers.SimpleSigner.load(
            str(bundle / "key.pem"),
            str(bundle / "cert.pem"),
            ca_chain_files=[str(bundle / "ca.pem")],
        )
        source = f"development CA generated under {bundle}"
        log.warning(
            "certificates are signed with a development CA generated by the platform itself "
            "(%s); set CERTIFICATE_SIGNING_PKCS12 or CERTIFICATE_SIGNING_KEY and "
            "CERTIFICATE_SIGNING_CERT in production",
            bundle,
        )
    else:
        raise SigningUnavailable(
            "no signing key configured: set CERTIFICATE_SIGNING_PKCS12 (and its password) or "
            "CERTIFICATE_SIGNING_KEY and CERTIFICATE_SIGNING_CERT"
        )
    if signer is None or signer.signing_cert is None:
        raise SigningUnavailable(f"the signing key could not be loaded from {source}")
    tsa_roots: list[asn1_x509.Certificate] = []
    if tsa_trust_roots_file:
        try:
            tsa_roots = load_pem_certificates(Path(tsa_trust_roots_file).read_bytes())
        except (OSError, ValueError) as error:
            raise SigningUnavailable(
                f"CERTIFICATE_TSA_TRUST_ROOTS {tsa_trust_roots_file} cannot be read: {error}"
            ) from error
    return SigningMaterial(
        signer=signer,
        trust_roots=_trust_roots(signer),
        tsa_url=tsa_url,
        tsa_trust_roots=tuple(tsa_roots),
        source=source,
    )


def _trust_roots(signer: signers.SimpleSigner) -> tuple[asn1_x509.Certificate, ...]:
    known = [signer.signing_cert, *(signer.cert_registry or [])]
    roots = [cert for cert in known if cert.self_signed]
    return tuple(roots) if roots else (signer.signing_cert,)


def describe(cert: asn1_x509.Certificate) -> str:
    """The holder of a certificate as a person reads it: organisation, then common name."""
    subject = cert.subject.native
    parts = [subject.get("organization_name"), subject.get("common_name")]
    names = [part for part in parts if part]
    unique = list(dict.fromkeys(names))
    return " / ".join(unique) if unique else cert.subject.human_friendly


# --- the development CA -------------------------------------------------------------------


_DEV_LOCK = threading.Lock()


def development_bundle(instance_path: Path) -> Path:
    """A folder with a signing key (``key.pem``), its certificate (``cert.pem``) and the CA
    that issued it (``ca.pem``); generated on first use into a temporary folder renamed into
    place, so concurrent processes agree on one."""
    folder = instance_path / "signing" / DEV_FOLDER
    with _DEV_LOCK:
        if (folder / "ca.pem").is_file():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        key, cert, ca_cert = generate_development_pem()
        (temporary / "key.pem").write_bytes(key)
        os.chmod(temporary / "key.pem", 0o600)
        (temporary / "cert.pem").write_bytes(cert)
        (temporary / "ca.pem").write_bytes(ca_cert)
        try:
            os.rename(temporary, folder)
        except OSError:  # another process was first: use its folder
            for child in temporary.iterdir():
                child.unlink()
            temporary.rmdir()
    return folder


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def issue_test_pki(
    *,
    signer_common_name: str,
    organisation: str = DEV_ORGANISATION,
    extended_usage: list[x509.ObjectIdentifier] | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate, rsa.RSAPrivateKey, x509.Certificate]:
    """A CA and one end-entity certificate issued by it: (CA key, CA cert, key, cert)."""
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name(f"{signer_common_name} CA", organisation)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(signer_common_name, organisation))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if extended_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_usage), critical=True)
    return ca_key, ca_cert, key, builder.sign(ca_key, hashes.SHA256())


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate_development_pem() -> tuple[bytes, bytes, bytes]:
    """(key, certificate, CA certificate) as PEM."""
    _, ca_cert, key, cert = issue_test_pki(signer_common_name="合格证书电子签名")
    return key_pem(key), cert_pem(cert), cert_pem(ca_cert)


def timestamping_usage() -> list[x509.ObjectIdentifier]:
    return [ExtendedKeyUsageOID.TIME_STAMPING]


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def key_to_asn1(key: rsa.RSAPrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return asn1_keys.PrivateKeyInfo.load(der)


def load_pem_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    return [
        asn1_x509.Certificate.load(der)
        for kind, _, der in asn1_pem.unarmor(data, multiple=True)
        if kind == "CERTIFICATE"
    ]


# --- signing ---------------------------------------------------------------------------------


def _outside_event_loop(call: Callable[[], T]) -> T:
    """pyHanko's synchronous calls run their own event loop (``asyncio.run``), which cannot
    start in a thread whose loop is already running: such a caller gets a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def sign_pdf(
    pdf: bytes,
    *,
    reason: str,
    box: tuple[float, float, float, float] | None = None,
    page: int = 0,
    material: SigningMaterial | None = None,
) -> bytes:
    """``pdf`` with a PAdES signature (an incremental update); visible over ``box`` (points,
    origin bottom left) when given, with a timestamp when a TSA is configured."""
    material = material or signing_material()
    timestamper = RequestsHTTPTimeStamper(material.tsa_url) if material.tsa_url else None
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location="重庆",
        use_pades_lta=False,
    )
    field_spec = fields.SigFieldSpec(
        SIGNATURE_FIELD,
        on_page=page,
        box=tuple(round(edge) for edge in box) if box else None,  # type: ignore[arg-type]
    )
    style, text_params = stamp_style(stamp_signer(material.signer.signing_cert))
    pdf_signer = signers.PdfSigner(
        metadata,
        signer=material.signer,
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=field_spec,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    try:
        out = _outside_event_loop(
            lambda: pdf_signer.sign_pdf(writer, appearance_text_params=text_params)
        )
    except (TimestampRequestError, RequestException) as error:
        raise SigningUnavailable(
            f"the timestamp authority {material.tsa_url} did not answer: {error}",
            "时间戳服务暂时无法访问，请稍后再下载。",
        ) from error
    return out.getvalue()


# --- the visible signature's text -----------------------------------------------------------

# The signer on a line of its own: the stamp sits on the seal, 40 mm square, and shrinks its
# text to fit the widest line.
STAMP_TEXT = "电子签章：\n%(signer)s\n时间：%(when)s"
STAMP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STAMP_FONT_SIZE = 10
# What the time may print: digits and the separators of STAMP_TIME_FORMAT.
_TIME_CHARACTERS = "0123456789-: "
# Without a CJK font: pyHanko's built-in Courier, which draws Latin letters only.
FALLBACK_STAMP_TEXT = "Digitally signed\n%(ts)s"


def stamp_signer(cert: asn1_x509.Certificate) -> str:
    """Who the stamp names: the organisation of the signing certificate, else its holder."""
    subject = cert.subject.native
    return subject.get("organization_name") or subject.get("common_name") or describe(cert)


class _EmbeddedFont(FontEngineFactory):
    """pyHanko's OpenType engine over a font program held in memory: the subset
    ``cjk_fonts.font_subset`` cut, which pyHanko subsets once more to the glyphs drawn."""

    def __init__(self, program: bytes, size: int) -> None:
        self.program = program
        self.size = size

    def create_font_engine(self, writer, obj_stream=None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(self.program),
            font_size=self.size,
            obj_stream=obj_stream,
        )


_WARNED_NO_FONT = threading.Event()


def stamp_style(signer: str) -> tuple[stamp.TextStampStyle, dict[str, str]]:
    """The stamp's style and text parameters: Chinese in an embedded subset of the CJK font
    of the certificates, or, on a machine without one, the English text (and a warning in the
    log) rather than no signature. The time is Beijing time, as everything the learner sees."""
    characters = STAMP_TEXT.replace("%(signer)s", signer).replace("%(when)s", "")
    try:
        program = cjk_fonts.font_subset("sans", characters + _TIME_CHARACTERS)
        problem = "no CJK font installed (fonts-noto-cjk)"
    except Exception as error:  # a damaged font file must not stop a certificate's signature
        program = None
        problem = f"the CJK font could not be embedded ({error!r})"
    if program is None:
        if not _WARNED_NO_FONT.is_set():
            _WARNED_NO_FONT.set()
            log.warning("%s: the visible signature says 'Digitally signed' in English", problem)
        fallback = stamp.TextStampStyle(
            stamp_text=FALLBACK_STAMP_TEXT,
            border_width=0,
            background=None,
            timestamp_format="%Y-%m-%d %H:%M:%S %Z",
        )
        return fallback, {}
    style = stamp.TextStampStyle(
        stamp_text=STAMP_TEXT,
        border_width=0,
        background=None,
        text_box_style=TextBoxStyle(
            font=_EmbeddedFont(program, STAMP_FONT_SIZE),
            font_size=STAMP_FONT_SIZE,
            leading=STAMP_FONT_SIZE + 3,
            box_layout_rule=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins.uniform(3),
            ),
        ),
    )
    when = datetime.now(LOCAL_TZ).strftime(STAMP_TIME_FORMAT)
    return style, {"signer": signer, "when": when}


# --- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureCheck:
    """What the last signature of a PDF says."""

    signed: bool
    intact: bool = False  # the signed bytes are unchanged
    whole_file: bool = False  # nothing was appended after signing
    trusted: bool = False  # issued under one of our trust roots
    signer: str = ""
    signed_at: datetime | None = None
    timestamped: bool = False  # a timestamp token whose own signature is intact
    timestamp_trusted: bool = False  # ... and whose TSA chains to a configured TSA root
    timestamp_present: bool = False  # a token at all, intact or not
    title: str = ""  # the document title of the signed file

    @property
    def ours_and_unchanged(self) -> bool:
        return self.signed and self.intact and self.whole_file and self.trusted

    @property
    def timestamp_verdict(self) -> str:
        """trusted, untrusted (intact, but its authority is not one we trust), broken (the
        token's signature does not hold) or absent (the signer's own clock only)."""
        if not self.timestamp_present:
            return "absent"
        if not self.timestamped:
            return "broken"
        return "trusted" if self.timestamp_trusted else "untrusted"


class NotAPdf(ValueError):
    pass


def check_signature(data: bytes) -> SignatureCheck:
    """Raises ``NotAPdf`` when ``data`` cannot be read as a PDF."""
    if not data.lstrip()[:5] == b"%PDF-":
        raise NotAPdf("not a PDF")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as error:
        raise NotAPdf(str(error)) from error
    if not embedded:
        return SignatureCheck(signed=False)
    signature = embedded[-1]
    material = signing_material()
    context = ValidationContext(
        trust_roots=list(material.trust_roots),
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    # A timestamp is trusted only under the configured TSA roots (none: no timestamp is).
    tsa_context = ValidationContext(
        trust_roots=list(material.tsa_trust_roots),
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    try:
        status = _outside_event_loop(
            lambda: validate_pdf_signature(
                signature, context, ts_validation_context=tsa_context, skip_diff=True
            )
        )
    except (SigningError, PdfError, ValueError, KeyError, TypeError) as error:
        log.info("an uploaded PDF's signature could not be checked: %s", error)
        return SignatureCheck(signed=True)
    cert = status.signing_cert
    stamp_status = status.timestamp_validity
    timestamped = stamp_status is not None and stamp_status.intact and stamp_status.valid
    return SignatureCheck(
        signed=True,
        intact=bool(status.intact and status.valid),
        whole_file=status.coverage is SignatureCoverageLevel.ENTIRE_FILE,
        trusted=bool(status.trusted),
        signer=describe(cert) if cert is not None else "",
        signed_at=stamp_status.timestamp
        if timestamped and stamp_status
        else status.signer_reported_dt,
        timestamped=timestamped,
        timestamp_trusted=timestamped and bool(stamp_status and stamp_status.trusted),
        timestamp_present=stamp_status is not None,
        title=_document_title(reader),
    )


def _document_title(reader: PdfFileReader) -> str:
    try:
        info = reader.trailer_view.get("/Info")
        if info is None:
            return ""
        title = info.get_object().get("/Title")
        return str(title) if title is not None else ""
    except (PdfError, ValueError, KeyError, TypeError, AttributeError):
        return ""


def certificate_store(certs: list[asn1_x509.Certificate]) -> SimpleCertificateStore:
    return SimpleCertificateStore.from_certs(certs)
