"""Security headers on every answer: Flask's pages and JSON, private files, the study ingest
app and the simulator alike (a WSGI middleware around all of them, see ``compose_wsgi``).

The Content-Security-Policy allows scripts and styles from our own origin only, never inline
ones: page scripts live in ``static/js/*.js`` and take their data from ``data-*`` attributes,
styles live in ``static/css``. ``tests/handlers/test_security_headers.py`` reads every
template and fails on an inline script, an ``on…=`` handler, a ``javascript:`` URL or an
inline style, so a page added later cannot slip one in. Pages are framed only by our own
origin (the development simulator shows the H5 pages in a frame of its chat page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Chapter media and pictures may come from a CDN (absolute URLs in the catalogue).
        "img-src 'self' data: blob: https:",
        "media-src 'self' blob: https:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'self'",
    )
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    # WeChat Pay's H5 payment checks that the Referer names our domain: the origin is sent
    # across sites, never a path (which may hold an order or a search).
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response that does not set them itself."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            present = {name.lower() for name, _ in headers}
            headers.extend(
                (name, value) for name, value in SECURITY_HEADERS if name.lower() not in present
            )
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_headers)
