"""A small RFC 3161 timestamp authority for tests and development.

It answers ``POST /`` with ``Content-Type: application/timestamp-query`` as a real TSA does:
a DER ``TimeStampReq`` in, a DER ``TimeStampResp`` out, signed by a TSA certificate (extended
key usage ``timeStamping``) under its own CA. pyHanko's ``DummyTimeStamper`` builds the
token; every request is counted so tests can see it was called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from services.paperwork import signing

CONTENT_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TimestampAuthority:
    """A WSGI app; ``ca_cert`` is the root a validator must trust for its tokens."""

    def __init__(self) -> None:
        _, ca_cert, key, cert = signing.issue_test_pki(
            signer_common_name="Simulator TSA", extended_usage=signing.timestamping_usage()
        )
        self.ca_cert: asn1_x509.Certificate = signing.to_asn1(ca_cert)
        self.cert: asn1_x509.Certificate = signing.to_asn1(cert)
        self._stamper = DummyTimeStamper(
            tsa_cert=self.cert,
            tsa_key=signing.key_to_asn1(key),
            certs_to_embed=signing.certificate_store([self.cert, self.ca_cert]),
        )
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", "text/plain", b"POST only")
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != CONTENT_TYPE:
            return _answer(start_response, "415 Unsupported Media Type", "text/plain", b"")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(length, 64 * 1024))
        try:
            request = tsp.TimeStampReq.load(body)
            _ = request.native  # parse it all now: a malformed request is refused here
        except ValueError:
            return _answer(start_response, "400 Bad Request", "text/plain", b"bad request")
        response = self._stamper.request_tsa_response(request)
        with self._lock:
            self.requests += 1
        return _answer(start_response, "200 OK", REPLY_TYPE, response.dump())


def _answer(start_response: Callable[..., Any], status: str, kind: str, body: bytes):
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
