"""Plain-text accounting: beancount and hledger journals.

Both are written in one pass over the entries. The accounts (and, for hledger, the
commodities) they use are collected on the way, a small set, and declared at the end of the
file: both tools read declarations anywhere in the file (beancount sorts directives by date and
puts an ``open`` before the transactions of its day; hledger 1.25 accepts ``account`` and
``commodity`` declarations after use).

**beancount** (``bean-check`` clean)::

    2025-01-31 * "Amazon Business" "Office chairs" ^T-1
      entry_id: "E-1"
      kind: "charge"
      transaction_id: "T-1"
      invoice: "INV-1"
      Expenses:Office-Supplies  100.00 USD
        memo: "2 chairs"
      Liabilities:CreditCard:1234  -100.00 USD

  ...

    2025-01-01 open Expenses:Office-Supplies
      name: "Expenses:Office Supplies"

Entry metadata: ``entry_id``, ``kind``, and when set ``transaction_id``, ``invoice``,
``order``, ``pdf`` (lists joined with ``;``), ``match``, ``employee`` and ``rate`` (an amount
in the company currency); posting metadata: ``memo``, ``party``, ``tax_code``. hledger gets
the same as tags (one tag per transaction id, invoice, order and PDF).

Links are the transaction ids made link-safe (characters other than letters, digits and
``-_/.`` become ``-``); the exact ids are in the ``transaction_id`` metadata. Strings are
escaped (``\\`` and ``"``) and kept on one line (control characters become spaces). The
``open`` directives are dated the earliest entry date.

Beancount account names are strict (``Root:Component...``, each component starting with a
capital letter or a digit, then letters, digits and ``-``), so every account name is mapped
deterministically (:func:`beancount_account`):

1. the name is split at ``:`` (empty parts dropped);
2. if the first part is a beancount root (``Assets``, ``Liabilities``, ``Equity``, ``Income``,
   ``Expenses``, any case, also ``Asset``, ``Liability``, ``Expense``, ``Revenue(s)``) it
   becomes that root; otherwise a root is put in front, chosen by the role of the line on which
   the account first appears: ``payment`` -> ``Liabilities``, ``tax`` -> ``Assets``, any other
   role -> ``Expenses``;
3. each other part is transliterated to ASCII (accents dropped, ``ß`` -> ``ss``), every run of
   characters other than letters and digits becomes one ``-``, leading and trailing ``-`` are
   dropped and the first letter is capitalised; a part left empty (a name in another script)
   becomes ``X`` and the CRC-32 of the original part in hex;
4. a root alone gets the component ``General``.

An ``open`` whose name differs from the original account carries the original(s) as ``name``
metadata. Two names that differ only in punctuation map to the same beancount account.

**hledger** (``hledger check --strict`` clean)::

    2025-01-31 * Amazon Business | Office chairs
        ; entry_id: E-1
        ; kind: charge
        ; transaction_id: T-1
        Expenses:Office Supplies  100.00 USD  ; memo: 2 chairs
        Liabilities:CreditCard:1234  -100.00 USD

    account Expenses:Office Supplies
    commodity 1000.00 USD

Account names keep their text (:func:`hledger_account`): control characters (tabs, line
breaks) become spaces, runs of spaces become one (two spaces end an account name in hledger),
and a name starting with ``(``, ``[`` (virtual postings), ``;``, ``#``, ``*`` or ``!``
(comments and status marks) gets a leading ``_``. In descriptions ``;`` (a comment start)
becomes ``,``, a payee's ``|`` becomes ``/`` and a leading ``(`` (a transaction code) gets a
``_``; tag values lose commas (a comma ends a tag value) and line breaks. Commodities are the
currency codes, quoted when not all letters; each is declared with its minor units.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TextIO

from worker.accounting.journal import JournalEntry, JournalError, JournalLine
from worker.formats.atomic import atomic_text
from worker.formats.cells import decimal_text, minor_units, one_line
from worker.formats.common import ExportResult, Tally
from worker.formats.options import FormatOptions

__all__ = [
    "beancount_account",
    "hledger_account",
    "write_beancount",
    "write_hledger",
]

_ROOTS = {
    "assets": "Assets",
    "asset": "Assets",
    "liabilities": "Liabilities",
    "liability": "Liabilities",
    "equity": "Equity",
    "income": "Income",
    "revenue": "Income",
    "revenues": "Income",
    "expenses": "Expenses",
    "expense": "Expenses",
}
_ROLE_ROOTS = {"payment": "Liabilities", "tax": "Assets"}
_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE",
     "þ": "th", "Þ": "TH", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ı": "i"}
)  # fmt: skip
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_NOT_LINK = re.compile(r"[^A-Za-z0-9\-_/.]")
_BEAN_CURRENCY = re.compile(r"[A-Z][A-Z0-9'._-]{0,22}[A-Z0-9]")
_SPACES = re.compile(r"\s+")
_HLEDGER_UNSAFE_START = ("(", "[", ";", "#", "*", "!")
_LETTERS = re.compile(r"[A-Za-z]+")


# ---------------------------------------------------------------------------------------------
# beancount
# ---------------------------------------------------------------------------------------------


def _bean_component(part: str) -> str:
    text = unicodedata.normalize("NFKD", part.translate(_TRANSLITERATE))
    ascii_text = text.encode("ascii", "ignore").decode("ascii")
    cleaned = _NOT_ALNUM.sub("-", ascii_text).strip("-")
    if not cleaned:
        return f"X{zlib.crc32(part.encode('utf-8')):08X}"
    return cleaned[0].upper() + cleaned[1:]


def beancount_account(account: str, role: str = "expense") -> str:
    """The beancount account name of ``account`` (the rule is in the module docstring)."""
    parts = [part for part in account.split(":") if part.strip()]
    head = re.sub(r"[^a-z]", "", parts[0].lower()) if parts else ""
    if head in _ROOTS:
        root, rest = _ROOTS[head], parts[1:]
    else:
        root, rest = _ROLE_ROOTS.get(role, "Expenses"), parts
    components = [_bean_component(part) for part in rest] or ["General"]
    return ":".join([root, *components])


def _bean_string(text: str) -> str:
    return '"' + one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bean_currency(entry: JournalEntry, currency: str) -> str:
    if not _BEAN_CURRENCY.fullmatch(currency):
        raise JournalError(
            f"entry {entry.entry_id}: currency {currency!r} is not a beancount commodity"
            " (capital letters, e.g. USD)"
        )
    return currency


class _BeanAccounts:
    """The accounts met so far: original name -> beancount name, and the reverse for ``open``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.originals: dict[str, list[str]] = {}

    def name(self, line: JournalLine) -> str:
        found = self.names.get(line.account)
        if found is None:
            found = beancount_account(line.account, line.role)
            self.names[line.account] = found
            self.originals.setdefault(found, []).append(line.account)
        return found


