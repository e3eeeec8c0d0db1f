"""Reimbursement records as CSV (one row per transaction) and JSON (one object per record).

Both are deterministic (records in period, employee, currency order; transactions by date) and
written atomically. Amounts are exact decimal strings. The CSV neutralises cells a spreadsheet
would run as formulas, like every CSV abrecon writes; JSON needs no such guard.

CSV columns: ``reimbursement_id, employee_id, employee_name, employee_email, period_start,
period_end, status, currency, total, transaction_id, transaction_date, amount, order_ids,
invoice_numbers, pdf_paths, journal_entry_id`` (lists joined with ``;``).

JSON: ``{"reimbursements": [{"reimbursement_id", "employee": {"id", "name", "email"},
"period": {"start", "end"}, "status", "currency", "total", "transactions": [{"transaction_id",
"date", "amount", "order_ids", "invoice_numbers", "pdf_paths", "journal_entry_id",
"journal_lines": [{"account", "debit", "credit"}]}]}]}``: each purchase with its journal entry
(expense and tax against the employee's payable).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from worker.accounting.reimbursements import Reimbursement
from worker.formats import ExportResult
from worker.formats.atomic import atomic_text
from worker.formats.cells import decimal_text, neutralise

__all__ = ["REIMBURSEMENT_COLUMNS", "REIMBURSEMENT_FORMATS", "write_reimbursements"]

REIMBURSEMENT_FORMATS = ("csv", "json")
REIMBURSEMENT_COLUMNS = (
    "reimbursement_id",
    "employee_id",
    "employee_name",
    "employee_email",
    "period_start",
    "period_end",
    "status",
    "currency",
    "total",
    "transaction_id",
    "transaction_date",
    "amount",
    "order_ids",
    "invoice_numbers",
    "pdf_paths",
    "journal_entry_id",
)


def _rows(records: Sequence[Reimbursement], statuses: Mapping[str, str]) -> Iterator[list[str]]:
    for r in records:
        head = [
            r.reimbursement_id,
            r.employee_id,
            r.employee_name,
            r.employee_email,
            r.period_start.isoformat(),
            r.period_end.isoformat(),
            statuses.get(r.reimbursement_id, "open"),
            r.currency,
        ]
        total = decimal_text(r.total, r.currency)
        for item in r.items:
            text = [
                *head,
                total,
                item.transaction_id,
                item.date.isoformat(),
                decimal_text(item.amount, r.currency),
                ";".join(item.order_ids),
                ";".join(item.invoice_numbers),
                ";".join(item.pdf_paths),
                item.entry_id,
            ]
            yield [
                cell if column in ("total", "amount") else neutralise(cell)
                for column, cell in zip(REIMBURSEMENT_COLUMNS, text, strict=True)
            ]


def reimbursement_document(
    records: Sequence[Reimbursement], statuses: Mapping[str, str]
) -> dict[str, Any]:
    """The JSON document of ``records``."""
    return {
        "reimbursements": [
            {
                "reimbursement_id": r.reimbursement_id,
                "employee": {
                    "id": r.employee_id,
                    "name": r.employee_name,
                    "email": r.employee_email,
                },
                "period": {"start": r.period_start.isoformat(), "end": r.period_end.isoformat()},
                "status": statuses.get(r.reimbursement_id, "open"),
                "currency": r.currency,
                "total": decimal_text(r.total, r.currency),
                "transactions": [
                    {
                        "transaction_id": item.transaction_id,
                        "date": item.date.isoformat(),
                        "amount": decimal_text(item.amount, r.currency),
                        "order_ids": list(item.order_ids),
                        "invoice_numbers": list(item.invoice_numbers),
                        "pdf_paths": list(item.pdf_paths),
                        "journal_entry_id": item.entry_id,
                        "journal_lines": [
                            {
                                "account": line.account,
                                "debit": decimal_text(line.debit, r.currency) if line.debit else "",
                                "credit": decimal_text(line.credit, r.currency)
                                if line.credit
                                else "",
                            }
                            for line in (item.entry.lines if item.entry else ())
                        ],
                    }
                    for item in r.items
                ],
            }
            for r in records
        ]
    }


def write_reimbursements(
    fmt: str, records: Sequence[Reimbursement], statuses: Mapping[str, str], out: Path
) -> ExportResult:
    """Write ``records`` (with their ``statuses``) to ``out`` as ``fmt`` (csv or json)."""
    lines = sum(len(r.items) for r in records)
    if fmt == "csv":
        with atomic_text(out) as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(REIMBURSEMENT_COLUMNS)
            writer.writerows(_rows(records, statuses))
    elif fmt == "json":
        text = json.dumps(reimbursement_document(records, statuses), indent=2, ensure_ascii=False)
        with atomic_text(out) as stream:
            stream.write(text + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(REIMBURSEMENT_FORMATS)})")
    return ExportResult((out,), len(records), lines)
