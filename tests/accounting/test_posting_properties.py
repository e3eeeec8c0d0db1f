"""Properties of posting: whatever Amazon sends, an entry balances or is refused with a reason."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.amazon_business.models import Transaction
from worker.accounting.journal import JournalError
from worker.accounting.posting import PaymentKind, classify_payment, post_transaction
from worker.accounting.reimbursements import ReimbursementItem, group_reimbursements
from worker.accounting.rules import PostingRules

CURRENCIES = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
PARTS = (
    "principalAmount",
    "shippingCharge",
    "giftWrappingCharge",
    "regulatoryFee",
    "discount",
    "tax",
)
RULES = st.sampled_from(
    [
        PostingRules(),
        PostingRules(tax_recoverable=True, shipping="Expenses:Ship", discount="Income:Disc"),
        PostingRules(gift_wrap="Expenses:Wrap", regulatory_fee="Expenses:Fees"),
    ]
)
COMPANY = frozenset({"1111"})


def amounts(places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(-(10**7), 10**7).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def transactions(draw: st.DrawFn, consistent: bool = False) -> dict[str, Any]:
    """A transaction as Amazon's model allows it; ``consistent``: its parts add up."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    places = CURRENCIES[currency]

    def m(value: Decimal) -> dict[str, str]:
        return {"currencyCode": currency, "amount": str(value)}

    items = []
    for _ in range(draw(st.integers(0, 4))):
        item: dict[str, Any] = {"orderId": draw(st.sampled_from(["O1", "O2"]))}
        parts = {p: draw(amounts(places)) for p in PARTS if draw(st.booleans())}
        item.update({p: m(v) for p, v in parts.items()})
        if consistent or draw(st.booleans()):
            total = sum(parts.values(), Decimal(0))
            if not parts:
                total = draw(amounts(places))
            if not consistent and draw(st.booleans()):
                total += draw(amounts(places))
            item["totalAmount"] = m(total)
        elif not parts:
            item["totalAmount"] = m(draw(amounts(places)))
        item["unspsc"] = draw(st.sampled_from([None, "44121503", "43211503"]))
        items.append(item)
    if consistent and items:
        amount = sum((Decimal(i["totalAmount"]["amount"]) for i in items), Decimal(0))
    else:
        amount = draw(amounts(places))
    instrument = draw(
        st.sampled_from(
            [("Visa", "1111"), ("Visa", "2222"), ("Pay by Invoice", None), ("Gift Card", None)]
        )
    )
    return {
        "transactionId": draw(st.text("ABC123", min_size=1, max_size=8)),
        "transactionType": draw(st.sampled_from(["CHARGE", "REFUND", "OVERREFUND", None])),
        "transactionDate": "2025-05-06T07:08:09Z",
        "amount": m(amount),
        "paymentInstrumentType": instrument[0],
        "paymentInstrumentLast4Digits": instrument[1],
        "payer": {"id": "P1", "name": "Grace Hopper"},
        "transactionLineItems": items,
    }


@settings(max_examples=300, deadline=None)
@given(transactions(), RULES)
def test_any_transaction_posts_balanced_or_is_refused_with_a_reason(
    data: dict[str, Any], rules: PostingRules
) -> None:
    txn = Transaction.model_validate(data)
    try:
        entry = post_transaction(txn, rules, COMPANY)
    except JournalError as exc:
        assert str(exc).startswith(f"transaction {txn.transaction_id}:")
        return
    debits = sum((line.debit for line in entry.lines), Decimal(0))
    credits = sum((line.credit for line in entry.lines), Decimal(0))
    assert debits == credits > 0
    assert all((line.debit > 0) != (line.credit > 0) for line in entry.lines)


@settings(max_examples=300, deadline=None)
@given(transactions(consistent=True), RULES)
def test_consistent_transactions_always_post_and_the_payment_is_the_amount(
    data: dict[str, Any], rules: PostingRules
) -> None:
    txn = Transaction.model_validate(data)
    assert txn.amount is not None
    if txn.amount.amount == 0:
        return
    entry = post_transaction(txn, rules, COMPANY)
    payment = [line for line in entry.lines if line.role == "payment"]
    assert len(payment) == 1
    assert payment[0].debit + payment[0].credit == abs(txn.amount.amount)


@settings(max_examples=200, deadline=None)
@given(transactions(consistent=True), RULES)
def test_a_refund_mirrors_its_charge(data: dict[str, Any], rules: PostingRules) -> None:
    def negated(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"currencyCode", "amount"}:
                return {**value, "amount": str(-Decimal(value["amount"]))}
            return {k: negated(v) for k, v in value.items()}
        if isinstance(value, list):
            return [negated(v) for v in value]
        return value

    charge = Transaction.model_validate({**data, "transactionType": "CHARGE"})
    assert charge.amount is not None
    if charge.amount.amount <= 0:
        return
    refund = Transaction.model_validate({**negated(data), "transactionType": "REFUND"})
    a = post_transaction(charge, rules, COMPANY)
    b = post_transaction(refund, rules, COMPANY)
    assert (a.kind, b.kind) == ("charge", "refund")
    assert sorted((x.account, x.role, x.debit, x.credit) for x in a.lines) == sorted(
        (x.account, x.role, x.credit, x.debit) for x in b.lines
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(transactions(consistent=True), max_size=12), st.sampled_from(["month", "week"]))
def test_reimbursement_totals_equal_the_personal_card_transactions(
    batch: list[dict[str, Any]], period: str
) -> None:
    rules = PostingRules()
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    items = []
    for n, data in enumerate(batch):
        data = {
            **data,
            "transactionId": f"T{n}",
            "transactionDate": f"2025-0{1 + n % 3}-1{n % 9}T00:00:00Z",
            "payer": {"id": f"P{n % 2}", "name": f"Employee {n % 2}"},
        }
        txn = Transaction.model_validate(data)
        try:
            entry = post_transaction(txn, rules, COMPANY)
        except JournalError:
            continue
        payment = classify_payment(txn, rules, COMPANY)
        if payment.kind is not PaymentKind.PERSONAL_CARD:
            continue
        assert txn.amount is not None
        signed = -sum((x.signed for x in entry.lines if x.role == "payment"), Decimal(0))
        amount = txn.amount.amount
        if str(txn.transaction_type) in ("REFUND", "OVERREFUND") and amount > 0:
            amount = -amount
        assert signed == amount
        expected[(payment.employee_id, entry.currency)] += amount
        items.append(
            ReimbursementItem(
                entry.transaction_id,
                entry.date,
                signed,
                entry.currency,
                payment.employee_id,
                payment.employee_name,
                "",
            )
        )
    got: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for record in group_reimbursements(items, period):
        assert record.period_start <= min(i.date for i in record.items)
        assert record.period_end >= max(i.date for i in record.items)
        got[(record.employee_id, record.currency)] += record.total
    assert got == expected
    assert group_reimbursements(list(reversed(items)), period) == group_reimbursements(
        items, period
    )


def test_periods() -> None:
    from worker.accounting.reimbursements import period_of

    assert period_of(date(2024, 2, 10)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert period_of(date(2025, 12, 31)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert period_of(date(2025, 1, 1), "week") == (date(2024, 12, 30), date(2025, 1, 5))
