"""From an Amazon Business transaction to a balanced journal entry.

A charge (``CHARGE``, positive amounts) debits the expense side and credits the payment side; a
refund (``REFUND``/``OVERREFUND``, negative amounts) is its mirror: the same accounts, the other
sides. Every amount is signed as Amazon signs it and each posting's side follows from its
sign, so the mirror needs no code of its own. A refund that arrives with positive amounts is
negated first (Amazon documents refunds as negative; a positive one is the same refund in the
other sign convention).

The expense side comes from the line items, part by part (principal, shipping, gift wrap,
regulatory fee, discount, tax; see :mod:`worker.accounting.rules` for the accounts); what a
line item's ``totalAmount`` holds beyond its parts stays with its expense account, so an item
always posts exactly its total. A transaction without line items posts its amount to the
default expense. The payment side is the transaction's ``amount``. When the line items do not
add up to that amount the entry is refused with :class:`~worker.accounting.journal.JournalError`
(the difference has no account a rule could justify); a person sees it as an exception.

Parts posting to the same account with the same role are summed, so an order of fifty items
of one category is one expense line; each line's memo names what it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from connectors.amazon_business.models import Money, Transaction, TransactionLineItem
from worker.accounting.journal import JournalEntry, JournalError, JournalLine
from worker.accounting.rules import PostingRules, field_key

__all__ = [
    "Payment",
    "PaymentKind",
    "PostingLinks",
    "classify_payment",
    "merge_entries",
    "post_transaction",
]

_REFUND_TYPES = frozenset({"REFUND", "OVERREFUND"})
_PAY_BY_INVOICE = frozenset({field_key("Pay by Invoice"), "invoice", "pbi"})


class PaymentKind(StrEnum):
    """How a transaction was paid, which decides the credit side of its entry."""

    COMPANY_CARD = "company-card"
    PERSONAL_CARD = "personal-card"
    PAY_BY_INVOICE = "pay-by-invoice"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Payment:
    """The payment side of a transaction: its kind, account and counterparty."""

    kind: PaymentKind
    account: str
    party: str = ""
    employee_id: str = ""
    employee_name: str = ""
    employee_email: str = ""


@dataclass(frozen=True, slots=True)
class PostingLinks:
    """What the store knows about a transaction beyond Amazon's record of it.

    ``difference`` is the ledger amount minus the Amazon amount that a tolerance match let
    through and that this entry carries (posted to the rounding account).
    """

    invoice_numbers: Sequence[str] = ()
    pdf_paths: Sequence[str] = ()
    match_id: str = ""
    difference: Decimal = Decimal(0)


@dataclass(slots=True)
class _Part:
    amount: Decimal = Decimal(0)
    memos: list[str] = field(default_factory=list)


def classify_payment(
    txn: Transaction, rules: PostingRules, company_cards: frozenset[str]
) -> Payment:
    """The payment side of ``txn``: company card, personal card, Pay by Invoice or other.

    A card is a payment with last four digits (that is not Pay by Invoice). It is the company's
    when its digits are in ``company_cards`` (``ABRECON_COMPANY_CARDS``); otherwise an employee
    paid with a personal card: the payer (else the buyer) is the employee owed the money.
    """
    kind_text = field_key(txn.payment_instrument_type or "")
    last4 = (txn.payment_instrument_last4_digits or "").strip()
    if kind_text in _PAY_BY_INVOICE or "invoice" in kind_text:
        return Payment(PaymentKind.PAY_BY_INVOICE, rules.accounts_payable, party="Amazon")
    if last4:
        if last4 in company_cards:
            return Payment(PaymentKind.COMPANY_CARD, rules.card_account(last4))
        person = txn.payer or txn.buyer
        employee_id = person.id if person else ""
        name = (person.name if person else None) or (person.email if person else None) or ""
        name = name or employee_id or f"card {last4}"
        return Payment(
            PaymentKind.PERSONAL_CARD,
            rules.employee_account(name),
            party=name,
            employee_id=employee_id,
            employee_name=(person.name or "") if person else "",
            employee_email=(person.email or "") if person else "",
        )
    return Payment(PaymentKind.OTHER, rules.instrument_account(txn.payment_instrument_type or ""))


def _amount(money: Money | None, currency: str, where: str) -> Decimal | None:
    if money is None:
        return None
    if money.currency_code and money.currency_code != currency:
        raise JournalError(f"{where} is in {money.currency_code}, the transaction in {currency}")
    if not money.amount.is_finite():
        raise JournalError(f"{where} is not a number")
    return money.amount


def _item_parts(
    item: TransactionLineItem,
    position: int,
    txn: Transaction,
    rules: PostingRules,
    currency: str,
    sign: int,
) -> tuple[list[tuple[str, str, Decimal]], Decimal]:
    """(account, role, signed amount) of one line item's parts, and the item's total."""
    where = f"line item {position + 1}"
    expense = rules.expense_account(
        item.business_order_info, item.unspsc, txn.purchasing_customer_group_name
    )
    tax_account = rules.tax_account if rules.tax_recoverable else expense
    parts: list[tuple[str, str, Decimal]] = []
    explained = Decimal(0)
    any_part = False
    for name, money, account, role in (
        ("principal", item.principal_amount, expense, "expense"),
        ("shipping", item.shipping_charge, rules.shipping or expense, "shipping"),
        ("gift wrap", item.gift_wrapping_charge, rules.gift_wrap or expense, "gift_wrap"),
        ("regulatory fee", item.regulatory_fee, rules.regulatory_fee or expense, "regulatory_fee"),
        ("discount", item.discount, rules.discount or expense, "discount"),
        ("tax", item.tax, tax_account, "tax" if rules.tax_recoverable else "expense"),
    ):
        value = _amount(money, currency, f"{where} {name}")
        if value is None:
            continue
        any_part = True
        value *= sign
        explained += value
        parts.append((account, role if account != expense else "expense", value))
    total = _amount(item.total_amount, currency, f"{where} totalAmount")
    if total is None:
        if not any_part:
            raise JournalError(f"{where} has no amounts")
        return parts, explained
    total *= sign
    if total != explained:
        parts.append((expense, "expense", total - explained))
    return parts, total


def post_transaction(
    txn: Transaction,
    rules: PostingRules,
    company_cards: frozenset[str] = frozenset(),
    links: PostingLinks | None = None,
) -> JournalEntry:
    """The balanced entry of one Amazon transaction, or :class:`JournalError` saying why not."""
    links = links or PostingLinks()
    tid = txn.transaction_id or ""
    try:
        return _post(txn, rules, company_cards, links)
    except JournalError as exc:
        raise JournalError(f"transaction {tid or '(no id)'}: {exc}") from None


def _post(
    txn: Transaction, rules: PostingRules, company_cards: frozenset[str], links: PostingLinks
) -> JournalEntry:
    if not txn.transaction_id:
        raise JournalError("has no transactionId")
    if txn.amount is None:
        raise JournalError("has no amount")
    if txn.transaction_date is None:
        raise JournalError("has no transactionDate")
    currency = txn.amount.currency_code.strip().upper()
    if not currency:
        raise JournalError("has no currency")
    amount = _amount(txn.amount, txn.amount.currency_code, "amount")
    assert amount is not None
    refund_type = str(txn.transaction_type or "").upper() in _REFUND_TYPES
    sign = -1 if refund_type and amount > 0 else 1
    amount *= sign
    if amount == 0:
        raise JournalError("has a zero amount: nothing to post")

    parts: dict[tuple[str, str], _Part] = {}
    items_total = Decimal(0)
    if txn.transaction_line_items:
        for position, item in enumerate(txn.transaction_line_items):
            item_parts, item_total = _item_parts(item, position, txn, rules, currency, sign)
            items_total += item_total
            title = (item.product_title or item.asin or "").strip()
            for account, role, value in item_parts:
                part = parts.setdefault((account, role), _Part())
                part.amount += value
                if title and title not in part.memos:
                    part.memos.append(title)
        if items_total != amount:
            raise JournalError(
                f"line items add up to {items_total} {currency}, the transaction amount is"
                f" {amount} {currency}"
            )
    else:
        account = rules.expense_account(None, None, txn.purchasing_customer_group_name)
        parts[(account, "expense")] = _Part(amount)

    payment = classify_payment(txn, rules, company_cards)
    lines = [
        _line(account, role, part.amount, _memo(part.memos))
        for (account, role), part in sorted(parts.items())
    ]
    if links.difference:
        lines.append(_line(rules.rounding, "rounding", links.difference, "difference to ledger"))
    lines.append(
        _line(
            payment.account,
            "payment",
            -(amount + links.difference),
            _payment_memo(txn),
            payment.party,
        )
    )
    kept = tuple(line for line in lines if line is not None)
    order_ids = tuple(dict.fromkeys(i.order_id for i in txn.transaction_line_items if i.order_id))
    invoices = tuple(
        dict.fromkeys(n for n in (txn.invoice_number or "", *links.invoice_numbers) if n)
    )
    kind = "refund" if amount < 0 else "charge"
    rate = rules.rates.get(currency) if rules.company_currency != currency else None
    return JournalEntry(
        entry_id=f"AB-{txn.transaction_id}",
        date=txn.transaction_date.date(),
        currency=currency,
        lines=kept,
        kind=kind,
        payee=_payee(txn),
        narration=_narration(kind, order_ids, invoices),
        transaction_ids=(txn.transaction_id or "",),
        order_ids=order_ids,
        invoice_numbers=invoices,
        pdf_paths=tuple(links.pdf_paths),
        match_id=links.match_id,
        employee=payment.party if payment.kind is PaymentKind.PERSONAL_CARD else "",
        company_currency=rules.company_currency if rate is not None else "",
        rate=rate,
        tags=(payment.kind.value,),
    )


def _line(
    account: str, role: str, signed: Decimal, memo: str = "", party: str = ""
) -> JournalLine | None:
    if signed == 0:
        return None
    debit, credit = (signed, Decimal(0)) if signed > 0 else (Decimal(0), -signed)
    return JournalLine(account, debit, credit, role=role, memo=memo, party=party)


def _memo(titles: list[str], limit: int = 120) -> str:
    if not titles:
        return ""
    memo = titles[0] if len(titles) == 1 else f"{titles[0]} (+{len(titles) - 1} more)"
    return memo if len(memo) <= limit else memo[: limit - 1] + "…"


def _payment_memo(txn: Transaction) -> str:
    kind = (txn.payment_instrument_type or "").strip()
    last4 = (txn.payment_instrument_last4_digits or "").strip()
    return f"{kind} {last4}".strip() if last4 else kind


def _payee(txn: Transaction) -> str:
    merchants = {
        i.merchant_legal_name.strip() for i in txn.transaction_line_items if i.merchant_legal_name
    }
    return merchants.pop() if len(merchants) == 1 else "Amazon Business"


def _narration(kind: str, order_ids: Sequence[str], invoices: Sequence[str]) -> str:
    what = "Refund" if kind == "refund" else "Purchase"
    text = f"{what} order {', '.join(order_ids)}" if order_ids else f"Amazon {what.lower()}"
    return f"{text} invoice {', '.join(invoices)}" if invoices else text


def merge_entries(entries: Iterable[JournalEntry], entry_id: str) -> JournalEntry:
    """One entry for several (a match's transactions): lines summed per account, role and party.

    The entries must share a currency; the merged entry is dated the earliest of them.
    """
    group = sorted(entries, key=lambda e: (e.date, e.entry_id))
    if not group:
        raise JournalError(f"entry {entry_id}: nothing to merge")
    first = group[0]
    if len(group) == 1:
        return first
    if any(e.currency != first.currency for e in group):
        raise JournalError(f"entry {entry_id}: the transactions are in different currencies")
    sums: dict[tuple[str, str, str], _Part] = {}
    for entry in group:
        for line in entry.lines:
            part = sums.setdefault((line.account, line.role, line.party), _Part())
            part.amount += line.signed
            if line.memo and line.memo not in part.memos:
                part.memos.append(line.memo)
    ordered = sorted(sums.items(), key=lambda kv: (kv[0][1] == "payment", kv[0]))
    merged = (
        _line(acct, role, part.amount, _memo(part.memos), party)
        for (acct, role, party), part in ordered
    )
    lines = tuple(line for line in merged if line is not None)
    total = sum((e.total if e.kind == "charge" else -e.total for e in group), Decimal(0))
    order_ids = _joined(e.order_ids for e in group)
    invoices = _joined(e.invoice_numbers for e in group)
    kind = "refund" if total < 0 else "charge"
    return JournalEntry(
        entry_id=entry_id,
        date=first.date,
        currency=first.currency,
        lines=lines,
        kind=kind,
        payee=first.payee if all(e.payee == first.payee for e in group) else "Amazon Business",
        narration=_narration(kind, order_ids, invoices),
        transaction_ids=_joined(e.transaction_ids for e in group),
        order_ids=order_ids,
        invoice_numbers=invoices,
        pdf_paths=_joined(e.pdf_paths for e in group),
        match_id=first.match_id,
        employee=first.employee if all(e.employee == first.employee for e in group) else "",
        company_currency=first.company_currency,
        rate=first.rate,
        tags=_joined(e.tags for e in group),
    )


def _joined(values: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The values of several tuples in first-seen order, each once."""
    return tuple(dict.fromkeys(v for group in values for v in group))
