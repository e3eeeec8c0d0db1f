r"""Posting rules: which accounts an Amazon Business purchase is booked to.

A *rules file* (TOML) says where each part of a purchase goes. Every key is optional: with no
file at all, :data:`DEFAULT_RULES` posts every purchase to ``Expenses:Amazon:Purchases``
against the card, Amazon accounts payable or the employee who paid.

Expense side (debit for a purchase, credit for a refund)
--------------------------------------------------------

Each line item's expense account is chosen by the first rule that applies:

1. ``[expense.gl_code]``: the GL code the buyer entered at checkout. Amazon carries it in the
   line item's ``businessOrderInfo``, a map of the company's own checkout fields; the field's
   name is one of ``gl_code_fields`` (compared ignoring case, spaces, ``_`` and ``-``;
   default ``["GL code", "GL account", "GL"]``).
2. ``[expense.unspsc]``: a prefix of the item's UNSPSC code (``"4412"`` covers office
   supplies ``44121500``...); the longest matching prefix wins.
3. ``[expense.purchasing_group]``: the transaction's purchasing group
   (``purchasingCustomerGroupName``).
4. ``default_expense``.

``shipping``, ``gift_wrap``, ``regulatory_fee`` and ``discount`` name accounts of their own;
left empty (the default) they are folded into the item's expense account. Tax goes to
``tax_account`` when ``tax_recoverable = true`` (input VAT/GST the company reclaims), else it is
folded into the expense (US sales tax is part of the cost). Amounts in a line item that its
components do not explain (``totalAmount`` minus the parts) stay with the item's expense.

Payment side (credit for a purchase, debit for a refund)
--------------------------------------------------------

By the payment instrument: *Pay by Invoice* to ``accounts_payable`` (the party is Amazon); a
card listed in ``ABRECON_COMPANY_CARDS`` to ``[cards]`` ``"<last4>"`` if given, else
``company_card`` with ``{last4}`` replaced; any other card is an employee's personal card, so
the purchase is owed to the employee: ``employee_payable`` with ``{employee}`` replaced by the
payer's name (the party is the employee). Other instruments (gift card balance, reward points,
bank account) go to ``[instruments]`` by their type (compared ignoring case), else
``other_instrument``.

Differences and currencies
--------------------------

When a tolerance match recorded a difference between the ledger and Amazon, the payment line
carries the ledger's amount and ``rounding`` takes the difference. With ``company_currency``
set, entries in other currencies carry the rate from ``[rates]`` (``USD = "0.92"``: one USD is
0.92 of the company currency), for the formats that book both amounts (DATEV, NetSuite).

``group_by``: ``"transaction"`` (default) writes one entry per Amazon transaction;
``"match"`` writes one entry per match, joining the transactions one ledger line recorded.

``[formats]``: options of the export formats (see :class:`~worker.formats.options.FormatOptions`):
``account_codes`` (a table of account name to code), ``xero_tax_rate``, ``datev_consultant``,
``datev_client``, ``datev_fiscal_year_start_month``, ``datev_account_length``,
``datev_tax_keys``, ``netsuite_subsidiary``.

Example::

    default_expense = "Expenses:Office"
    tax_recoverable = true
    tax_account = "Assets:VAT:Input"
    shipping = "Expenses:Freight"

    [expense.gl_code]
    "6100" = "Expenses:Office"
    "6420" = "Expenses:IT:Hardware"

    [expense.unspsc]
    "4321" = "Expenses:IT:Hardware"

    [cards]
    "1234" = "Liabilities:Amex:Corporate"

    [formats.account_codes]
    "Expenses:Office" = "6100"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from worker.formats.options import FormatOptions

__all__ = ["DEFAULT_RULES", "PostingRules", "RulesError", "parse_rules", "rules_from_toml"]


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the key."""


def field_key(name: str) -> str:
    """``name`` compared ignoring case, spaces, ``_`` and ``-`` (``"GL Code"`` = ``gl_code``)."""
    return "".join(ch for ch in name.casefold() if ch not in " _-")


@dataclass(frozen=True, slots=True)
class PostingRules:
    """The accounts and choices of the posting rules (see the module docstring)."""

    default_expense: str = "Expenses:Amazon:Purchases"
    gl_code_fields: tuple[str, ...] = ("GL code", "GL account", "GL")
    by_gl_code: Mapping[str, str] = field(default_factory=dict)
    by_unspsc: Mapping[str, str] = field(default_factory=dict)
    by_purchasing_group: Mapping[str, str] = field(default_factory=dict)
    shipping: str = ""
    gift_wrap: str = ""
    regulatory_fee: str = ""
    discount: str = ""
    tax_recoverable: bool = False
    tax_account: str = "Assets:Tax:Recoverable"
    rounding: str = "Expenses:Rounding"
    company_card: str = "Liabilities:CreditCard:{last4}"
    cards: Mapping[str, str] = field(default_factory=dict)
    accounts_payable: str = "Liabilities:AccountsPayable:Amazon"
    employee_payable: str = "Liabilities:EmployeePayable:{employee}"
    instruments: Mapping[str, str] = field(default_factory=dict)
    other_instrument: str = "Assets:Amazon:Clearing"
    company_currency: str = ""
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    group_by: str = "transaction"
    formats: FormatOptions = field(default_factory=FormatOptions)

    def expense_account(
        self, business_info: Mapping[str, str | None] | None, unspsc: str | None, group: str | None
    ) -> str:
        """The expense account of a line item (GL code, UNSPSC prefix, group, default)."""
        if business_info and self.by_gl_code:
            wanted = {field_key(name) for name in self.gl_code_fields}
            for name, value in business_info.items():
                if value and field_key(name) in wanted:
                    account = self.by_gl_code.get(value.strip())
                    if account:
                        return account
        if unspsc and self.by_unspsc:
            code = unspsc.strip()
            for length in range(len(code), 0, -1):
                account = self.by_unspsc.get(code[:length])
                if account:
                    return account
        if group and group in self.by_purchasing_group:
            return self.by_purchasing_group[group]
        return self.default_expense

    def card_account(self, last4: str) -> str:
        """The liability (or clearing) account of a company card."""
        return self.cards.get(last4) or self.company_card.replace("{last4}", last4)

    def employee_account(self, employee: str) -> str:
        """The payable of an employee (``{employee}`` filled with a name safe in account paths)."""
        safe = " ".join(employee.replace(":", " ").split()) or "Unknown"
        return self.employee_payable.replace("{employee}", safe)

    def instrument_account(self, instrument_type: str) -> str:
        """The account of a payment instrument that is neither a card nor Pay by Invoice."""
        wanted = field_key(instrument_type)
        for name, account in self.instruments.items():
            if field_key(name) == wanted:
                return account
        return self.other_instrument


