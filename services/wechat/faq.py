"""Keyword answers of the official account, read from ``faq.toml`` beside this module."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FAQ_FILE = Path(__file__).with_name("faq.toml")
# Longer texts are questions for a person, not keyword lookups.
MAX_KEYWORD_TEXT = 30


@dataclass(frozen=True)
class FaqEntry:
    keywords: tuple[str, ...]
    answer: str
    click: str | None = None


@dataclass(frozen=True)
class Faq:
    entries: tuple[FaqEntry, ...]
    transfer_keywords: tuple[str, ...]
    transfer_whole: tuple[str, ...]
    help: str
    welcome: str

    def for_click(self, key: str) -> FaqEntry | None:
        return next((entry for entry in self.entries if entry.click == key), None)


@lru_cache
def load_faq(path: Path = FAQ_FILE) -> Faq:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return Faq(
        entries=tuple(
            FaqEntry(tuple(item["keywords"]), item["answer"].strip(), item.get("click"))
            for item in data["entry"]
        ),
        transfer_keywords=tuple(data["transfer"]["keywords"]),
        transfer_whole=tuple(data["transfer"].get("whole", ())),
        help=data["help"]["answer"].strip(),
        welcome=data["welcome"]["answer"].strip(),
    )


def normalise(text: str) -> str:
    """Full-width letters and digits as half-width, no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).lower()


def _longest_match(text: str, keywords: tuple[str, ...]) -> int:
    return max((len(k) for k in keywords if normalise(k) in text), default=0)


def wants_agent(faq: Faq, text: str) -> bool:
    clean = normalise(text).strip("。.!！?？")
    if not clean or len(clean) > MAX_KEYWORD_TEXT:
        return False
    return clean in {normalise(word) for word in faq.transfer_whole} or (
        _longest_match(clean, faq.transfer_keywords) > 0
    )


def match(faq: Faq, text: str) -> FaqEntry | None:
    """The entry whose keyword the text contains; the longest keyword wins."""
    clean = normalise(text)
    if not clean or len(clean) > MAX_KEYWORD_TEXT:
        return None
    best, best_length = None, 0
    for entry in faq.entries:
        length = _longest_match(clean, entry.keywords)
        if length > best_length:
            best, best_length = entry, length
    return best


def fill(answer: str, base_url: str) -> str:
    return answer.replace("{base}", base_url)
