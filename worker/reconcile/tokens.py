"""Whole-token reference search in ledger text.

A ledger line "quotes" a reference when the reference appears in its text as a whole token:
``AMAZON BUSINESS ORDER 112-1234567-7654321 (2 SHIPMENTS)`` quotes the order id
``112-1234567-7654321`` but not ``1234567`` (a piece of a longer token), and
``INV-10023`` does not quote ``INV-1002``. A token is a run of letters and digits, joined by
single inner ``-``, ``_``, ``/`` or ``.`` characters, so identifiers keep their punctuation
while spaces, brackets, ``*``, ``#``, commas and trailing dots separate them
(``AMAZON MKTPL*2K4AB12C3`` has the tokens ``AMAZON``, ``MKTPL`` and ``2K4AB12C3``). A
reference that itself contains separators (``PO 4711``) is a token sequence and must appear
consecutively.
"""

from __future__ import annotations

import re

__all__ = ["ASCII_TOKEN", "TOKEN", "tokenize"]

#: One token: letters or digits, optionally joined by single inner punctuation.
TOKEN = re.compile(r"[^\W_]+(?:[-_/.][^\W_]+)*")
#: The same on upper-case ASCII text (where it finds exactly what :data:`TOKEN` finds), faster.
ASCII_TOKEN = re.compile(r"[0-9A-Z]+(?:[-_/.][0-9A-Z]+)*")


def tokenize(text: str) -> list[str]:
    """The tokens of ``text``, upper-cased, in order."""
    text = text.upper()
    return ASCII_TOKEN.findall(text) if text.isascii() else TOKEN.findall(text)