DEFAULT_RULES = PostingRules()

_ACCOUNT_KEYS = (
    "default_expense",
    "shipping",
    "gift_wrap",
    "regulatory_fee",
    "discount",
    "tax_account",
    "rounding",
    "company_card",
    "accounts_payable",
    "employee_payable",
    "other_instrument",
)
_TABLES = {
    "expense": ("gl_code", "unspsc", "purchasing_group"),
    "cards": (),
    "instruments": (),
    "rates": (),
    "formats": (),
}


def rules_from_toml(text: str) -> PostingRules:
    """Rules from the text of a rules file (TOML); any problem is a :class:`RulesError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"not valid TOML: {exc}") from None
    return parse_rules(data)


def _text(key: str, value: object, *, empty_ok: bool = True) -> str:
    if not isinstance(value, str):
        raise RulesError(f"{key} must be a string, not {value!r}")
    if not empty_ok and not value.strip():
        raise RulesError(f"{key} must not be empty")
    return value.strip()


def _text_table(key: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RulesError(f'[{key}] must be a table of "name" = "account"')
    return {
        str(name).strip(): _text(f"{key}.{name}", account, empty_ok=False)
        for name, account in value.items()
    }


def _formats(value: object) -> FormatOptions:
    if not isinstance(value, dict):
        raise RulesError("[formats] must be a table")
    known = {f.name: f for f in fields(FormatOptions)}
    options: dict[str, Any] = {}
    for key, item in value.items():
        if key not in known:
            raise RulesError(f"formats.{key} is not an option (known: {', '.join(sorted(known))})")
        default = getattr(FormatOptions(), key)
        if isinstance(default, dict):
            options[key] = _text_table(f"formats.{key}", item)
        elif isinstance(default, bool) or type(item) is not type(default):
            raise RulesError(f"formats.{key} must be a {type(default).__name__}, not {item!r}")
        else:
            options[key] = item
    try:
        return replace(FormatOptions(), **options)
    except (TypeError, ValueError) as exc:
        raise RulesError(f"[formats]: {exc}") from None


def parse_rules(data: Mapping[str, Any]) -> PostingRules:
    """Rules from a parsed TOML document (unknown keys are errors, so typos are caught)."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _ACCOUNT_KEYS:
            values[key] = _text(
                key, value, empty_ok=key in ("shipping", "gift_wrap", "regulatory_fee", "discount")
            )
        elif key == "tax_recoverable":
            if not isinstance(value, bool):
                raise RulesError("tax_recoverable must be true or false")
            values[key] = value
        elif key == "gl_code_fields":
            if not isinstance(value, list) or not value:
                raise RulesError("gl_code_fields must be a non-empty list of field names")
            values[key] = tuple(_text("gl_code_fields", item, empty_ok=False) for item in value)
        elif key == "company_currency":
            code = _text(key, value).upper()
            if code and (len(code) != 3 or not code.isalpha()):
                raise RulesError(f"company_currency must be an ISO 4217 code, not {value!r}")
            values[key] = code
        elif key == "group_by":
            if value not in ("transaction", "match"):
                raise RulesError('group_by must be "transaction" or "match"')
            values[key] = value
        elif key == "expense":
            if not isinstance(value, dict):
                raise RulesError("[expense] must hold tables gl_code, unspsc, purchasing_group")
            for sub, table in value.items():
                if sub not in _TABLES["expense"]:
                    raise RulesError(
                        f"expense.{sub} is not a rule (known: gl_code, unspsc, purchasing_group)"
                    )
                values[f"by_{sub}"] = _text_table(f"expense.{sub}", table)
        elif key in ("cards", "instruments"):
            values[key] = _text_table(key, value)
        elif key == "rates":
            values[key] = _rates(value)
        elif key == "formats":
            values[key] = _formats(value)
        else:
            raise RulesError(f"{key} is not a posting rule (README, Posting rules, lists them)")
    for card in values.get("cards", {}):
        if not (len(card) == 4 and card.isdigit()):
            raise RulesError(f"cards.{card}: a card is named by its last four digits")
    return PostingRules(**values)


def _rates(value: object) -> dict[str, Decimal]:
    if not isinstance(value, dict):
        raise RulesError('[rates] must be a table of CURRENCY = "rate"')
    rates: dict[str, Decimal] = {}
    for currency, text in value.items():
        try:
            rate = Decimal(str(text))
        except InvalidOperation:
            raise RulesError(f"rates.{currency}: {text!r} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise RulesError(f"rates.{currency}: a rate must be a positive number")
        rates[str(currency).upper()] = rate
    return rates
