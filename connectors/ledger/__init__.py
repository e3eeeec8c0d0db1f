"""Ledger sources: the company's books as :class:`LedgerEntry` values, from CSV files.

* :func:`read_ledger` reads the canonical CSV layout, or any other layout that a
  :class:`Mapping` (usually a TOML file read with :func:`load_mapping`) describes;
* :class:`LedgerError` names the file, line, column and value of anything that cannot be read,
  and :class:`MappingError` the file and key of a mapping that does not describe a layout.

Parsing only: storing entries (all or nothing, keyed by ``entry_id``) is the store's job.
"""

from connectors.ledger.mapping import Columns, Mapping, MappingError, load_mapping, parse_mapping
from connectors.ledger.model import LedgerEntry, LedgerError
from connectors.ledger.reader import CANONICAL_HEADER, read_ledger

__all__ = [
    "CANONICAL_HEADER",
    "Columns",
    "LedgerEntry",
    "LedgerError",
    "Mapping",
    "MappingError",
    "load_mapping",
    "parse_mapping",
    "read_ledger",
]
