"""What the export formats need to know beyond the entries themselves.

These come from the ``[formats]`` section of the posting-rules file (see
:mod:`worker.accounting.rules`); every field has a default that works for a first import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FormatOptions"]


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """Settings of the journal formats.

    ``account_codes`` maps an account name (as the posting rules produce it) to the code or
    number a target system wants (Xero's AccountCode, DATEV's Konto, NetSuite's account
    number); an account without a code is written by name, except in DATEV, which needs digits.
    """

    account_codes: dict[str, str] = field(default_factory=dict)
    #: Xero: the TaxRate name written on every line (Xero requires one).
    xero_tax_rate: str = "Tax Exempt"
    #: Xero: lines per file (Xero imports at most 300).
    xero_max_lines: int = 300
    #: DATEV: Beraternummer and Mandantennummer of the header.
    datev_consultant: int = 1001
    datev_client: int = 1
    #: DATEV: first month of the fiscal year (1 = January) and the account number length.
    datev_fiscal_year_start_month: int = 1
    datev_account_length: int = 4
    #: DATEV: a BU-Schlüssel per tax code of a line (``JournalLine.tax_code``); none by default.
    datev_tax_keys: dict[str, str] = field(default_factory=dict)
    #: NetSuite: the subsidiary written on every line ("" leaves the column empty).
    netsuite_subsidiary: str = ""
