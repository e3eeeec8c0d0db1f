"""Employee reimbursements: what employees paid for the company on their personal cards.

A purchase paid with a card that is not one of the company's (``ABRECON_COMPANY_CARDS``) was
paid by an employee, who is owed the money. Those purchases (and their refunds, which reduce
what is owed) are collected per employee, currency and period (a calendar month by default,
or an ISO week) into a :class:`Reimbursement`: the claim an expense tool would otherwise make
someone type. Its journal entries are the purchases' own entries (expense and tax against the
employee's payable); paying it is a further entry, payable against the bank.

The grouping is pure and deterministic: the same items give the same records, ids included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from worker.accounting.journal import JournalEntry

__all__ = [
    "PERIODS",
    "Reimbursement",
    "ReimbursementItem",
    "group_reimbursements",
    "period_of",
    "reimbursement_id",
]

#: How reimbursements are cut: per calendar month or per ISO week (Monday to Sunday).
PERIODS = ("month", "week")


@dataclass(frozen=True, slots=True)
class ReimbursementItem:
    """One personal-card transaction of an employee (negative for a refund)."""

    transaction_id: str
    date: date
    amount: Decimal
    currency: str
    employee_id: str
    employee_name: str
    employee_email: str
    order_ids: tuple[str, ...] = ()
    invoice_numbers: tuple[str, ...] = ()
    pdf_paths: tuple[str, ...] = ()
    entry_id: str = ""
    #: The purchase's journal entry: expense and tax against the employee's payable.
    entry: JournalEntry | None = None


@dataclass(frozen=True, slots=True)
class Reimbursement:
    """What one employee is owed in one currency for one period."""

    reimbursement_id: str
    employee_id: str
    employee_name: str
    employee_email: str
    period_start: date
    period_end: date
    currency: str
    items: tuple[ReimbursementItem, ...]

    @property
    def total(self) -> Decimal:
        """The amount owed: purchases less refunds."""
        return sum((item.amount for item in self.items), Decimal(0))


def period_of(day: date, period: str = "month") -> tuple[date, date]:
    """The first and last day of the period holding ``day``."""
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period != "month":
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following - timedelta(days=1)


def reimbursement_id(employee: str, start: date, currency: str) -> str:
    """``RB-<period start>-<currency>-<8 hex digits of the employee>``: stable and readable."""
    digest = hashlib.sha256(employee.encode("utf-8")).hexdigest()[:8]
    return f"RB-{start.isoformat()}-{currency}-{digest}"


def group_reimbursements(
    items: Iterable[ReimbursementItem], period: str = "month"
) -> list[Reimbursement]:
    """The reimbursements of ``items``, ordered by period, employee and currency.

    An employee is known by id (their Amazon account), else by email, else by name; the name
    and email shown are the most recent ones seen for that employee.
    """
    groups: dict[tuple[date, str, str], list[ReimbursementItem]] = {}
    for item in items:
        employee = item.employee_id or item.employee_email or item.employee_name
        start, _ = period_of(item.date, period)
        groups.setdefault((start, employee, item.currency), []).append(item)
    records = []
    for (start, employee, currency), members in sorted(groups.items()):
        members.sort(key=lambda i: (i.date, i.transaction_id))
        latest = members[-1]
        records.append(
            Reimbursement(
                reimbursement_id=reimbursement_id(employee, start, currency),
                employee_id=latest.employee_id,
                employee_name=latest.employee_name,
                employee_email=latest.employee_email,
                period_start=start,
                period_end=period_of(start, period)[1],
                currency=currency,
                items=tuple(members),
            )
        )
    return records
