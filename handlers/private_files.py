"""Answering with a file kept under the storage folder, to the one person allowed to see it."""

from __future__ import annotations

from flask import Response, send_file

from services import stored_files


def send_private(
    relative: str, mimetype: str, *, download_name: str | None = None, as_attachment: bool = False
) -> Response:
    """The stored file, which no shared cache (proxy, CDN) may keep: it is one person's."""
    response = send_file(
        stored_files.resolve(relative),
        mimetype=mimetype,
        as_attachment=as_attachment,
        download_name=download_name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
