"""Files the platform keeps under ``STORAGE_DIR`` (outside the web root).

Rows store paths relative to the storage folder; files are written to a temporary name and
renamed into place, so a reader never sees half a file and two writers never mix theirs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import TypeGuard

from flask import current_app


def storage_root() -> Path:
    return Path(current_app.config["STORAGE_DIR"]).resolve()


def resolve(relative: str) -> Path:
    """The absolute path of a stored file; refuses anything outside the storage folder."""
    root = storage_root()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"stored path escapes the storage folder: {relative!r}")
    return path


def write(relative: str, data: bytes) -> str:
    path = resolve(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return relative


def write_new(folder: str, suffix: str, data: bytes) -> str:
    """Store under a fresh unguessable name; returns the relative path."""
    return write(f"{folder}/{secrets.token_urlsafe(18)}{suffix}", data)


def exists(relative: str | None) -> TypeGuard[str]:
    """Whether the row's path names a stored file (so, to the type checker, that it is set)."""
    if not relative:
        return False
    return resolve(relative).is_file()


def read(relative: str) -> bytes:
    return resolve(relative).read_bytes()