def write_beancount(
    entries: Iterable[JournalEntry], out: Path, options: FormatOptions
) -> ExportResult:
    """Write ``entries`` to ``out`` as a beancount ledger (atomically, streaming)."""
    del options  # beancount uses account names
    tally = Tally()
    accounts = _BeanAccounts()
    first: date | None = None
    with atomic_text(out) as stream:
        stream.write("; Journal entries exported by abrecon (beancount).\n")
        for entry in tally.each(entries):
            if first is None or entry.date < first:
                first = entry.date
            _bean_entry(stream, entry, accounts)
        if first is not None:
            stream.write("\n")
            for name in sorted(accounts.originals):
                stream.write(f"{first.isoformat()} open {name}\n")
                originals = [o for o in accounts.originals[name] if o != name]
                if originals:
                    stream.write(f"  name: {_bean_string('; '.join(originals))}\n")
    return tally.result(out)


def _bean_entry(stream: TextIO, entry: JournalEntry, accounts: _BeanAccounts) -> None:
    currency = _bean_currency(entry, entry.currency)
    links: dict[str, None] = {}
    for transaction_id in entry.transaction_ids:
        link = _NOT_LINK.sub("-", transaction_id)
        if link:
            links["^" + link] = None
    for tag in entry.tags:
        tag_text = _NOT_LINK.sub("-", tag)
        if tag_text:
            links["#" + tag_text] = None
    head = f"{entry.date.isoformat()} * {_bean_string(entry.payee)} {_bean_string(entry.narration)}"
    parts = [" ".join([head, *links]), f"  entry_id: {_bean_string(entry.entry_id)}"]
    parts.append(f"  kind: {_bean_string(entry.kind)}")
    meta = (
        ("transaction_id", ";".join(entry.transaction_ids)),
        ("invoice", ";".join(entry.invoice_numbers)),
        ("order", ";".join(entry.order_ids)),
        ("pdf", ";".join(entry.pdf_paths)),
        ("match", entry.match_id),
        ("employee", entry.employee),
    )
    parts.extend(f"  {key}: {_bean_string(value)}" for key, value in meta if value)
    if entry.rate is not None and _BEAN_CURRENCY.fullmatch(entry.company_currency):
        parts.append(f"  rate: {format(entry.rate, 'f')} {entry.company_currency}")
    for line in entry.lines:
        amount = decimal_text(line.signed, currency)
        parts.append(f"  {accounts.name(line)}  {amount} {currency}")
        line_meta = (("memo", line.memo), ("party", line.party), ("tax_code", line.tax_code))
        parts.extend(f"    {key}: {_bean_string(value)}" for key, value in line_meta if value)
    stream.write("\n" + "\n".join(parts) + "\n")


