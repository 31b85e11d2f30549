"""Logging: one format for every process, and no resident ID number, mobile number or console
search ever reaches a log.

Every record of the process is masked as it is formatted into text (``MaskingLogRecord``,
installed as the record factory): ours, Flask's and Werkzeug's, and gunicorn's access log,
whose request lines carry query strings. The console's searches are GET forms; their ``q=``
is masked in any logged URL, since it may hold a name. The database engine is told to keep
statement parameters out of its errors (``hide_parameters``, wxapp/config.py), and
``MaskingFormatter`` masks tracebacks too.
"""

from __future__ import annotations

import logging
import re

from flask import Flask

# 17 digits and a check character, not part of a longer run of digits.
_ID_NUMBER = re.compile(r"(?<![0-9])([1-9][0-9]{2})[0-9]{11}([0-9]{3}[0-9Xx])(?![0-9Xx])")
# A mainland mobile number, not part of a longer run of digits.
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")
# A search term in a logged URL (``?q=…`` or ``&q=…``).
_SEARCH_TERM = re.compile(r"(?<=[?&])q=[^&\s\"']*")


def mask_id_numbers(text: str) -> str:
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * 11 + m.group(2), text)


def mask_personal_data(text: str) -> str:
    """ID numbers, mobile numbers and URL search terms, masked."""
    text = mask_id_numbers(text)
    text = _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    return _SEARCH_TERM.sub("q=***", text)


class MaskingLogRecord(logging.LogRecord):
    """Every handler, including ones added later (test capture, Sentry), sees masked text."""

    def getMessage(self) -> str:  # noqa: N802 - logging's own name
        return mask_personal_data(super().getMessage())


class MaskingFormatter(logging.Formatter):
    """Masks tracebacks too (database errors quote the offending row)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_data(super().format(record))


def configure_logging(app: Flask) -> None:
    logging.setLogRecordFactory(MaskingLogRecord)
    level = getattr(logging, str(app.config.get("LOG_LEVEL") or "INFO").upper(), logging.INFO)
    root = logging.getLogger()
    if not any(getattr(h, "_gx_handler", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._gx_handler = True  # type: ignore[attr-defined]
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for noisy in ("urllib3", "requests", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))
    # fontTools reports every table of every font subset at INFO (the signature's stamp).
    logging.getLogger("fontTools").setLevel(max(level, logging.WARNING))
