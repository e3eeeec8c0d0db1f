"""Posting rules: one Amazon transaction in, one balanced journal entry out."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.amazon_business.models import Transaction
from worker.accounting.journal import JournalEntry, JournalError, JournalLine, UnbalancedEntry
from worker.accounting.posting import PaymentKind, PostingLinks, classify_payment, merge_entries
from worker.accounting.posting import post_transaction as post
from worker.accounting.rules import PostingRules, RulesError, parse_rules
from worker.services.journal import load_rules

CARD = "1234"


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"currencyCode": currency, "amount": amount}


def item(**parts: Any) -> dict[str, Any]:
    """A line item; amounts given as strings become USD money."""
    out: dict[str, Any] = {"orderId": "111-0000001-0000001", "productTitle": "Printer paper"}
    for key, value in parts.items():
        out[key] = money(value) if isinstance(value, str) and key != "unspsc" else value
    return out


def txn(*items: dict[str, Any], amount: str, **fields: Any) -> Transaction:
    data: dict[str, Any] = {
        "transactionId": "T1",
        "transactionType": "CHARGE",
        "transactionDate": "2025-03-04T10:00:00Z",
        "amount": money(amount),
        "paymentInstrumentType": "Visa",
        "paymentInstrumentLast4Digits": CARD,
        "invoiceNumber": "INV-1",
        "buyer": {"id": "amzn1.account.A", "name": "Ada Lovelace", "email": "ada@example.com"},
        "transactionLineItems": list(items),
    }
    data.update(fields)
    return Transaction.model_validate(data)


def lines(entry: JournalEntry) -> set[tuple[str, str, str]]:
    """(account, debit, credit) of each line, amounts as text, for readable assertions."""
    return {(line.account, str(line.debit or ""), str(line.credit or "")) for line in entry.lines}


COMPANY = frozenset({CARD})


def test_company_card_purchase_debits_expense_and_credits_the_card() -> None:
    t = txn(item(principalAmount="20.00", tax="1.60", totalAmount="21.60"), amount="21.60")
    entry = post(t, PostingRules(), COMPANY)
    assert lines(entry) == {
        ("Expenses:Amazon:Purchases", "21.60", ""),
        ("Liabilities:CreditCard:1234", "", "21.60"),
    }
    assert entry.entry_id == "AB-T1" and entry.kind == "charge"
    assert entry.invoice_numbers == ("INV-1",)
    assert entry.order_ids == ("111-0000001-0000001",)


def test_recoverable_tax_shipping_and_discount_get_their_own_accounts() -> None:
    rules = PostingRules(
        tax_recoverable=True,
        tax_account="Assets:VAT:Input",
        shipping="Expenses:Freight",
        discount="Income:Discounts",
    )
    t = txn(
        item(
            principalAmount="100.00",
            shippingCharge="5.00",
            discount="-10.00",
            tax="19.00",
            totalAmount="114.00",
        ),
        amount="114.00",
    )
    assert lines(post(t, rules, COMPANY)) == {
        ("Expenses:Amazon:Purchases", "100.00", ""),
        ("Expenses:Freight", "5.00", ""),
        ("Income:Discounts", "", "10.00"),
        ("Assets:VAT:Input", "19.00", ""),
        ("Liabilities:CreditCard:1234", "", "114.00"),
    }


def test_expense_account_by_gl_code_then_unspsc_prefix_then_group() -> None:
    rules = PostingRules(
        by_gl_code={"6100": "Expenses:Office"},
        by_unspsc={"43": "Expenses:IT", "4321": "Expenses:IT:Hardware"},
        by_purchasing_group={"Marketing": "Expenses:Marketing"},
    )
    gl = item(totalAmount="1.00", businessOrderInfo={"GL Code": "6100"}, unspsc="43211503")
    unspsc = item(totalAmount="2.00", unspsc="43211503")
    group = item(totalAmount="4.00", unspsc="99000000")
    t = txn(gl, unspsc, group, amount="7.00", purchasingCustomerGroupName="Marketing")
    assert lines(post(t, rules, COMPANY)) == {
        ("Expenses:Office", "1.00", ""),
        ("Expenses:IT:Hardware", "2.00", ""),
        ("Expenses:Marketing", "4.00", ""),
        ("Liabilities:CreditCard:1234", "", "7.00"),
    }


def test_refund_is_the_mirror_of_its_charge() -> None:
    charge = txn(item(principalAmount="20.00", tax="1.60", totalAmount="21.60"), amount="21.60")
    refund = txn(
        item(principalAmount="-20.00", tax="-1.60", totalAmount="-21.60"),
        amount="-21.60",
        transactionType="REFUND",
    )
    a, b = post(charge, PostingRules(), COMPANY), post(refund, PostingRules(), COMPANY)
    assert b.kind == "refund"
    assert {(x, c, d) for x, d, c in lines(a)} == lines(b)


def test_refund_sent_with_positive_amounts_is_still_a_refund() -> None:
    refund = txn(item(totalAmount="5.00"), amount="5.00", transactionType="REFUND")
    assert lines(post(refund, PostingRules(), COMPANY)) == {
        ("Expenses:Amazon:Purchases", "", "5.00"),
        ("Liabilities:CreditCard:1234", "5.00", ""),
    }


def test_payment_side_by_instrument() -> None:
    rules = PostingRules(instruments={"Gift Card": "Assets:GiftCards"})
    one = item(totalAmount="3.00")
    pbi = txn(
        one,
        amount="3.00",
        paymentInstrumentType="Pay by Invoice",
        paymentInstrumentLast4Digits=None,
    )
    personal = txn(one, amount="3.00", paymentInstrumentLast4Digits="9999")
    gift = txn(
        one, amount="3.00", paymentInstrumentType="gift card", paymentInstrumentLast4Digits=None
    )
    assert ("Liabilities:AccountsPayable:Amazon", "", "3.00") in lines(post(pbi, rules, COMPANY))
    entry = post(personal, rules, COMPANY)
    assert ("Liabilities:EmployeePayable:Ada Lovelace", "", "3.00") in lines(entry)
    assert entry.employee == "Ada Lovelace"
    assert classify_payment(personal, rules, COMPANY).kind is PaymentKind.PERSONAL_CARD
    assert ("Assets:GiftCards", "", "3.00") in lines(post(gift, rules, COMPANY))


def test_named_card_account_wins_over_the_template() -> None:
    rules = PostingRules(cards={CARD: "Liabilities:Amex"})
    entry = post(txn(item(totalAmount="3.00"), amount="3.00"), rules, COMPANY)
    assert ("Liabilities:Amex", "", "3.00") in lines(entry)


def test_tolerance_difference_goes_to_rounding_and_the_card_carries_the_ledger_amount() -> None:
    t = txn(item(totalAmount="10.00"), amount="10.00")
    entry = post(t, PostingRules(), COMPANY, PostingLinks(difference=Decimal("0.01")))
    assert lines(entry) == {
        ("Expenses:Amazon:Purchases", "10.00", ""),
        ("Expenses:Rounding", "0.01", ""),
        ("Liabilities:CreditCard:1234", "", "10.01"),
    }


def test_unexplained_part_of_a_line_total_stays_with_the_expense() -> None:
    t = txn(item(principalAmount="10.00", totalAmount="10.50"), amount="10.50")
    assert ("Expenses:Amazon:Purchases", "10.50", "") in lines(post(t, PostingRules(), COMPANY))


def test_line_items_not_adding_up_to_the_amount_is_an_error_naming_the_transaction() -> None:
    t = txn(item(totalAmount="10.00"), amount="12.00")
    with pytest.raises(JournalError, match=r"transaction T1: line items add up to 10.00"):
        post(t, PostingRules(), COMPANY)


def test_missing_amount_or_mixed_currency_is_an_error() -> None:
    with pytest.raises(JournalError, match="no amount"):
        post(txn(amount="1.00").model_copy(update={"amount": None}), PostingRules())
    mixed = txn({"totalAmount": money("1.00", "EUR")}, amount="1.00")
    with pytest.raises(JournalError, match="EUR"):
        post(mixed, PostingRules())


def test_no_line_items_posts_the_amount_to_the_default_expense() -> None:
    assert lines(post(txn(amount="8.00"), PostingRules(), COMPANY)) == {
        ("Expenses:Amazon:Purchases", "8.00", ""),
        ("Liabilities:CreditCard:1234", "", "8.00"),
    }


def test_company_currency_rate_is_carried() -> None:
    rules = PostingRules(company_currency="EUR", rates={"USD": Decimal("0.92")})
    entry = post(txn(amount="8.00"), rules, COMPANY)
    assert (entry.company_currency, entry.rate) == ("EUR", Decimal("0.92"))


def test_unbalanced_entry_cannot_be_built() -> None:
    with pytest.raises(UnbalancedEntry):
        JournalEntry(
            "E",
            txn(amount="1.00").transaction_date.date(),  # type: ignore[union-attr]
            "USD",
            (
                JournalLine("A", Decimal("1.00"), Decimal(0)),
                JournalLine("B", Decimal(0), Decimal("0.99")),
            ),
        )


def test_merge_joins_the_transactions_of_a_match() -> None:
    a = post(txn(item(totalAmount="3.00"), amount="3.00"), PostingRules(), COMPANY)
    b = post(
        txn(item(totalAmount="4.00"), amount="4.00", transactionId="T2", invoiceNumber="INV-2"),
        PostingRules(),
        COMPANY,
    )
    merged = merge_entries([b, a], "AB-M-1")
    assert lines(merged) == {
        ("Expenses:Amazon:Purchases", "7.00", ""),
        ("Liabilities:CreditCard:1234", "", "7.00"),
    }
    assert merged.transaction_ids == ("T1", "T2")
    assert merged.invoice_numbers == ("INV-1", "INV-2")


def test_rules_file_values_and_errors() -> None:
    rules = parse_rules(
        {
            "default_expense": "Expenses:Office",
            "tax_recoverable": True,
            "expense": {"gl_code": {"6100": "Expenses:Office"}},
            "cards": {"1234": "Liabilities:Amex"},
            "rates": {"usd": "0.9"},
            "formats": {"xero_tax_rate": "No VAT", "account_codes": {"Expenses:Office": "6100"}},
        }
    )
    assert rules.default_expense == "Expenses:Office" and rules.tax_recoverable
    assert rules.rates == {"USD": Decimal("0.9")}
    assert rules.formats.xero_tax_rate == "No VAT"
    assert rules.formats.account_codes == {"Expenses:Office": "6100"}
    for bad, message in (
        ({"default_expnse": "X"}, "not a posting rule"),
        ({"cards": {"12": "X"}}, "last four digits"),
        ({"rates": {"USD": "-1"}}, "positive"),
        ({"group_by": "day"}, "group_by"),
        ({"formats": {"xero_max_lines": "300"}}, "must be a int"),
        ({"expense": {"gl": {}}}, "not a rule"),
    ):
        with pytest.raises(RulesError, match=message):
            parse_rules(bad)


def test_the_readme_example_rules_file_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Posting rules", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "rules.toml"
    path.write_text(block, encoding="utf-8")
    rules = load_rules(path)
    assert rules.expense_account({"GL Code": "6100"}, None, None) == "Expenses:Office"
    assert rules.card_account("1234") == "Liabilities:Amex"
    assert rules.formats.account_codes == {"Expenses:Office": "6100"}
    with pytest.raises(RulesError, match=r"rules\.toml: default_expense must be a string"):
        path.write_text("default_expense = 3\n", encoding="utf-8")
        load_rules(path)
