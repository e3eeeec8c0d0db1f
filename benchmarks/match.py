"""Matching at scale: ``match`` on N transactions and N ledger lines, against merely parsing them.

The parent process invents a year of Amazon Business purchasing in memory (cheaply, but shaped
like the sandbox generator's): orders of one to three shipments, one ``CHARGE`` per shipment,
some refunds; about 2,000 company cards and Pay by Invoice; invoice numbers, charge identifiers,
purchase orders (a few of them blanket POs shared by thousands of orders). The ledger books
most charges 0-5 days later (a few 1-2 days early) as card-statement lines (amount and card
only), lines quoting the order id, the invoice number or the charge identifier, one line for
all the shipments of some orders, a charge split over two lines quoting its invoice, a few
amounts off by a cent, some transactions never booked, and other vendors' lines (some with the
very amount of an Amazon charge) to make up N lines. Amounts are log-normal around 60.00, and
15 % repeat one of 3,000 catalog prices (reorders of the same items). Both lists come in date
order, as the store and ledger exports deliver them (``--shuffle`` shuffles them instead: the
worst case for memory locality), and are written as CSV to a temporary directory, with the
true links.

A child process then times, separately:

* **parse**: reading both CSV files with the ``csv`` module into ``Txn``/``Entry`` records
  (``Decimal`` amounts, ``date`` objects, frozen sets of references), keeping one ``date``
  object a day and one string per currency code and card number, as an importer of a large
  export would (``--plain-parse``: one object per field per row, as ``csv`` gives them: the
  inputs then take about 280 MB more at a million rows each, for the same parse time);
* **match**: ``worker.reconcile.match`` on those records (default configuration).

Printed: both times and their ratio (goal: match <= 3 x parse), the child's peak resident
memory and how much the match added to it (goal: peak <= 2 GB), the match's own peak Python
allocations when ``--tracemalloc`` is given (slower: it is a separate run), and the quality
of the result against the true links (precision, recall) with match and zone counts.

    .venv/bin/python benchmarks/match.py                  # 1,000,000 x 1,000,000
    .venv/bin/python benchmarks/match.py --size 100000 --seed 7
    .venv/bin/python benchmarks/match.py --shuffle --plain-parse
"""

from __future__ import annotations

import argparse
import csv
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
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worker.reconcile import Entry, MatchResult, Txn, TxnKind, match  # noqa: E402

START = date(2025, 1, 1)
DAYS = 365
_VENDORS = (
    "STAPLES 00421 BOSTON MA",
    "OFFICE DEPOT #1123",
    "UBER   *TRIP HELP.UBER.COM",
    "DELTA AIR 0062345987654",
    "ADOBE  *CREATIVE CLOUD",
    "W.W. GRAINGER 9173",
    "COSTCO WHSE #0482",
    "ZOOM.US 888-799-9666",
    "FEDEX 783349221",
)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def _code(rng: random.Random, length: int) -> str:
    bits = rng.getrandbits(6 * length)
    return "".join(_ALPHABET[(bits >> (6 * k)) % 36] for k in range(length))


