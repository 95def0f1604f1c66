"""The one copy of each normalisation rule: text as compared, emails, case folding, id order.
Imports only the standard library.

Every layer that compares values or emails or orders ids calls these, so a rule changes in
one place. Text is compared in Unicode NFC (docs/decisions.md, "values compared as Lattice
stores them"): a name typed with a combining accent equals the same name precomposed.
"""

from __future__ import annotations

import re
import unicodedata

# Deliberately loose: one "@", no spaces, a dot in the domain. The target validates the rest;
# we only need to refuse values that cannot be a login identity at all.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

IdKey = tuple[int, int, str, str]


def nfc(text: str) -> str:
    """``text`` in Unicode NFC: canonically equivalent spellings (``"Tom\u00e1s"`` and
    ``"Toma\u0301s"``) become one string. ASCII, the common case, is returned as it is."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def clean_text(text: str) -> str | None:
    """A text value as the planner compares it: trimmed, NFC, and ``None`` when empty."""
    return nfc(text.strip()) or None


def fold(text: str) -> str:
    """Trimmed, case-folded and NFC: how emails and user names are compared everywhere."""
    return nfc(text.strip().casefold())


def is_email(text: str) -> bool:
    """Whether ``text`` (already trimmed) can be a login identity at all."""
    return _EMAIL.fullmatch(text) is not None


def normalise_email(value: object) -> str | None:
    """A folded email, or ``None`` when ``value`` is not text or cannot be an email."""
    if not isinstance(value, str):
        return None
    email = fold(value)
    return email if is_email(email) else None


def id_sort_key(source_id: str | None) -> IdKey:
    """Numeric-aware order: ``"9" < "10" < "abc"``; ``None`` last.

    Compares digit strings by length and then text, never through ``int()``: a 5,000-digit id
    must not hit Python's limit on converting long digit strings.
    """
    if source_id is None:
        return (2, 0, "", "")
    if source_id.isascii() and source_id.isdigit():
        digits = source_id.lstrip("0")
        return (0, len(digits), digits, source_id)
    return (1, 0, source_id, source_id)
