"""Key material for WeChat Pay APIv3 in public-key mode and for Alipay (RSA2), made locally for
development and tests.

A real merchant gets three things from WeChat Pay: its own API key pair (the private key signs
our requests; WeChat Pay knows the public key by the certificate serial), the platform's public
key with its id (it verifies what WeChat Pay sends us), and the APIv3 key (AES-256-GCM for the
notification resource). Development needs both sides of those keys without a manual step: they
are generated once into ``instance/`` and read from there by the configuration and by the
simulator. Tests generate their own.

Alipay's are two RSA key pairs: the application's (its private key signs our requests; Alipay
holds the public key) and Alipay's (its public key checks Alipay's answers and notifications).
A WeChat Pay platform certificate (the mode before public keys) is made for tests of the
migration week, when WeChat Pay signs with either.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_KEY_FILE = "wechat-pay-keys.json"
_ALIPAY_KEY_FILE = "alipay-keys.json"


@dataclass(frozen=True)
class PayKeys:
    merchant_private_key: str  # PEM; signs our requests and the JSAPI paySign
    merchant_public_key: str  # PEM; WeChat Pay (the simulator) verifies with it
    merchant_serial: str  # the merchant API certificate's serial number
    platform_private_key: str  # PEM; only the simulator holds it
    platform_public_key: str  # PEM; we verify WeChat Pay's responses and notifications
    public_key_id: str  # sent as Wechatpay-Serial with everything the platform key signs
    apiv3_key: str  # 32 characters

    def platform_config(self) -> dict[str, str]:
        """The ``WECHAT_PAY_*`` settings of the platform that these keys belong to."""
        return {
            "WECHAT_PAY_PRIVATE_KEY": self.merchant_private_key,
            "WECHAT_PAY_CERT_SERIAL": self.merchant_serial,
            "WECHAT_PAY_APIV3_KEY": self.apiv3_key,
            "WECHAT_PAY_PUBLIC_KEY": self.platform_public_key,
            "WECHAT_PAY_PUBLIC_KEY_ID": self.public_key_id,
        }


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def generate_pay_keys() -> PayKeys:
    merchant_private, merchant_public = _key_pair()
    platform_private, platform_public = _key_pair()
    alphabet = string.ascii_letters + string.digits
    return PayKeys(
        merchant_private_key=merchant_private,
        merchant_public_key=merchant_public,
        merchant_serial=secrets.token_hex(20).upper(),
        platform_private_key=platform_private,
        platform_public_key=platform_public,
        public_key_id="PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(28)),
        apiv3_key="".join(secrets.choice(alphabet) for _ in range(32)),
    )


@dataclass(frozen=True)
class AlipayKeys:
    app_private_key: str  # PEM; signs our requests
    app_public_key: str  # PEM; Alipay (the simulator) verifies with it
    alipay_private_key: str  # PEM; only the simulator holds it
    alipay_public_key: str  # PEM; we verify Alipay's answers and notifications

    def platform_config(self) -> dict[str, str]:
        """The ``ALIPAY_*`` keys of the application these keys belong to."""
        return {
            "ALIPAY_PRIVATE_KEY": self.app_private_key,
            "ALIPAY_PUBLIC_KEY": self.alipay_public_key,
        }


def generate_alipay_keys() -> AlipayKeys:
    app_private, app_public = _key_pair()
    alipay_private, alipay_public = _key_pair()
    return AlipayKeys(app_private, app_public, alipay_private, alipay_public)


@dataclass(frozen=True)
class PlatformCertificate:
    """A WeChat Pay platform certificate (平台证书) and its key, as in certificate mode."""

    private_key: str  # PEM; only the simulator holds it
    certificate: str  # PEM; WECHAT_PAY_PLATFORM_CERT
    serial: str  # upper-case hex, as Wechatpay-Serial carries it


def generate_platform_certificate() -> PlatformCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (simulated)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return PlatformCertificate(
        private_key=private_pem,
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        serial=format(certificate.serial_number, "X"),
    )


def load_or_create_pay_keys(directory: Path) -> PayKeys:
    """The development WeChat Pay keys in ``directory``, generated on first use."""
    return PayKeys(**_load_or_create(directory / _KEY_FILE, lambda: asdict(generate_pay_keys())))


def load_or_create_alipay_keys(directory: Path) -> AlipayKeys:
    """The development Alipay keys in ``directory``, generated on first use."""
    return AlipayKeys(
        **_load_or_create(directory / _ALIPAY_KEY_FILE, lambda: asdict(generate_alipay_keys()))
    )


def _load_or_create(path: Path, make) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    keys = make()
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(keys, indent=2))
    temporary.chmod(0o600)
    # Another process may have won the race; keep whichever file landed first.
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return json.loads(path.read_text())