def generate(
    size: int, seed: int, shuffle: bool = False
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """``size`` transaction rows and ``size`` ledger rows (CSV fields), and the true links.

    Rows come in date order, as the store and a ledger export deliver them (ledger ids follow
    posting order), or shuffled when ``shuffle`` (the worst case for memory locality).
    """
    rng = random.Random(seed)
    rand = rng.random
    cards = [f"{rng.randrange(10000):04d}" for _ in range(2000)]
    blanket = [f"PO-2025-B{k:04d}" for k in range(50)]
    days = [START + timedelta(days=d) for d in range(DAYS + 40)]
    iso = [d.isoformat() for d in days]
    mu, sigma = math.log(6_000), 1.0  # cents: a median charge of 60.00
    catalog = [max(100, int(rng.lognormvariate(mu, sigma))) for _ in range(3000)]

    def amount() -> int:
        """A charge in cents: mostly spread out, some repeat purchases at catalog prices."""
        if rand() < 0.15:
            return rng.choice(catalog)
        return min(2_000_000, max(100, int(rng.lognormvariate(mu, sigma))))

    txns: list[list[str]] = []
    lines: list[list[str]] = []
    truth: list[list[str]] = []
    amazon: list[tuple[int, int, str]] = []  # (cents, day, card) of charges, for decoys

    def money(cents: int) -> str:
        sign = "-" if cents < 0 else ""
        cents = abs(cents)
        return f"{sign}{cents // 100}.{cents % 100:02d}"

    def book(day: int, cents: int, card: str, text: str, tids: list[str]) -> None:
        entry_id = f"GL-{len(lines):08d}"
        lines.append([entry_id, iso[day], money(cents), "USD", card, text])
        truth.extend([entry_id, tid] for tid in tids)

    def posting(day: int) -> int:
        return max(0, day - rng.randint(1, 2)) if rand() < 0.03 else day + rng.randint(0, 5)

    while len(txns) < size:
        order_day = rng.randrange(DAYS)
        order_id = f"11{rng.randint(1, 4)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
        card = rng.choice(cards) if rand() < 0.8 else ""
        r = rand()
        po = f"PO-2025-{rng.randrange(10**6):06d}" if r < 0.65 else ""
        if 0.65 <= r < 0.70:
            po = rng.choice(blanket)
        shipments = rng.choices((1, 2, 3), (60, 28, 12))[0]
        charges: list[tuple[str, int, int, str, str]] = []  # id, day, cents, invoice, charge id
        for _ in range(min(shipments, size - len(txns))):
            tid = f"{rng.getrandbits(100):025x}"[:20]
            day = order_day + rng.randint(0, 3)
            cents = amount()
            invoice = f"{_code(rng, 4)}-{_code(rng, 4)}-{_code(rng, 4)}" if rand() < 0.85 else ""
            charge_id = _code(rng, 9)
            refs = "|".join(x for x in (order_id, po, invoice, charge_id) if x)
            txns.append([tid, iso[day], money(cents), "USD", card, refs, "CHARGE"])
            charges.append((tid, day, cents, invoice, charge_id))
            amazon.append((cents, day, card))
        if len(charges) >= 2 and rand() < 0.15:  # one line for every shipment of the order
            last = max(c[1] for c in charges)
            text = f"{order_id} AMAZON BUSINESS ORDER {order_id} ({len(charges)} SHIPMENTS)"
            book(posting(last), sum(c[2] for c in charges), card, text, [c[0] for c in charges])
            charges_to_book = []
        else:
            charges_to_book = charges
        for tid, day, cents, invoice, charge_id in charges_to_book:
            r = rand()
            if r < 0.04:
                continue  # never booked
            booked_card = card if rand() < 0.9 else ""
            when = posting(day)
            if r < 0.50:
                off = rng.choice((-1, 1)) if rand() < 0.03 else 0  # rounding differences
                book(when, cents + off, booked_card, f"AMAZON MKTPL*{_code(rng, 9)}", [tid])
            elif r < 0.75:
                book(
                    when, cents, booked_card, f"{order_id} AMAZON BUSINESS ORDER {order_id}", [tid]
                )
            elif r < 0.94 and invoice:
                book(when, cents, booked_card, f"{invoice} AMAZON INVOICE {invoice}", [tid])
            elif r < 0.98 or not invoice or cents < 2:
                book(when, cents, booked_card, f"AMAZON MKTPL*{charge_id}", [tid])
            else:  # split over two lines, both quoting the invoice
                part = rng.randint(1, cents - 1)
                book(when, part, booked_card, f"{invoice} AMAZON INVOICE {invoice} 1/2", [tid])
                book(
                    when,
                    cents - part,
                    booked_card,
                    f"{invoice} AMAZON INVOICE {invoice} 2/2",
                    [tid],
                )
        if charges and len(txns) < size and rand() < 0.08:  # a return
            _, day0, cents0, _, _ = rng.choice(charges)
            tid = f"{rng.getrandbits(100):025x}"[:20]
            day = day0 + rng.randint(5, 30)
            cents = -max(1, int(cents0 * rng.choice((0.25, 0.5, 1.0))))
            invoice = f"{_code(rng, 4)}-{_code(rng, 4)}-{_code(rng, 4)}"
            refs = "|".join(x for x in (order_id, po, invoice, _code(rng, 9)) if x)
            txns.append([tid, iso[day], money(cents), "USD", card, refs, "REFUND"])
            if rand() < 0.95:
                text = f"AMAZON MKTPL*{_code(rng, 9)} REFUND"
                book(posting(day), cents, card if rand() < 0.9 else "", text, [tid])
    # Other vendors up to ``size`` lines; one in ten with the amount of an Amazon charge.
    while len(lines) < size:
        if rand() < 0.1 and amazon:
            cents, day, _ = rng.choice(amazon)
            day += rng.randint(1, 2)
        else:
            cents, day = amount(), rng.randrange(DAYS)
        card = rng.choice(cards) if rand() < 0.8 else ""
        book(day, cents, card, rng.choice(_VENDORS), [])
    del lines[size:]
    if shuffle:
        rng.shuffle(txns)
        rng.shuffle(lines)
    else:
        txns.sort(key=lambda row: row[1])
        lines.sort(key=lambda row: row[1])
    renamed = {}
    for number, line in enumerate(lines):
        renamed[line[0]] = line[0] = f"GL-{number:08d}"
    truth = [[renamed[entry_id], tid] for entry_id, tid in truth if entry_id in renamed]
    return txns, lines, truth


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


# ---------------------------------------------------------------------------------------------
# Parsing (the baseline) and matching, in the child
# ---------------------------------------------------------------------------------------------


class Shared:
    """One ``date`` object a day and one string per currency code and card number, for
    every row of both files, as an importer of a large export keeps them (rather than one
    object per field per row, as ``csv`` and ``date.fromisoformat`` give them)."""

    def __init__(self) -> None:
        self.days: dict[str, date] = {}
        self.texts: dict[str, str] = {"": ""}


def parse_txns(path: Path, shared: Shared | None = None) -> list[Txn]:
    """``Txn`` records of a transactions file; without ``shared``, every field of every row
    is an object of its own."""
    kinds = {kind.value: kind for kind in TxnKind}
    empty: frozenset[str] = frozenset()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        if shared is None:
            return [
                Txn(
                    tid,
                    date.fromisoformat(day),
                    Decimal(amount),
                    currency,
                    card,
                    frozenset(refs.split("|")) if refs else empty,
                    kinds[kind],
                )
                for tid, day, amount, currency, card, refs, kind in reader
            ]
        days, same = shared.days, shared.texts.setdefault
        return [
            Txn(
                tid,
                days[day] if day in days else days.setdefault(day, date.fromisoformat(day)),
                Decimal(amount),
                same(currency, currency),
                same(card, card),
                frozenset(refs.split("|")) if refs else empty,
                kinds[kind],
            )
            for tid, day, amount, currency, card, refs, kind in reader
        ]


def parse_entries(path: Path, shared: Shared | None = None) -> list[Entry]:
    """``Entry`` records of a ledger file (``shared`` as for :func:`parse_txns`)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        if shared is None:
            return [
                Entry(entry_id, date.fromisoformat(day), Decimal(amount), currency, card, text)
                for entry_id, day, amount, currency, card, text in reader
            ]
        days, same = shared.days, shared.texts.setdefault
        return [
            Entry(
                entry_id,
                days[day] if day in days else days.setdefault(day, date.fromisoformat(day)),
                Decimal(amount),
                same(currency, currency),
                same(card, card),
                text,
            )
            for entry_id, day, amount, currency, card, text in reader
        ]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(directory: Path, traced: bool, plain: bool) -> dict[str, object]:
    gc.collect()
    started = time.perf_counter()
    shared = None if plain else Shared()
    txns = parse_txns(directory / "transactions.csv", shared)
    entries = parse_entries(directory / "ledger.csv", shared)
    del shared
    parse_seconds = time.perf_counter() - started
    gc.collect()
    rss_before = _rss_mb()
    peak_before = _peak_mb()
    traced_peak = None
    if traced:
        import tracemalloc

        tracemalloc.start()
    started = time.perf_counter()
    result = match(txns, entries)
    match_seconds = time.perf_counter() - started
    if traced:
        import tracemalloc

        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    peak_after = _peak_mb()
    quality = _quality(result, directory / "truth.csv")
    return {
        "transactions": len(txns),
        "entries": len(entries),
        "parse_seconds": parse_seconds,
        "match_seconds": match_seconds,
        "rss_before_match_mb": rss_before,
        "peak_before_match_mb": peak_before,
        "peak_mb": peak_after,
        "traced_match_peak_mb": traced_peak,
        **quality,
    }


def _quality(result: MatchResult, truth_path: Path) -> dict[str, object]:
    with truth_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        truth = {(entry_id, tid) for entry_id, tid in reader}
    predicted = {(e, t) for m in result.matches for e in m.entry_ids for t in m.transaction_ids}
    hits = len(predicted & truth)
    return {
        "matches": len(result.matches),
        "unmatched_transactions": len(result.unmatched_transactions),
        "unmatched_entries": len(result.unmatched_entries),
        "problems": {p.code: len(p.ids) for p in result.problems},
        "rules": dict(Counter(m.rule for m in result.matches).most_common()),
        "zones": dict(Counter(m.zone.value for m in result.matches)),
        "precision": hits / len(predicted) if predicted else 1.0,
        "recall": hits / len(truth) if truth else 1.0,
    }


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="transactions = lines")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the match")
    parser.add_argument("--shuffle", action="store_true", help="inputs in random order")
    parser.add_argument(
        "--plain-parse",
        action="store_true",
        help="parse every field into an object of its own (no shared dates, codes, cards)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.tracemalloc, args.plain_parse)))
        return 0

    started = time.perf_counter()
    txns, lines, truth = generate(args.size, args.seed, args.shuffle)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="abrecon-match-") as tmp:
        directory = Path(tmp)
        write_csv(
            directory / "transactions.csv",
            ["transaction_id", "date", "amount", "currency", "card_last4", "references", "kind"],
            txns,
        )
        write_csv(
            directory / "ledger.csv",
            ["entry_id", "date", "amount", "currency", "card_last4", "text"],
            lines,
        )
        write_csv(directory / "truth.csv", ["entry_id", "transaction_id"], truth)
        del txns, lines, truth
        print(
            f"generated and written in {time.perf_counter() - started:.1f} s "
            f"(generation {generated:.1f} s)",
            flush=True,
        )
        command = [sys.executable, __file__, "--child", str(directory)]
        if args.tracemalloc:
            command.append("--tracemalloc")
        if args.plain_parse:
            command.append("--plain-parse")
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    ratio = figures["match_seconds"] / figures["parse_seconds"]
    added = figures["peak_mb"] - figures["rss_before_match_mb"]
    print(f"transactions {figures['transactions']:,}  ledger lines {figures['entries']:,}")
    print(f"parse  {figures['parse_seconds']:7.2f} s   (csv -> Txn/Entry)")
    print(f"match  {figures['match_seconds']:7.2f} s")
    print(f"ratio  {ratio:7.2f}      (goal <= 3)")
    print(
        f"memory peak {figures['peak_mb']:,.0f} MB (goal <= 2048), inputs alone "
        f"{figures['rss_before_match_mb']:,.0f} MB, match added {max(0.0, added):,.0f} MB"
    )
    if figures["traced_match_peak_mb"] is not None:
        traced = figures["traced_match_peak_mb"]
        print(f"tracemalloc peak of the match's own allocations {traced:,.0f} MB")
    print(
        f"precision {figures['precision']:.4%}  recall {figures['recall']:.4%}  "
        f"matches {figures['matches']:,}  unmatched transactions "
        f"{figures['unmatched_transactions']:,}  unmatched lines {figures['unmatched_entries']:,}"
    )
    print(f"rules {figures['rules']}")
    print(f"zones {figures['zones']}  problems {figures['problems']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
