"""Journal export at scale: a million journal lines written as generic CSV and as beancount.

Entries are generated lazily, one at a time, by a generator shaped like a year of Amazon
Business card purchases: each entry has three lines (the expense on one of 24 accounts, 19 % or
7 % input tax, the company card among 60), a log-normal amount around 60.00, a date in 2025, a
transaction id, an order id and an invoice number. Nothing is ever held in a list: the writer
pulls an entry, writes it and drops it, so the memory a run needs must not depend on how many
lines it writes.

Each (format, size) pair runs in a fresh child process, which measures:

* **time**: ``write_journal`` from the first entry generated to the file renamed in place
  (generation included; the ``generate`` row times the generator alone, for reference);
* **RSS growth**: the child's peak resident memory (``ru_maxrss``) minus its resident memory
  just before the export (imports done);
* **tracemalloc peak** (a second, slower pass in the same child, unless ``--no-tracemalloc``):
  the peak of the Python allocations during the export, the 1 MiB output buffer included.

Both sizes are run (``--lines`` and ``--lines / 10``) so the two peaks can be compared: they are
the same when memory does not grow with the number of lines. Goal: < 15 s per format at
1,000,000 lines.

    .venv/bin/python benchmarks/export.py                              # 1,000,000 and 100,000
    .venv/bin/python benchmarks/export.py --lines 300000 --formats csv,beancount,hledger,datev
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worker.accounting.journal import JournalEntry, JournalLine  # noqa: E402
from worker.formats import (  # noqa: E402
    JOURNAL_EXTENSIONS,
    JOURNAL_FORMATS,
    FormatOptions,
    write_journal,
)

START = date(2025, 1, 1)
_EXPENSES = tuple(
    f"Expenses:{name}"
    for name in (
        "Office:Supplies",
        "Office:Furniture",
        "Office:Paper",
        "IT:Hardware",
        "IT:Software",
        "IT:Cables",
        "Facilities:Cleaning",
        "Facilities:Kitchen",
        "Facilities:Repairs",
        "Lab:Consumables",
        "Lab:Equipment",
        "Shipping:Packaging",
        "Marketing:Print",
        "Marketing:Events",
        "Training:Books",
        "Travel:Accessories",
        "Safety:Equipment",
        "Warehouse:Tools",
        "Warehouse:Shelving",
        "Fleet:Parts",
        "HR:Gifts",
        "Medical:Supplies",
        "Security:Hardware",
        "Misc:Purchases",
    )
)
_TAX = "Assets:Tax:Recoverable"
_CARDS = tuple(f"Liabilities:CreditCard:{4000 + 37 * n:04d}" for n in range(60))
_RATES = (Decimal("0.19"), Decimal("0.07"))
_CENT = Decimal("0.01")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _code(rng: random.Random, length: int) -> str:
    bits = rng.getrandbits(6 * length)
    return "".join(_ALPHABET[(bits >> (6 * k)) % 36] for k in range(length))


def entries(count: int, seed: int) -> Iterator[JournalEntry]:
    """``count`` card purchases of three lines each, made one at a time."""
    rng = random.Random(seed)
    for n in range(count):
        net = Decimal(max(1, round(rng.lognormvariate(math.log(6000), 0.9)))).scaleb(-2)
        tax = (net * _RATES[n % 7 == 0]).quantize(_CENT, ROUND_HALF_UP)
        order = f"{rng.randrange(100, 999)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
        code = _code(rng, 10)
        yield JournalEntry(
            f"AB-{code}",
            START + timedelta(days=n * 365 // count),
            "EUR",
            (
                JournalLine(rng.choice(_EXPENSES), net, Decimal(0), memo="Item purchase"),
                JournalLine(_TAX, tax, Decimal(0), role="tax", tax_code="DE19"),
                JournalLine(rng.choice(_CARDS), Decimal(0), net + tax, role="payment"),
            ),
            narration=f"Order {order}",
            transaction_ids=(code,),
            order_ids=(order,),
            invoice_numbers=(f"DE5AB-{code[:6]}",),
        )


def options() -> FormatOptions:
    """Account numbers for DATEV (and codes for Xero/NetSuite), as a real setup would have."""
    names = (*_EXPENSES, _TAX, *_CARDS)
    codes = {name: str(4000 + n) for n, name in enumerate(names)}
    return FormatOptions(account_codes=codes, datev_tax_keys={"DE19": "9"})


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(fmt: str, count: int, seed: int, folder: Path, traced: bool) -> dict[str, object]:
    """One format at one size, in this (fresh) process."""
    out = folder / f"journal{JOURNAL_EXTENSIONS.get(fmt, '.out')}"
    settings = options()
    gc.collect()
    rss_before = _rss_mb()
    started = time.perf_counter()
    if fmt == "generate":
        lines = sum(len(entry.lines) for entry in entries(count, seed))
        written = 0
    else:
        result = write_journal(fmt, entries(count, seed), out, settings)
        lines = result.lines
        written = sum(path.stat().st_size for path in result.files)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    traced_peak = None
    if traced:
        import tracemalloc

        gc.collect()
        tracemalloc.start()
        if fmt == "generate":
            for _ in entries(count, seed):
                pass
        else:
            write_journal(fmt, entries(count, seed), out, settings)
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {
        "format": fmt,
        "lines": lines,
        "bytes": written,
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "rss_growth_mb": max(0.0, peak - rss_before),
        "traced_peak_mb": traced_peak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="journal lines (3 an entry)")
    parser.add_argument("--formats", default="csv,beancount", help="comma-separated formats")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced pass")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = child(args.child, args.entries, args.seed, args.folder, not args.no_tracemalloc)
        print(json.dumps(figures))
        return 0

    formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    unknown = [name for name in formats if name not in JOURNAL_FORMATS]
    if unknown:
        parser.error(f"unknown formats {unknown}; known: {', '.join(JOURNAL_FORMATS)}")
    sizes = [args.lines, max(3, args.lines // 10)]
    print(f"{'format':<10} {'lines':>10} {'MB':>7} {'seconds':>8} {'lines/s':>10} "
          f"{'RSS growth':>11} {'traced peak':>12}")  # fmt: skip
    for fmt in ["generate", *formats]:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="abrecon-export-") as tmp:
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    fmt,
                    "--entries",
                    str(math.ceil(size / 3)),
                    "--seed",
                    str(args.seed),
                    "--folder",
                    tmp,
                ]
                if args.no_tracemalloc:
                    command.append("--no-tracemalloc")
                done = subprocess.run(command, check=True, capture_output=True, text=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            traced = row["traced_peak_mb"]
            traced_text = f"{traced:9.2f} MB" if traced is not None else f"{'-':>12}"
            print(
                f"{fmt:<10} {row['lines']:>10,} {row['bytes'] / 2**20:7.1f} "
                f"{row['seconds']:8.2f} {row['lines'] / row['seconds']:10,.0f} "
                f"{row['rss_growth_mb']:8.1f} MB {traced_text}",
                flush=True,
            )
    print("goal: < 15 s per format at 1,000,000 lines; equal peaks at both sizes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