# ---------------------------------------------------------------------------------------------
# hledger
# ---------------------------------------------------------------------------------------------


def hledger_account(account: str) -> str:
    """The hledger account name of ``account`` (the rule is in the module docstring)."""
    name = _SPACES.sub(" ", one_line(account)).strip()
    if not name or name.startswith(_HLEDGER_UNSAFE_START):
        name = "_" + name
    return name


def _hledger_commodity(entry: JournalEntry) -> str:
    currency = entry.currency
    if _LETTERS.fullmatch(currency):
        return currency
    if not currency or '"' in currency or currency != one_line(currency):
        raise JournalError(f"entry {entry.entry_id}: currency {currency!r} cannot be written")
    return f'"{currency}"'


#: hledger reads ``[...]`` in a comment as a posting date, so brackets become parentheses.
_BRACKETS = str.maketrans("[]", "()")


def _tag_value(text: str) -> str:
    """A tag value hledger reads back as written: one line, no ``,`` (it ends a tag), no ``[]``."""
    return _SPACES.sub(" ", one_line(text).replace(",", ";").translate(_BRACKETS)).strip()


def _description_text(text: str) -> str:
    return _SPACES.sub(" ", one_line(text).replace(";", ",")).strip()


def write_hledger(
    entries: Iterable[JournalEntry], out: Path, options: FormatOptions
) -> ExportResult:
    """Write ``entries`` to ``out`` as an hledger journal (atomically, streaming)."""
    del options  # hledger uses account names
    tally = Tally()
    accounts: dict[str, str] = {}  # account -> hledger name, for the declarations
    commodities: dict[str, int] = {}
    with atomic_text(out) as stream:
        stream.write("; Journal entries exported by abrecon (hledger).\n")
        for entry in tally.each(entries):
            _hledger_entry(stream, entry, accounts, commodities)
        if accounts:
            stream.write("\n")
            stream.writelines(f"account {name}\n" for name in sorted(set(accounts.values())))
            for symbol in sorted(commodities):
                places = commodities[symbol]
                stream.write(f"commodity 1000.{'0' * places} {symbol}\n")
    return tally.result(out)


def _hledger_entry(
    stream: TextIO,
    entry: JournalEntry,
    accounts: dict[str, str],
    commodities: dict[str, int],
) -> None:
    symbol = _hledger_commodity(entry)
    commodities.setdefault(symbol, minor_units(entry.currency))
    payee = _description_text(entry.payee).replace("|", "/")
    narration = _description_text(entry.narration)
    if payee and narration:
        description = f"{payee} | {narration}"
    else:
        description = (payee or narration).replace("|", "/")
    if description.startswith("("):  # would be read as a transaction code
        description = "_" + description
    parts = [f"{entry.date.isoformat()} * {description}".rstrip()]
    tags = [("entry_id", entry.entry_id), ("kind", entry.kind)]
    tags.extend(("transaction_id", value) for value in entry.transaction_ids)
    tags.extend(("invoice", value) for value in entry.invoice_numbers)
    tags.extend(("order", value) for value in entry.order_ids)
    tags.extend(("pdf", value) for value in entry.pdf_paths)
    tags.extend((("match", entry.match_id), ("employee", entry.employee)))
    if entry.rate is not None and entry.company_currency:
        tags.append(("rate", f"{format(entry.rate, 'f')} {entry.company_currency}"))
    tags.extend(("tag", value) for value in entry.tags)
    parts.extend(f"    ; {key}: {_tag_value(value)}" for key, value in tags if value)
    for line in entry.lines:
        name = accounts.get(line.account)
        if name is None:
            name = accounts[line.account] = hledger_account(line.account)
        posting = f"    {name}  {decimal_text(line.signed, entry.currency)} {symbol}"
        notes = (("memo", line.memo), ("party", line.party), ("tax_code", line.tax_code))
        comment = ", ".join(f"{key}: {_tag_value(value)}" for key, value in notes if value)
        parts.append(f"{posting}  ; {comment}" if comment else posting)
    stream.write("\n" + "\n".join(parts) + "\n")
