"""Static files for a phone network: versioned URLs cached for a year, and text answers
(pages, CSS, JS, JSON, SVG) compressed with gzip when the browser accepts it.

``url_for("static", filename=...)`` adds ``v=`` (a hash of the file's bytes), so a changed
file has a new URL and a browser may keep each URL for a year (``immutable``) without asking
again; without ``v`` a static file is revalidated every time. The compressed bytes of a
static file are kept in memory per version; pages are compressed as they are sent.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

YEAR = 365 * 24 * 3600
COMPRESSIBLE = {
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "application/javascript",
    "text/javascript",
    "application/json",
    "image/svg+xml",
}
MIN_SIZE = 512  # below this the gzip header costs more than it saves
GZIP_LEVEL = 6


class StaticVersions:
    """The version of each static file: a hash of its bytes, read again when it changes."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self._known: dict[str, tuple[float, str]] = {}
        self._compressed: dict[tuple[str, str], bytes] = {}

    def version(self, filename: str) -> str | None:
        path = self.folder / filename
        try:
            stamp = path.stat().st_mtime
        except OSError:
            return None
        known = self._known.get(filename)
        if known is None or known[0] != stamp:
            known = (stamp, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
            self._known[filename] = known
        return known[1]

    def compressed(self, filename: str, version: str, data: bytes) -> bytes:
        key = (filename, version)
        if key not in self._compressed:
            self._compressed[key] = gzip.compress(data, GZIP_LEVEL, mtime=0)
        return self._compressed[key]


def init_app(app: Flask) -> None:
    versions = StaticVersions(app.static_folder or "static")
    app.extensions["static_versions"] = versions

    def favicon() -> Response:
        """Browsers ask for /favicon.ico whatever the page names: the same small SVG."""
        response = app.send_static_file("favicon.svg")
        response.headers["Cache-Control"] = f"public, max-age={7 * 24 * 3600}"
        return response

    app.add_url_rule("/favicon.ico", "favicon", favicon)

    @app.url_defaults
    def version_static_urls(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = versions.version(values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def cache_and_compress(response: Response) -> Response:
        static = request.endpoint == "static"
        filename = (request.view_args or {}).get("filename", "")
        if static and request.args.get("v") and request.args["v"] == versions.version(filename):
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        return _compress(response, versions if static else None)


def _compress(response: Response, versions: StaticVersions | None) -> Response:
    if (
        response.status_code != 200
        or response.mimetype not in COMPRESSIBLE
        or "Content-Encoding" in response.headers
        or (response.is_streamed and not response.direct_passthrough)
        or "gzip" not in request.headers.get("Accept-Encoding", "")
    ):
        return response
    response.vary.add("Accept-Encoding")
    if response.content_length is not None and response.content_length < MIN_SIZE:
        return response
    source = response.response
    response.direct_passthrough = False  # a static file: read it to compress it
    data = response.get_data()
    close = getattr(source, "close", None)
    if close is not None:
        close()  # the file under it; the response now holds its bytes
    if len(data) < MIN_SIZE:
        return response
    filename = (request.view_args or {}).get("filename", "")
    version = versions.version(filename) if versions is not None else None
    if versions is not None and version:
        body = versions.compressed(filename, version, data)
    else:
        body = gzip.compress(data, GZIP_LEVEL, mtime=0)
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    if response.headers.get("ETag"):
        etag, weak = response.get_etag()
        if etag:
            response.set_etag(etag + "-gzip", weak=bool(weak))
    return response
