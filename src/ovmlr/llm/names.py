"""Matching the category names an LLM writes against the names listed in its prompt.

A written name matches a listed one when they agree after, in order of preference: case folding and
whitespace collapsing; then also dropping quotes, brackets and trailing punctuation; then also ignoring
plurals and any non-alphanumeric character (``"T shirts/top"`` → ``T-shirt/top``). A key shared by two
listed names is ambiguous and matches neither.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_QUOTES = "\"'`\u201c\u201d\u2018\u2019*_[]<>"
_WORD = re.compile(r"[0-9a-z]+")


def casefold_name(text: str) -> str:
    """Unicode-normalised, case-folded, whitespace-collapsed ``text``."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def clean_name(text: str) -> str:
    """:func:`casefold_name` without surrounding quotes, brackets, markdown and trailing punctuation."""
    name = casefold_name(text).strip(_QUOTES + " ").rstrip(".,;:!?").strip(_QUOTES + " ")
    return name.removeprefix("the ").strip()


def singular(word: str) -> str:
    """A crude English singular of one lower-case word (``boots`` → ``boot``, ``berries`` → ``berry``)."""
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def loose_key(text: str) -> str:
    """Alphanumeric words of :func:`clean_name`, each singular, concatenated (plural/punctuation-blind)."""
    return "".join(singular(word) for word in _WORD.findall(clean_name(text)))


class NameMatcher:
    """Finds which listed name a written name means.

    Args:
        names: The names listed in the prompt (canonical spelling, as returned by :meth:`match`).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._levels = [self._index(key) for key in (casefold_name, clean_name, loose_key)]

    def _index(self, key) -> dict[str, str | None]:
        index: dict[str, str | None] = {}
        for name in self.names:
            k = key(name)
            index[k] = name if index.get(k, name) == name else None  # None marks an ambiguous key
        return index

    def match(self, written: str) -> str | None:
        """The listed name ``written`` means, or ``None`` when it is not (unambiguously) listed."""
        for key, index in zip((casefold_name, clean_name, loose_key), self._levels, strict=True):
            k = key(written)
            if k and k in index:
                return index[k]
        return None

    def __repr__(self) -> str:
        return f"NameMatcher({len(self.names)} names)"
