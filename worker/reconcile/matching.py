"""The matching engine: Amazon transactions against ledger lines, globally and explainably.

:func:`match` pairs :class:`~worker.reconcile.records.Txn` with
:class:`~worker.reconcile.records.Entry` in three phases; inside a phase every rule proposes
candidates, each candidate is scored from its evidence (:mod:`worker.reconcile.scoring`), and
the candidates are taken greedily, best score first, skipping any that reuses an item already
taken. Ties are broken by the members' ids, never by input or hash order, so the result does
not depend on the order of the input.

1. **References and exact amounts.** A reference of the transaction (order id, invoice
   number, purchase-order number, charge identifier) quoted as a whole token in the ledger
   text, with the amount agreeing exactly or within tolerance (``reference``); or the ledger
   line quotes a reference shared by several transactions and a subset of them sums to it
   (``many_to_one``: one line booking every shipment of an order), or several lines quote the
   transaction's references and sum to it (``one_to_many``). Alongside, every transaction
   with a ledger line of the same amount whose date falls in the asymmetric window
   ``[txn date - before, txn date + after]`` and whose card is compatible (equal, or unknown on
   either side) is a candidate (``amount_date``). A quoted reference outweighs a bare amount,
   and ambiguity (two ledger lines of the same amount in the window) lowers both candidates'
   scores, so a reference or an unambiguous amount wins.
2. **Tolerance.** Among what is left, amounts within ``max(tolerance_absolute,
   tolerance_relative * |amount|)`` in the window, the gap kept as the match's ``difference``
   (``tolerance``). Exact candidates never compete with tolerance ones: they were settled
   first.
3. **Groups without references.** Among what is left, one ledger line for several
   transactions of the same day and card, or of the same order (sharing a reference the
   line does not quote), and one transaction split over several lines of one day and card:
   a bounded subset sum (:mod:`worker.reconcile.subsets`) inside each small group. These are
   always ``review``: only a sum links them. A group so large that even a perfect sum could
   not reach the review threshold (the more subsets, the likelier a hit by chance) is not
   searched at all.

Credits (refunds, over-refunds) go through the same rules against negative ledger lines (the
sign convention is in :mod:`worker.reconcile.records`); their rule names start with
``refund_``. A charge never matches a credit.

**Global consistency.** Candidates are taken best first and an item is used once. A candidate
that lost only because others competed for its items gets another round once those are out
of the running (review zone). Greedy by score rather than a maximum-weight assignment: scores
are per-candidate evidence, not joint probabilities, and "most certain first" never trades one
near-certain match for two doubtful ones (the choice Odoo and GnuCash make too).

**Zones.** A match is ``auto`` when its score reaches ``auto_threshold``, nothing
contradicts it (no differing card, no date outside the window, not a reference-less group,
not taken in a later round once its competitors were gone) and something beyond amount and
date corroborates it (a quoted reference, the same card, or the merchant named on the line);
otherwise ``review``. Candidates below ``review_threshold`` are not proposed.

**Decisions.** Kept (confirmed or manual) matches come back unchanged and their items never
enter the pool; rejected pairs and rejected match ids are never proposed again.

**Unmatched items** come back with up to ``max_nearest`` nearest candidates (items quoting a
reference of it, items of the same amount at the nearest dates, the nearest amounts on each
day of the window) and, for each, every reason it failed: other currency or sign, amount off by
how much, how many days outside the window, card differs, rejected, already in another match,
or scored below the review threshold.

**Scale.** Nothing compares every transaction with every ledger line. Transactions are
indexed by reference token, ledger lines by (currency, amount in minor units) with each
bucket sorted by date and searched by bisection, and by (currency, day) with amounts sorted
for tolerance searches; arithmetic is on integers. Per-item facts are columns (lists and
byte arrays indexed by item, built by C loops over the records; equal amounts share one int
object), the reference index is dropped before its candidates are selected, and the
selection consumes its candidates as it turns them into matches, so that a million
candidates do not outlive their use beside a million matches. ``benchmarks/match.py``
measures one million transactions against one million ledger lines.
"""

from __future__ import annotations

import gc
import heapq
import math
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from decimal import ROUND_FLOOR, Context, Decimal, Inexact
from itertools import chain, compress, groupby, islice, repeat, tee
from operator import and_, attrgetter, is_, le, lt, ne
from typing import TypeVar, cast

from worker.reconcile import scoring
from worker.reconcile.records import (
    Candidate,
    Decisions,
    Entry,
    Match,
    MatchConfig,
    MatchResult,
    Problem,
    Rule,
    Side,
    Txn,
    TxnKind,
    Unmatched,
    Zone,
    match_id,
)
from worker.reconcile.subsets import best_subset, subset_sums
from worker.reconcile.tokens import ASCII_TOKEN, TOKEN, tokenize

__all__ = ["match"]

REFERENCE = "reference"
AMOUNT_DATE = "amount_date"
TOLERANCE = "tolerance"
MANY_TO_ONE = "many_to_one"
ONE_TO_MANY = "one_to_many"
REFUND_PREFIX = "refund_"
#: Rule names of credits, one string object each.
_REFUND_RULES = {
    rule: REFUND_PREFIX + rule
    for rule in (REFERENCE, AMOUNT_DATE, TOLERANCE, MANY_TO_ONE, ONE_TO_MANY)
}
#: 1:1 matches are made in batches of this many candidates.
_BATCH = 4096

#: A reference shared by more transactions than this (a blanket purchase order) is looked up
#: by amount instead of being scanned, and defines no group.
_BROAD_REFERENCE = 32
#: Buckets of one amount longer than this are sorted by date and bisected.
_SORTED_BUCKET = 8
#: At most this many same-amount candidates per transaction (the nearest dates): beyond a few,
#: a bare amount says nothing and every one of them would score far below review.
_MAX_AMOUNT_CANDIDATES = 16
#: Of many items with one amount on one day, diagnostics look at the first few ids.
_NEAREST_PER_AMOUNT = 2
#: The bytes of clean upper-case ASCII references joined by newlines (see
#: :func:`_clean_references`), and a table mapping every inner separator to ``-``.
_CLEAN_BYTES = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\n_./-"
_ONE_SEPARATOR = bytes.maketrans(b"_./", b"---")
#: References checked per joined block (a few megabytes at a time, not one huge string).
_CHECK_BLOCK = 1 << 16
_ZERO = Decimal(0)
#: Signals a product of amount and scale factor that is not integral.
_EXACT = Context(traps=[Inexact])
#: Amounts in minor units below this are formatted with integer arithmetic (well inside the
#: default decimal precision, where ``Decimal.scaleb`` is exact too).
_EXACT_DIGITS = 10**20
_ID = attrgetter("id")
_TXN_ID = attrgetter("transaction_id")
_ENTRY_ID = attrgetter("entry_id")
_AMOUNT = attrgetter("amount")
_CURRENCY = attrgetter("currency")
_DATE = attrgetter("date")
_CARD = attrgetter("card_last4")
_TEXT = attrgetter("text")
_KIND = attrgetter("kind")
_ENTRY_IDS = attrgetter("entry_ids")
#: Stands for the card numbers in explanation templates.
_CARDS = "\x00"

#: The fields of :class:`Match`, set directly on new instances in the hot path of 1:1
#: matches: what the frozen dataclass's ``__init__`` does, without one
#: ``object.__setattr__`` call per field (a million matches).
_MATCH_FIELDS = (
    "transaction_ids",
    "entry_ids",
    "rule",
    "score",
    "explanation",
    "difference",
    "zone",
)
if {f.name for f in fields(Match)} != set(_MATCH_FIELDS) or hasattr(Match, "__post_init__"):
    raise TypeError("worker.reconcile.matching must set every field of Match")  # pragma: no cover
_MATCH_SETTERS = tuple(Match.__dict__[name].__set__ for name in _MATCH_FIELDS)

_Bucket = int | list[int] | tuple[list[int], list[int]]
#: Items of one day and currency: (amounts ascending, item indexes in that order).
_DayBucket = tuple["Sequence[int]", "array[int]"]
#: The facts an explanation is made of (see :meth:`_Matcher._explain_tail`).
_Evidence = tuple[str, int, int, int, int, int, int, int, int, str, bool, int, int, bool, int, bool]
#: A 1:1 candidate: (weight, txn, entry, rule, diff, offset, outside, card, ref, share), the
#: fields of :class:`_Cand`; most candidates are 1:1 and a tuple is much cheaper than an object.
_Pair = tuple[int, int, int, str, int, int, int, int, str, int]
_R = TypeVar("_R", Txn, Entry)


def match(
    txns: Iterable[Txn],
    entries: Iterable[Entry],
    config: MatchConfig | None = None,
    decisions: Decisions | None = None,
) -> MatchResult:
    """Match Amazon transactions against ledger lines.

    Every valid input item ends up in exactly one place: in one match, or in the unmatched
    list of its side. Pure: the result depends on the arguments alone (not on their order);
    lists are read, never changed (nor copied). The cyclic garbage collector is paused during
    the call and restored after it (the matcher's objects hold no reference cycles).
    """
    collecting = gc.isenabled()
    gc.disable()  # millions of acyclic objects: full collections would walk them repeatedly
    try:
        txn_list = txns if isinstance(txns, list) else list(txns)
        entry_list = entries if isinstance(entries, list) else list(entries)
        matcher = _Matcher(txn_list, entry_list, config or MatchConfig(), decisions or Decisions())
        return matcher.run()
    finally:
        if collecting:
            gc.enable()


class _Cand:
    """A candidate match and the evidence behind it (members are item indexes)."""

    __slots__ = (
        "card",
        "competitors",
        "diff",
        "es",
        "later",
        "offset",
        "others",
        "outside",
        "ref",
        "rule",
        "score",
        "share",
        "shared_ref",
        "subsets",
        "ts",
        "weight",
    )

    def __init__(
        self,
        ts: tuple[int, ...],
        es: tuple[int, ...],
        rule: str,
        weight: int,
        diff: int,
        offset: int,
        outside: int,
        card: int,
        ref: str = "",
        share: int = 0,
    ) -> None:
        self.ts = ts
        self.es = es
        self.rule = rule
        self.weight = weight  # scoring.weight of the log-odds
        self.diff = diff
        self.offset = offset  # ledger date minus transaction date (the last one of a group)
        self.outside = outside  # days outside the window
        self.card = card  # +1 agree, 0 unknown, -1 differ
        self.ref = ref
        self.share = share
        self.subsets = 0
        self.others = 0
        self.shared_ref = False
        self.score = 0.0
        self.competitors = 0
        self.later = False  # taken in a later round, once its competitors were gone

    @classmethod
    def of(cls, p: _Pair) -> _Cand:
        """The candidate of a 1:1 tuple."""
        return cls((p[1],), (p[2],), p[3], p[0], p[4], p[5], p[6], p[7], p[8], p[9])

    def pair(self) -> _Pair:
        """The 1:1 tuple of this candidate (``ts`` and ``es`` of one item each)."""
        return (
            self.weight,
            self.ts[0],
            self.es[0],
            self.rule,
            self.diff,
            self.offset,
            self.outside,
            self.card,
            self.ref,
            self.share,
        )


_Found = dict[tuple[tuple[int, ...], tuple[int, ...]], _Cand]


class _Matcher:
    """The state of one :func:`match` call (indexes over items, free flags, results)."""

    def __init__(
        self, txns: list[Txn], entries: list[Entry], config: MatchConfig, decisions: Decisions
    ) -> None:
        self.cfg = config
        self.decisions = decisions
        self.rules = config.rules
        self.before = config.window_before_days
        self.after = config.window_after_days
        self.problems: list[Problem] = []
        self._too_large: set[str] = set()
        self._capped: set[str] = set()
        self.T, self.tid = self._dedupe(txns, Side.TRANSACTION)
        self.E, self.eid = self._dedupe(entries, Side.ENTRY)
        nt, ne = len(self.T), len(self.E)
        self.nt, self.ne = nt, ne
        # Per-item columns, built by C loops (``map``) over the records.
        # Currencies numbered in order of first appearance.
        names = dict.fromkeys(chain(map(_CURRENCY, self.T), map(_CURRENCY, self.E)))
        currencies = {name: index for index, name in enumerate(names)}
        self.ncur = max(1, len(currencies))
        number = currencies.__getitem__
        # Currency numbers: one byte an item when they fit (they always do in practice).
        column = bytearray if self.ncur <= 256 else list
        self.tc: Sequence[int] = column(map(number, map(_CURRENCY, self.T)))
        self.ec: Sequence[int] = column(map(number, map(_CURRENCY, self.E)))
        self.currency_names = {index: name for name, index in currencies.items()}
        days = {*map(_DATE, self.T), *map(_DATE, self.E)}
        ordinal = {day: day.toordinal() for day in days}.__getitem__  # shared int objects
        self.td = list(map(ordinal, map(_DATE, self.T)))
        self.ed = list(map(ordinal, map(_DATE, self.E)))
        del days, ordinal
        self.tcard: list[str] = list(map(_CARD, self.T))
        self.ecard: list[str] = list(map(_CARD, self.E))
        self.e_merchant = _merchant_flags(self.E, config.merchant_names)
        self.scale, self.tu, self.eu = self._units()
        factor = Decimal(10) ** self.scale
        self.tol_abs = int((config.tolerance_absolute * factor).to_integral_value(ROUND_FLOOR))
        self.tol_rel = config.tolerance_relative
        credits = Rule.REFUND in self.rules
        # Items the amount rules may use: a non-zero amount, and credits only when allowed.
        usable = bool if credits else (0).__lt__  # u != 0, or u > 0
        self.t_ok = bytearray(map(usable, self.tu))
        self.e_ok = bytearray(map(usable, self.eu))
        self.t_free = bytearray(b"\x01") * nt
        self.e_free = bytearray(b"\x01") * ne
        self.t_owner: list[Match | None] = [None] * nt
        self.e_owner: list[Match | None] = [None] * ne
        self.e_first = bytearray(ne)  # 1 for the first entry (by id) of each match
        self.matches: list[Match] = []
        self.unselected: dict[int, float] = {}
        # Indexes of the ids the decisions name (a scan, not a dictionary of every id).
        named_t = {t for t, _ in decisions.rejected_pairs}
        named_e = {e for _, e in decisions.rejected_pairs}
        for kept in decisions.kept:
            named_t.update(kept.transaction_ids)
            named_e.update(kept.entry_ids)
        t_index = {x: i for i, x in enumerate(self.tid) if x in named_t} if named_t else {}
        e_index = {x: j for j, x in enumerate(self.eid) if x in named_e} if named_e else {}
        self.rejected = {
            t_index[t] * ne + e_index[e]
            for t, e in decisions.rejected_pairs
            if t in t_index and e in e_index
        }
        self.ref_index: dict[str, int | list[int]] = {}
        self.ref_multi: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        # Who quotes whom: (transaction, ledger line) pairs, as flat arrays.
        self.cite_t: array[int] = array("q")
        self.cite_e: array[int] = array("q")
        self._broad: dict[str, tuple[list[int], list[int]]] = {}
        self._shared: list[list[int]] = []  # transactions sharing a reference
        self._e_amounts: dict[int, _Bucket] | None = None
        self._t_amounts: dict[int, _Bucket] | None = None
        self._e_days: dict[int, _DayBucket] | None = None
        self._t_days: dict[int, _DayBucket] | None = None
        self._log = [0.0] + [math.log(k) for k in range(1, 64)]
        self._date_in = [
            scoring.date_evidence(offset, self.before, self.after)[0]
            for offset in range(-self.before, self.after + 1)
        ]
        self._explained: dict[_Evidence, str] = {}
        self._pair_tails: dict[bool, dict[tuple[object, ...], str]] = {False: {}, True: {}}
        self._pair_templates: dict[_Evidence, tuple[str, str] | None] = {}
        self._scores: dict[int, float] = {}
        self._score_objects: dict[float, float] = {}
        self._check_kinds()
        self._keep(t_index, e_index)

    # ----------------------------------------------------------------------------------------
    # Input

    def _dedupe(self, items: list[_R], side: Side) -> tuple[list[_R], list[str]]:
        """Items with a finite amount, one per id (the first by date, amount and content),
        and their ids."""
        ids: list[str] = list(map(_TXN_ID if side is Side.TRANSACTION else _ENTRY_ID, items))
        finite = all(map(Decimal.is_finite, map(_AMOUNT, items)))
        # Ids in ascending order (ledger exports usually come so) are distinct without a set.
        if finite and (_ascending(ids, strictly=True) or len(set(ids)) == len(ids)):
            return items, ids
        index: dict[str, int] = {}
        out: list[_R] = []
        duplicates: set[str] = set()
        bad: list[str] = []
        for key, item in zip(ids, items, strict=True):
            if not item.amount.is_finite():
                bad.append(key)
                continue
            k = index.get(key)
            if k is None:
                index[key] = len(out)
                out.append(item)
            else:
                duplicates.add(key)
                if _content(item) < _content(out[k]):
                    out[k] = item
        noun = "transaction" if side is Side.TRANSACTION else "ledger line"
        if duplicates:
            self.problems.append(
                Problem(
                    "duplicate_id",
                    f"{len(duplicates)} {noun} id(s) given more than once; one record of each "
                    "was kept (the first by date, amount and content)",
                    tuple(sorted(duplicates)),
                )
            )
        if bad:
            self.problems.append(
                Problem(
                    "bad_amount",
                    f"{len(bad)} {noun}(s) with an amount that is not a finite number; skipped",
                    tuple(sorted(bad)),
                )
            )
        return out, [_id_of(item) for item in out]

    def _units(self) -> tuple[int, list[int], list[int]]:
        """Amounts as integers in units of ``10**-scale``: 2 places unless an amount or the
        absolute tolerance needs more (then every amount uses the finest scale found)."""
        scale = 2
        while True:
            factor = Decimal(10) ** scale
            shared: dict[int, int] = {}  # one int object per distinct amount
            tu = _to_units(map(_AMOUNT, self.T), factor, shared)
            eu = _to_units(map(_AMOUNT, self.E), factor, shared) if tu is not None else None
            del shared
            tol = self.cfg.tolerance_absolute * factor
            if tu is not None and eu is not None and tol == tol.to_integral_value():
                return scale, tu, eu
            amounts = [t.amount for t in self.T] + [e.amount for e in self.E]
            amounts.append(self.cfg.tolerance_absolute)
            scale = max(scale + 1, *(-_exponent(a) for a in amounts))

    def _check_kinds(self) -> None:
        # Odd: a charge with a negative amount or another kind with a positive one, that is
        # a non-zero amount whose sign (positive?) is not its kind (a charge?). C loops.
        charges = map(is_, map(_KIND, self.T), repeat(TxnKind.CHARGE))
        odd_flags = map(and_, map(bool, self.tu), map(ne, map((0).__lt__, self.tu), charges))
        odd = list(compress(self.tid, odd_flags))
        if odd:
            self.problems.append(
                Problem(
                    "sign_kind_mismatch",
                    f"{len(odd)} transaction(s) whose kind disagrees with the amount's sign "
                    "(a charge should be positive, a refund negative); matched by sign",
                    tuple(sorted(odd)),
                )
            )

    def _keep(self, t_index: dict[str, int], e_index: dict[str, int]) -> None:
        """Take kept decisions out of the pool, as matches of their own."""
        kept = sorted(
            self.decisions.kept,
            key=lambda m: (sorted(m.transaction_ids), sorted(m.entry_ids), m.source),
        )
        for manual in kept:
            ts = [t_index.get(x) for x in manual.transaction_ids]
            es = [e_index.get(x) for x in manual.entry_ids]
            ids = tuple(sorted(manual.transaction_ids)) + tuple(sorted(manual.entry_ids))
            if not ts or not es or any(i is None for i in ts) or any(j is None for j in es):
                self.problems.append(
                    Problem(
                        "unknown_decision_id",
                        f"a {manual.source} match names an item that is not in the input (or "
                        "has no member on one side); its items stay in the pool",
                        ids,
                    )
                )
                continue
            t_members = tuple(sorted({i for i in ts if i is not None}, key=self.tid.__getitem__))
            e_members = tuple(sorted({j for j in es if j is not None}, key=self.eid.__getitem__))
            if any(not self.t_free[i] for i in t_members) or any(
                not self.e_free[j] for j in e_members
            ):
                self.problems.append(
                    Problem(
                        "conflicting_decision",
                        f"a {manual.source} match shares an item with another kept match",
                        ids,
                    )
                )
                continue
            explanation = "confirmed by a person"
            if manual.source == "manual":
                explanation = "matched by hand"
            self._emit(t_members, e_members, manual.source, 1.0, explanation, Zone.AUTO)

    # ----------------------------------------------------------------------------------------
    # Helpers

    def _limit(self, units: int) -> int:
        """The tolerance, in units, for an amount of ``units``."""
        if self.tol_rel:
            return max(self.tol_abs, int(self.tol_rel * abs(units)))
        return self.tol_abs

    def _date(self, offset: int) -> tuple[float, int]:
        """Date evidence and days outside the window for a ledger-minus-transaction offset."""
        if -self.before <= offset <= self.after:
            return self._date_in[offset + self.before], 0
        return scoring.date_evidence(offset, self.before, self.after)

    @staticmethod
    def _card(t_card: str, e_card: str) -> int:
        if not t_card or not e_card:
            return 0
        return 1 if t_card == e_card else -1

    @staticmethod
    def _card_evidence(state: int) -> float:
        if state > 0:
            return scoring.CARD_AGREES
        return scoring.CARD_DIFFERS if state < 0 else 0.0

    def _ln(self, k: int) -> float:
        return self._log[k] if k < len(self._log) else math.log(k)

    def _rejected(self, ts: Sequence[int], es: Sequence[int]) -> bool:
        if self.rejected:
            ne = self.ne
            if any(i * ne + j in self.rejected for i in ts for j in es):
                return True
        if self.decisions.rejected_matches:
            mid = match_id([self.tid[i] for i in ts], [self.eid[j] for j in es])
            return mid in self.decisions.rejected_matches
        return False

    def _futile(self, subsets: int, bonus: float) -> bool:
        """True when a group searched among ``subsets`` subsets could not reach the review
        threshold even with a perfect sum, date, card and merchant."""
        best = (
            scoring.PRIOR
            + bonus
            + scoring.AMOUNT_EXACT
            + scoring.DATE_IN_WINDOW
            + 1.0
            + scoring.CARD_AGREES
            + scoring.MERCHANT_NAMED
            - math.log(max(1, subsets))
        )
        return scoring.share(scoring.weight(best), scoring.weight(best)) < (
            self.cfg.review_threshold
        )

    def _fmt(self, units: int, currency: int) -> str:
        name = self.currency_names.get(currency, "")
        scale = self.scale
        if abs(units) < _EXACT_DIGITS:  # as Decimal(units).scaleb(-scale) formats, faster
            whole, part = divmod(abs(units), 10**scale)
            sign = "-" if units < 0 else ""
            return f"{sign}{whole}.{part:0{scale}d} {name}".rstrip()
        amount = Decimal(units).scaleb(-scale)
        return f"{amount:f} {name}".rstrip()

    # ----------------------------------------------------------------------------------------
    # Run

    def run(self) -> MatchResult:
        rules = self.rules
        if Rule.REFERENCE in rules:
            self._index_references()
            pairs, groups = self._phase_references()
            # Only references shared by a few transactions are needed from here on (the
            # groups of phase 3): the big index goes before the selection makes matches.
            self._shared = [v for v in self._shared if len(v) <= _BROAD_REFERENCE]
            self.ref_index = {}
            self.ref_multi = {}
            self._broad = {}
            self._select(pairs, groups)
            del pairs, groups
        if Rule.AMOUNT_DATE in rules:
            amount_pairs: list[_Pair] = []
            self._amount_candidates(amount_pairs)
            self._select(amount_pairs, [])
        if Rule.TOLERANCE in rules and (self.tol_abs or self.tol_rel):
            self._select(self._phase_tolerance(), [])
        if Rule.GROUP in rules:
            self._select([], self._phase_groups())
        self._report_search_limits()
        # What only the selection needed goes before the diagnostics make their objects.
        self._shared = []
        self._pair_tails = {False: {}, True: {}}
        self._pair_templates = {}
        self._explained = {}
        self._scores = {}
        self._score_objects = {}
        unmatched_t, unmatched_e = self._unmatched()
        matches = self._ordered_matches()
        self.matches = []
        self.problems.sort(key=lambda p: (p.code, p.ids, p.message))
        return MatchResult(
            tuple(matches), tuple(unmatched_t), tuple(unmatched_e), tuple(self.problems)
        )

    def _ordered_matches(self) -> list[Match]:
        """The matches by first entry id (an entry is in one match only, so by the whole
        tuple alike): collected in input order of their first entries, and sorted only if
        the ledger ids do not follow the input order (ledger exports usually do)."""
        ordered = cast(list[Match], list(compress(self.e_owner, self.e_first)))
        if len(ordered) != len(self.matches):  # cannot happen; the plain sort then
            ordered = self.matches
        elif _ascending(self.eid):
            return ordered
        ordered.sort(key=_ENTRY_IDS)
        return ordered

    # ----------------------------------------------------------------------------------------
    # Phase 1: references and exact amounts

    def _index_references(self) -> None:
        """Transactions by reference token (free transactions only).

        References are indexed as given, then checked all at once (one regular-expression
        scan over the joined keys): if every one is a clean upper-case token of at least
        ``min_reference_length`` characters, as Amazon's identifiers are, the index is ready;
        otherwise it is rebuilt with each reference normalised (upper-cased, tokenised; a
        multi-token reference becomes a token sequence)."""
        index = self.ref_index
        setdefault = index.setdefault
        t_free = self.t_free
        shared = self._shared  # the lists of transactions sharing a reference, as made
        for i, t in enumerate(self.T):
            refs = t.references
            if refs and t_free[i]:
                for r in refs:
                    v = setdefault(r, i)
                    if v is not i:  # another transaction has it too
                        if isinstance(v, int):
                            index[r] = v = [v, i]
                            shared.append(v)
                        else:
                            v.append(i)
        if not index or _clean_references(index, self.cfg.min_reference_length):
            return
        raw = list(index.items())
        index.clear()
        shared.clear()
        for r, v in raw:
            for i in sorted((v,) if isinstance(v, int) else v):
                self._index_reference(r, i)

    def _index_reference(self, reference: str, i: int) -> None:
        """Index one reference of transaction ``i``, normalised (the slow path)."""
        minimum = self.cfg.min_reference_length
        tokens = tuple(tokenize(reference))
        if not tokens or len(reference) < minimum:
            return
        if len(tokens) > 1:
            self.ref_multi.setdefault(tokens[0], []).append((tokens, i))
            return
        r = tokens[0]
        if len(r) < minimum:
            return
        index = self.ref_index
        v = index.get(r)
        if v is None:
            index[r] = i
        elif isinstance(v, int):
            if v != i:
                index[r] = v = [v, i]
                self._shared.append(v)
        elif i not in v:
            v.append(i)

    def _phase_references(self) -> tuple[list[_Pair], list[_Cand]]:
        pairs: list[_Pair] = []
        groups: list[_Cand] = []
        self._reference_candidates(pairs, groups, bytearray(self.nt))
        return pairs, groups

    def _broad_lookup(self, tok: str, members: list[int], units: int) -> list[int]:
        """The transactions of a broad reference whose amount may agree with ``units``."""
        table = self._broad.get(tok)
        if table is None:
            ordered = sorted(members, key=self.tu.__getitem__)
            table = self._broad[tok] = ([self.tu[i] for i in ordered], ordered)
        amounts, ordered = table
        reach = self._limit(units) * 2 + self.tol_abs + 1
        return ordered[bisect_left(amounts, units - reach) : bisect_right(amounts, units + reach)]

    def _reference_candidates(
        self, pairs: list[_Pair], groups: list[_Cand], t_exact: bytearray
    ) -> None:
        """Scan every ledger line's tokens for quoted references: 1:1 ``reference``
        candidates when an amount agrees, else a ``many_to_one`` group of the quoted
        transactions; then ``one_to_many`` splits."""
        index, multi = self.ref_index, self.ref_multi
        if not index and not multi:
            return
        get = index.get
        findall, ascii_findall = TOKEN.findall, ASCII_TOKEN.findall
        slack = self.cfg.reference_slack_days
        before, after, date_in = self.before, self.after, self._date_in
        e_free, eu, ec, ed, ecard, e_ok = (
            self.e_free,
            self.eu,
            self.ec,
            self.ed,
            self.ecard,
            self.e_ok,
        )
        e_merchant = self.e_merchant
        t_free, t_ok, tu, tc, td, tcard = (
            self.t_free,
            self.t_ok,
            self.tu,
            self.tc,
            self.td,
            self.tcard,
        )
        cite_t, cite_e = self.cite_t.append, self.cite_e.append
        checks = bool(self.rejected or self.decisions.rejected_matches)
        with_groups = Rule.GROUP in self.rules
        tol_rel = self.tol_rel
        exact_weights: dict[tuple[int, int, int, int], int] = {}
        broad = _BROAD_REFERENCE
        quotes = index.__contains__
        for j, text in compress(enumerate(map(_TEXT, self.E)), e_free):
            if not text:
                continue
            text = text.upper()
            tokens = ascii_findall(text) if text.isascii() else findall(text)
            if not multi and not any(map(quotes, tokens)):
                continue  # most lines quote nothing: found out in one C loop
            hits: dict[int, tuple[int, str]] | None = None
            for tok in tokens:
                v = get(tok)
                if v is None:
                    continue
                if hits is None:
                    hits = {}
                if isinstance(v, int):
                    old = hits.get(v)
                    if old is None or (1, tok) < old:
                        hits[v] = (1, tok)
                    continue
                k = len(v)
                for i in v if k <= broad else self._broad_lookup(tok, v, eu[j]):
                    old = hits.get(i)
                    if old is None or (k, tok) < old:
                        hits[i] = (k, tok)
            if multi:
                for pos, tok in enumerate(tokens):
                    for sequence, i in multi.get(tok, ()):
                        if tuple(tokens[pos : pos + len(sequence)]) == sequence:
                            if hits is None:
                                hits = {}
                            _cite(hits, i, len(multi[tok]), " ".join(sequence))
            if hits is None:
                continue
            eu_j, ec_j, ed_j, card_j, named = eu[j], ec[j], ed[j], ecard[j], e_merchant[j]
            exact = False
            pool: list[int] = []
            for i, (k, tok) in hits.items():
                if k <= broad:
                    cite_t(i)
                    cite_e(j)
                if tc[i] != ec_j or not t_free[i]:
                    continue
                offset = ed_j - td[i]
                outside = 0
                if offset < -before or offset > after:
                    outside = offset - after if offset > after else -before - offset
                    if outside > slack:
                        continue
                tu_i = tu[i]
                if t_ok[i]:
                    pool.append(i)  # both signs: a line may book an order's net amount
                if (tu_i > 0) != (eu_j > 0) or (tu_i < 0) != (eu_j < 0) or (tu_i and not t_ok[i]):
                    continue
                diff = eu_j - tu_i
                limit = 0
                if diff:
                    limit = max(self.tol_abs, int(tol_rel * abs(tu_i))) if tol_rel else self.tol_abs
                    if abs(diff) > limit:
                        continue
                if checks and self._rejected((i,), (j,)):
                    continue
                card_i = tcard[i]
                card = 0 if not card_i or not card_j else 1 if card_i == card_j else -1
                if diff or outside:
                    weight = scoring.weight(
                        scoring.PRIOR
                        + scoring.REFERENCE
                        - self._ln(k)
                        + scoring.amount_evidence(diff, limit)
                        + self._date(offset)[0]
                        + self._card_evidence(card)
                        + (scoring.MERCHANT_NAMED if named else 0.0)
                    )
                else:
                    key = (k, offset, card, named)
                    found = exact_weights.get(key)
                    if found is None:
                        found = exact_weights[key] = scoring.weight(
                            scoring.PRIOR
                            + scoring.REFERENCE
                            - self._ln(k)
                            + scoring.AMOUNT_EXACT
                            + date_in[offset + before]
                            + self._card_evidence(card)
                            + (scoring.MERCHANT_NAMED if named else 0.0)
                        )
                    weight = found
                    exact = True
                    t_exact[i] = 1
                pairs.append((weight, i, j, REFERENCE, diff, offset, outside, card, tok, k))
            if not exact and with_groups and len(pool) >= 2 and e_ok[j]:
                share, tok = min(hits[i] for i in pool)
                pool.sort(key=lambda i: (td[i], self.tid[i]))
                self._group_candidate(pool, j, groups, tok, share)
        if with_groups:
            self._split_references(groups, t_exact)

    def _group_candidate(
        self, pool: list[int], j: int, cands: list[_Cand], ref: str, share: int
    ) -> None:
        """A ``many_to_one`` candidate: a subset of the transactions ``pool`` (quoted by
        ledger line ``j``) that sums to it."""
        cfg = self.cfg
        if len(pool) > cfg.max_group_size:
            self._too_large.update([self.tid[i] for i in pool] + [self.eid[j]])
            return
        eu_j = self.eu[j]
        limit = self._limit(eu_j)
        found = subset_sums([self.tu[i] for i in pool], cfg.subset_sum_cap, abs(eu_j) + limit)
        if found.capped:
            self._capped.update([self.tid[i] for i in pool] + [self.eid[j]])
            return
        best = best_subset(found, eu_j, limit)
        if best is None:
            return
        mask, total, others = best
        members = tuple(i for bit, i in enumerate(pool) if mask >> bit & 1)
        if self._rejected(members, (j,)):
            return
        first = min(self.td[i] for i in members)
        last = max(self.td[i] for i in members)
        offset = self.ed[j] - last
        # The line posts once every member is in: the window runs from the first member's
        # date minus ``before`` to the last member's date plus ``after``.
        date_ev, outside = scoring.date_evidence(offset, self.before + last - first, self.after)
        if outside > cfg.reference_slack_days:
            return
        card = _group_card([self.tcard[i] for i in members], self.ecard[j])
        log_odds = (
            scoring.PRIOR
            + scoring.REFERENCE
            - self._ln(share)
            + scoring.amount_evidence(eu_j - total, limit)
            + date_ev
            + self._card_evidence(card)
            + (scoring.MERCHANT_NAMED if self.e_merchant[j] else 0.0)
            - math.log(found.subsets)
            - math.log1p(others)
        )
        cand = _Cand(
            members,
            (j,),
            MANY_TO_ONE,
            scoring.weight(log_odds),
            eu_j - total,
            offset,
            outside,
            card,
        )
        cand.ref, cand.share, cand.subsets, cand.others = ref, share, found.subsets, others
        cands.append(cand)

    def _split_references(self, groups: list[_Cand], t_exact: bytearray) -> None:
        """``one_to_many`` candidates: a transaction quoted by several ledger lines that sum
        to it (one charge booked in parts)."""
        cfg = self.cfg
        ec, eu, ed, e_free, e_ok, eid = self.ec, self.eu, self.ed, self.e_free, self.e_ok, self.eid
        slack = cfg.reference_slack_days
        counts = Counter(self.cite_t)
        quoting: dict[int, list[int]] = {}
        t_ok, t_free = self.t_ok, self.t_free
        split = {i for i, n in counts.items() if n > 1 and not t_exact[i] and t_ok[i] and t_free[i]}
        del counts
        cites = zip(self.cite_t, self.cite_e, strict=True)
        for i, j in compress(cites, map(split.__contains__, self.cite_t)):
            quoting.setdefault(i, []).append(j)
        for i in sorted(quoting, key=self.tid.__getitem__):
            quoted = quoting[i]
            tu_i, td_i, tc_i = self.tu[i], self.td[i], self.tc[i]
            pool = sorted(
                (
                    j
                    for j in set(quoted)
                    if ec[j] == tc_i
                    and e_free[j]
                    and e_ok[j]
                    and self._date(ed[j] - td_i)[1] <= slack
                ),
                key=lambda j: (ed[j], eid[j]),
            )
            if len(pool) < 2:
                continue
            if len(pool) > cfg.max_group_size:
                self._too_large.update([self.tid[i]] + [eid[j] for j in pool])
                continue
            limit = self._limit(tu_i)
            found = subset_sums([eu[j] for j in pool], cfg.subset_sum_cap, abs(tu_i) + limit)
            if found.capped:
                self._capped.update([self.tid[i]] + [eid[j] for j in pool])
                continue
            best = best_subset(found, tu_i, limit)
            if best is None:
                continue
            mask, total, others = best
            members = tuple(j for bit, j in enumerate(pool) if mask >> bit & 1)
            if self._rejected((i,), members):
                continue
            worst = min((self._date(ed[j] - td_i) for j in members), key=lambda d: d[0])
            offset = max((ed[j] - td_i for j in members), key=abs)
            card = _group_card([self.ecard[j] for j in members], self.tcard[i])
            log_odds = (
                scoring.PRIOR
                + scoring.REFERENCE
                + scoring.amount_evidence(total - tu_i, limit)
                + worst[0]
                + self._card_evidence(card)
                + (scoring.MERCHANT_NAMED if any(self.e_merchant[j] for j in members) else 0.0)
                - math.log(found.subsets)
                - math.log1p(others)
            )
            cand = _Cand(
                (i,),
                members,
                ONE_TO_MANY,
                scoring.weight(log_odds),
                total - tu_i,
                offset,
                worst[1],
                card,
            )
            cand.subsets, cand.others = found.subsets, others
            cand.ref = self._quoted_reference(i, members)
            groups.append(cand)

    def _quoted_reference(self, i: int, members: Sequence[int]) -> str:
        """The first reference of transaction ``i`` (alphabetically) quoted by all of
        ``members``, else by any of them."""
        refs = {ref.upper() for ref in self.T[i].references}
        quoted = [refs.intersection(tokenize(self.E[j].text)) for j in members]
        common = set.intersection(*quoted) if quoted else set()
        return min(common or set().union(*quoted) or {"its references"})

    def _entry_amounts(self) -> dict[int, _Bucket]:
        """Free ledger lines the amount rules may use, by ``amount * ncur + currency`` (built
        once, when the amount rule starts)."""
        if self._e_amounts is None:
            self._e_amounts = _amount_index(
                self.eu, self.ec, self.ed, self.e_ok, self.e_free, self.ncur
            )
        return self._e_amounts

    def _txn_amounts(self) -> dict[int, _Bucket]:
        """Free transactions the amount rules may use, by ``amount * ncur + currency`` (built
        once, for diagnostics)."""
        if self._t_amounts is None:
            self._t_amounts = _amount_index(
                self.tu, self.tc, self.td, self.t_ok, self.t_free, self.ncur
            )
        return self._t_amounts

    def _amount_candidates(self, pairs: list[_Pair]) -> None:
        """``amount_date`` candidates: the same amount, in the window, cards compatible
        (among the items the reference rule left, and never a pair it already judged)."""
        ncur, ne = self.ncur, self.ne
        ed, ecard, e_free = self.ed, self.ecard, self.e_free
        index = self._entry_amounts()
        get = index.get
        before, after = self.before, self.after
        base = scoring.PRIOR + scoring.AMOUNT_EXACT
        # Weights by ((offset + before) * 2 + card agrees) * 2 + merchant named.
        weights = [
            scoring.weight(
                base
                + self._date(offset)[0]
                + self._card_evidence(card)
                + (scoring.MERCHANT_NAMED if named else 0.0)
            )
            for offset in range(-before, after + 1)
            for card in (0, 1)
            for named in (0, 1)
        ]
        e_merchant = self.e_merchant
        rejected = self.rejected
        judged = self.unselected  # pairs the reference rule proposed and did not take
        # Transactions with a judged or rejected pair: only theirs need the pair codes.
        flagged = {code // ne for code in chain(judged, rejected)}
        by_match = bool(self.decisions.rejected_matches)
        eid = self.eid
        t_free, t_ok, tu, tc, td, tcard = (
            self.t_free,
            self.t_ok,
            self.tu,
            self.tc,
            self.td,
            self.tcard,
        )
        append = pairs.append
        for i in compress(range(self.nt), map(and_, t_free, t_ok)):
            v = get(tu[i] * ncur + tc[i])
            if v is None:
                continue
            td_i, card_i = td[i], tcard[i]
            js: Sequence[int]
            if isinstance(v, int):
                js = (v,)
            elif isinstance(v, list):
                js = v
            else:
                days, members = v
                js = members[bisect_left(days, td_i - before) : bisect_right(days, td_i + after)]
                if len(js) > _MAX_AMOUNT_CANDIDATES:
                    js = heapq.nsmallest(
                        _MAX_AMOUNT_CANDIDATES,
                        js,
                        key=lambda j: (abs(ed[j] - td_i), eid[j]),
                    )
            check = i in flagged
            for j in js:
                offset = ed[j] - td_i
                if offset < -before or offset > after or not e_free[j]:
                    continue
                card_j = ecard[j]
                card = 0
                if card_i and card_j:
                    if card_i != card_j:
                        continue
                    card = 1
                if check:
                    code = i * ne + j
                    if code in judged or code in rejected:
                        continue
                if by_match and self._rejected((i,), (j,)):
                    continue
                weight = weights[((offset + before) * 2 + card) * 2 + e_merchant[j]]
                append((weight, i, j, AMOUNT_DATE, 0, offset, 0, card, "", 0))

    # ----------------------------------------------------------------------------------------
    # Phase 2: tolerance

    def _entry_days(self) -> dict[int, _DayBucket]:
        """Every ledger line by ``day * ncur + currency``, amounts sorted."""
        if self._e_days is None:
            self._e_days = _day_index(self.ed, self.ec, self.eu, self.ncur)
        return self._e_days

    def _txn_days(self) -> dict[int, _DayBucket]:
        """Every transaction by ``day * ncur + currency``, amounts sorted."""
        if self._t_days is None:
            self._t_days = _day_index(self.td, self.tc, self.tu, self.ncur)
        return self._t_days

    def _phase_tolerance(self) -> list[_Pair]:
        days = self._entry_days()
        pairs: list[_Pair] = []
        before, after, ncur = self.before, self.after, self.ncur
        eu, ed, e_free, e_ok, ecard = self.eu, self.ed, self.e_free, self.e_ok, self.ecard
        tu, td, tc, tcard = self.tu, self.td, self.tc, self.tcard
        get = days.get
        for i in compress(range(self.nt), map(and_, self.t_free, self.t_ok)):
            tu_i, td_i, tc_i, card_i = tu[i], td[i], tc[i], tcard[i]
            limit = self._limit(tu_i)
            if not limit:
                continue
            for day in range(td_i - before, td_i + after + 1):
                bucket = get(day * ncur + tc_i)
                if bucket is None:
                    continue
                units, members = bucket
                low = bisect_left(units, tu_i - limit)
                high = bisect_right(units, tu_i + limit)
                for j in members[low:high]:
                    diff = eu[j] - tu_i
                    if not diff or not e_free[j] or not e_ok[j] or (eu[j] > 0) != (tu_i > 0):
                        continue
                    card = self._card(card_i, ecard[j])
                    if card < 0 or self._rejected((i,), (j,)):
                        continue
                    offset = ed[j] - td_i
                    log_odds = (
                        scoring.PRIOR
                        + scoring.amount_evidence(diff, limit)
                        + self._date(offset)[0]
                        + self._card_evidence(card)
                        + (scoring.MERCHANT_NAMED if self.e_merchant[j] else 0.0)
                    )
                    weight = scoring.weight(log_odds)
                    pairs.append((weight, i, j, TOLERANCE, diff, offset, 0, card, "", 0))
        return pairs

    # ----------------------------------------------------------------------------------------
    # Phase 3: groups without references

    def _phase_groups(self) -> list[_Cand]:
        found: _Found = {}
        for pool, shared in self._txn_pools():
            self._pool_many_to_one(pool, shared, found)
        for pool in self._entry_pools():
            self._pool_one_to_many(pool, found)
        return list(found.values())

    def _pool_fits(self, size: int, bonus: float) -> bool:
        """Whether a pool of ``size`` items is worth a subset-sum search."""
        return 2 <= size <= self.cfg.max_group_size and not self._futile(
            2**size - size - 1, scoring.GROUP_PRIOR + bonus
        )

    def _txn_pools(self) -> list[tuple[list[int], bool]]:
        """Free transactions of one currency and sign: by day and card (a card is needed),
        and by a shared reference (the same order, invoice or purchase order)."""
        t_free, t_ok, tc, tu, td, tcard, tid = (
            self.t_free,
            self.t_ok,
            self.tc,
            self.tu,
            self.td,
            self.tcard,
            self.tid,
        )
        usable = bytes(map(and_, t_free, t_ok))
        by_day: dict[tuple[int, bool, str, int], list[int]] = {}
        for i in compress(range(self.nt), usable):
            card = tcard[i]
            if card:
                by_day.setdefault((tc[i], tu[i] > 0, card, td[i]), []).append(i)
        pools = [(m, False) for m in by_day.values() if self._pool_fits(len(m), 0.0)]
        seen: set[tuple[int, ...]] = set()
        is_usable = usable.__getitem__
        for v in self._shared:  # no pool of two for most (their orders are matched by now)
            if len(v) == 2:
                if not (is_usable(v[0]) and is_usable(v[1])):
                    continue
                live = v
            else:
                live = list(compress(v, map(is_usable, v)))
                if len(live) < 2:
                    continue
            split: dict[tuple[int, bool], list[int]] = {}
            for i in live:
                split.setdefault((tc[i], tu[i] > 0), []).append(i)
            for members in split.values():
                if not self._pool_fits(len(members), scoring.GROUP_SHARED_REFERENCE):
                    continue
                pool_key = tuple(sorted(members))
                if pool_key not in seen:
                    seen.add(pool_key)
                    pools.append((members, True))
        out = [(sorted(p, key=lambda i: (td[i], tid[i])), s) for p, s in pools]
        out.sort(key=lambda item: [tid[i] for i in item[0]])
        return out

    def _entry_pools(self) -> list[list[int]]:
        """Free ledger lines of one currency and sign, by day and card (a card is needed)."""
        ec, eu, ed, ecard = self.ec, self.eu, self.ed, self.ecard
        by_day: dict[tuple[int, bool, str, int], list[int]] = {}
        for j in compress(range(self.ne), map(and_, self.e_free, self.e_ok)):
            card = ecard[j]
            if card:
                by_day.setdefault((ec[j], eu[j] > 0, card, ed[j]), []).append(j)
        out = [
            sorted(p, key=self.eid.__getitem__)
            for p in by_day.values()
            if self._pool_fits(len(p), 0.0)
        ]
        out.sort(key=lambda p: [self.eid[j] for j in p])
        return out

    def _pool_many_to_one(self, pool: list[int], shared: bool, found: _Found) -> None:
        cfg = self.cfg
        sums = subset_sums([self.tu[i] for i in pool], cfg.subset_sum_cap)
        if sums.capped:
            self._capped.update(self.tid[i] for i in pool)
            return
        days = self._entry_days()
        currency = self.tc[pool[0]]
        bonus = scoring.GROUP_SHARED_REFERENCE if shared else 0.0
        for total, (mask, count) in sorted(sums.sums.items()):
            members = tuple(i for bit, i in enumerate(pool) if mask >> bit & 1)
            first = min(self.td[i] for i in members)
            last = max(self.td[i] for i in members)
            limit = self._limit(total)
            for day in range(first - self.before, last + self.after + 1):
                bucket = days.get(day * self.ncur + currency)
                if bucket is None:
                    continue
                units, lines = bucket
                low, high = bisect_left(units, total - limit), bisect_right(units, total + limit)
                for j in lines[low:high]:
                    if not self.e_free[j] or not self.e_ok[j] or (self.eu[j] > 0) != (total > 0):
                        continue
                    card = _group_card([self.tcard[i] for i in members], self.ecard[j])
                    if card < 0 or self._rejected(members, (j,)):
                        continue
                    diff = self.eu[j] - total
                    offset = self.ed[j] - last
                    date_ev, _ = scoring.date_evidence(
                        offset, self.before + last - first, self.after
                    )
                    log_odds = (
                        scoring.PRIOR
                        + scoring.GROUP_PRIOR
                        + bonus
                        + scoring.amount_evidence(diff, limit)
                        + date_ev
                        + self._card_evidence(card)
                        + (scoring.MERCHANT_NAMED if self.e_merchant[j] else 0.0)
                        - math.log(sums.subsets)
                        - math.log1p(count - 1)
                    )
                    cand = _Cand(
                        members, (j,), MANY_TO_ONE, scoring.weight(log_odds), diff, offset, 0, card
                    )
                    cand.subsets, cand.others, cand.shared_ref = sums.subsets, count - 1, shared
                    _keep_best(found, cand)

    def _pool_one_to_many(self, pool: list[int], found: _Found) -> None:
        cfg = self.cfg
        sums = subset_sums([self.eu[j] for j in pool], cfg.subset_sum_cap)
        if sums.capped:
            self._capped.update(self.eid[j] for j in pool)
            return
        days = self._txn_days()
        currency = self.ec[pool[0]]
        day_of_pool = self.ed[pool[0]]  # a pool is one day
        for total, (mask, count) in sorted(sums.sums.items()):
            members = tuple(j for bit, j in enumerate(pool) if mask >> bit & 1)
            limit = self._limit(total)
            for day in range(day_of_pool - self.after, day_of_pool + self.before + 1):
                bucket = days.get(day * self.ncur + currency)
                if bucket is None:
                    continue
                units, txns = bucket
                low, high = bisect_left(units, total - limit), bisect_right(units, total + limit)
                for i in txns[low:high]:
                    if not self.t_free[i] or not self.t_ok[i] or (self.tu[i] > 0) != (total > 0):
                        continue
                    card = _group_card([self.ecard[j] for j in members], self.tcard[i])
                    if card < 0 or self._rejected((i,), members):
                        continue
                    diff = total - self.tu[i]
                    offset = day_of_pool - self.td[i]
                    named = any(self.e_merchant[j] for j in members)
                    log_odds = (
                        scoring.PRIOR
                        + scoring.GROUP_PRIOR
                        + scoring.amount_evidence(diff, self._limit(self.tu[i]))
                        + self._date(offset)[0]
                        + self._card_evidence(card)
                        + (scoring.MERCHANT_NAMED if named else 0.0)
                        - math.log(sums.subsets)
                        - math.log1p(count - 1)
                    )
                    cand = _Cand(
                        (i,), members, ONE_TO_MANY, scoring.weight(log_odds), diff, offset, 0, card
                    )
                    cand.subsets, cand.others = sums.subsets, count - 1
                    _keep_best(found, cand)

    # ----------------------------------------------------------------------------------------
    # Selection

    def _select(self, pairs: list[_Pair], groups: list[_Cand]) -> None:
        """Score candidates among their competitors and take them, best first, in rounds.

        A candidate that scored below the review threshold only because others competed for
        its items gets another round once those others are out of the running (their items
        taken by better matches, or they themselves taken): it is scored again among the
        candidates still possible. Such matches stay in the review zone.

        ``pairs`` and ``groups`` are consumed: emptied as their candidates become matches
        (a million candidates need not live on beside a million matches).
        """
        again = self._select_round(pairs, groups, False)
        while again:
            again = self._select_round([], again, True)

    def _select_round(self, pairs: list[_Pair], cands: list[_Cand], later: bool) -> list[_Cand]:
        """One greedy pass; returns the candidates worth another round.

        A 1:1 candidate alone on both its items is taken at once (nothing competes with it);
        the others are scored among their competitors (which are all contested too), sorted
        by (score descending, first transaction id, first ledger id, all ids) and taken best
        first. ``pairs`` and ``cands`` are emptied."""
        ne = self.ne
        t_cnt: list[int] | defaultdict[int, int]
        e_cnt: list[int] | defaultdict[int, int]
        if (len(pairs) + len(cands)) * 8 > self.nt + ne:
            t_cnt, e_cnt = [0] * self.nt, [0] * ne
        else:
            t_cnt, e_cnt = defaultdict(int), defaultdict(int)
        for p in pairs:
            t_cnt[p[1]] += 1
            e_cnt[p[2]] += 1
        for c in cands:
            for i in c.ts:
                t_cnt[i] += 1
            for j in c.es:
                e_cnt[j] += 1
        review = self.cfg.review_threshold
        one = scoring.WEIGHT_ONE
        unselected = self.unselected
        t_free, e_free = self.t_free, self.e_free
        scores = self._scores  # weight -> score of a lone candidate (shared float objects)
        taken: list[tuple[_Pair, float, int]] = []  # 1:1 matches, made into Match in batches
        contested_pairs: list[_Pair] = []
        contested: list[_Cand] = []
        accepted = 0
        # Taken from the end of the reversed list, so that each candidate is dropped once
        # handled (made a match, or moved to the contested ones).
        pairs.reverse()
        pop = pairs.pop
        while pairs:
            p = pop()
            i, j = p[1], p[2]
            if t_cnt[i] == 1 and e_cnt[j] == 1:
                w = p[0]
                score = scores.get(w)
                if score is None:
                    score = scores[w] = round(w / (one + w), 6)
                if score >= review:
                    taken.append((p, score, 0))
                    t_free[i] = e_free[j] = 0
                    if len(taken) >= _BATCH:
                        self._accept_pairs(taken, later)
                        accepted += len(taken)
                        taken.clear()
                else:
                    unselected[i * ne + j] = score
            else:
                contested_pairs.append(p)
        self._accept_pairs(taken, later)
        accepted += len(taken)
        taken.clear()
        for c in cands:
            ts, es = c.ts, c.es
            if len(ts) == 1 and len(es) == 1 and t_cnt[ts[0]] == 1 and e_cnt[es[0]] == 1:
                w = c.weight
                c.score, c.competitors, c.later = round(w / (one + w), 6), 0, later
                if c.score >= review:
                    self._accept(c)
                    accepted += 1
                else:
                    unselected[ts[0] * ne + es[0]] = c.score
            else:
                contested.append(c)
        cands.clear()
        t_sum: defaultdict[int, int] = defaultdict(int)
        e_sum: defaultdict[int, int] = defaultdict(int)
        for p in contested_pairs:
            t_sum[p[1]] += p[0]
            e_sum[p[2]] += p[0]
        for c in contested:
            w = c.weight
            for i in c.ts:
                t_sum[i] += w
            for j in c.es:
                e_sum[j] += w
        tid, eid = self.tid, self.eid
        share = scoring.share
        # (-score, first transaction id, first ledger id, all ids, position, competitors,
        # candidate): sorted as tuples, the position breaking ties (as a stable sort would).
        ranked: list[tuple[float, str, str, str, int, int, _Pair | _Cand]] = []
        for p in contested_pairs:
            w, i, j = p[0], p[1], p[2]
            score = round(w / (one + t_sum[i] + e_sum[j] - w), 6)  # scoring.share
            ranked.append((-score, tid[i], eid[j], "", len(ranked), t_cnt[i] + e_cnt[j] - 2, p))
        for c in contested:
            w, ts, es = c.weight, c.ts, c.es
            members = len(ts) + len(es)
            total = sum([t_sum[i] for i in ts]) + sum([e_sum[j] for j in es])
            competitors = sum([t_cnt[i] for i in ts]) + sum([e_cnt[j] for j in es]) - members
            ids = "\x1f".join([tid[i] for i in ts] + ["\x1e"] + [eid[j] for j in es])
            score = share(w, total - (members - 1) * w)
            ranked.append((-score, tid[ts[0]], eid[es[0]], ids, len(ranked), competitors, c))
        del t_sum, e_sum, t_cnt, e_cnt, contested_pairs, contested
        ranked.sort()
        ranked.reverse()  # best last: taken from the end, each dropped once handled
        again: list[_Cand] = []
        pop_ranked = ranked.pop
        while ranked:
            neg_score, _, _, _, _, competitors, item = pop_ranked()
            score = -neg_score
            if isinstance(item, tuple):
                i, j = item[1], item[2]
                if t_free[i] and e_free[j]:
                    if score >= review:
                        taken.append((item, score, competitors))
                        t_free[i] = e_free[j] = 0
                        if len(taken) >= _BATCH:
                            self._accept_pairs(taken, later)
                            accepted += len(taken)
                            taken.clear()
                        continue
                    c = _Cand.of(item)
                    c.score, c.competitors = score, competitors
                    again.append(c)
                code = i * ne + j
                unselected[code] = max(score, unselected.get(code, 0.0))
                continue
            c = item
            c.score, c.competitors, c.later = score, competitors, later
            if all([t_free[i] for i in c.ts]) and all([e_free[j] for j in c.es]):
                if score >= review:
                    self._accept(c)
                    accepted += 1
                    continue
                again.append(c)
            if len(c.ts) == 1 and len(c.es) == 1:
                code = c.ts[0] * ne + c.es[0]
                unselected[code] = max(score, unselected.get(code, 0.0))
        self._accept_pairs(taken, later)
        accepted += len(taken)
        if not accepted:
            return []
        return [c for c in again if all(t_free[i] for i in c.ts) and all(e_free[j] for j in c.es)]

    def _accept(self, c: _Cand) -> None:
        ts, es = c.ts, c.es
        if len(ts) == 1 and len(es) == 1:
            self._accept_pairs([(c.pair(), c.score, c.competitors)], c.later)
            return
        named = any(self.e_merchant[j] for j in es)
        ts = tuple(sorted(ts, key=self.tid.__getitem__))
        es = tuple(sorted(es, key=self.eid.__getitem__))
        # Only a reference makes a group more than a coincidence of sums.
        contradicted = c.card < 0 or c.outside > 0 or c.later or not c.ref
        zone = Zone.AUTO if c.score >= self.cfg.auto_threshold and not contradicted else Zone.REVIEW
        credit = sum(self.eu[j] for j in es) < 0
        rule = (_REFUND_RULES.get(c.rule) or REFUND_PREFIX + c.rule) if credit else c.rule
        cards = ""
        if c.card > 0:
            cards = self.ecard[es[0]] or self.tcard[ts[0]]
        elif c.card < 0:
            cards = ", ".join(sorted({self.tcard[i] for i in ts} | {self.ecard[j] for j in es}))
        limit = self._limit(sum(self.tu[i] for i in ts)) if c.diff else 0
        key = (
            c.rule,
            len(ts),
            len(es),
            c.diff,
            limit,
            self.ec[es[0]],
            c.offset,
            c.outside,
            c.card,
            cards.strip(", "),
            named,
            c.subsets,
            c.others,
            c.shared_ref,
            c.competitors,
            c.later,
        )
        explanation = self._explain(key, c.ref, c.share)
        tids = tuple([self.tid[i] for i in ts])
        eids = tuple([self.eid[j] for j in es])
        units = sum([self.eu[j] for j in es]) - sum([self.tu[i] for i in ts])
        difference = Decimal(units).scaleb(-self.scale) if units else _ZERO
        found = Match(tids, eids, rule, self._score(c.score), explanation, difference, zone)
        self._own(found, ts, es)

    def _score(self, score: float) -> float:
        """One float object per distinct score (a million matches share a few hundred)."""
        return self._score_objects.setdefault(score, score)

    def _accept_pairs(self, taken: list[tuple[_Pair, float, int]], later: bool) -> None:
        """Make 1:1 candidates matches: ``(candidate, score, competitors)`` (the hot path,
        with everything it needs bound locally: most matches are 1:1)."""
        if not taken:
            return
        tid, eid, eu, tu, ec = self.tid, self.eid, self.eu, self.tu, self.ec
        ecard, tcard, e_merchant = self.ecard, self.tcard, self.e_merchant
        auto = self.cfg.auto_threshold
        # Explanation tails of 1:1 matches by the facts that vary between them (the rest of
        # the :data:`_Evidence` key is fixed here).
        tails = self._pair_tails[later]
        scores = self._score_objects
        append = self.matches.append
        t_free, e_free, t_owner, e_owner = self.t_free, self.e_free, self.t_owner, self.e_owner
        e_first = self.e_first
        scale = -self.scale
        refund_rules, zero, auto_zone, review_zone = _REFUND_RULES, _ZERO, Zone.AUTO, Zone.REVIEW
        new = object.__new__
        (
            set_transaction_ids,
            set_entry_ids,
            set_rule,
            set_score,
            set_explanation,
            set_difference,
            set_zone,
        ) = _MATCH_SETTERS
        for (_, i, j, rule, diff, offset, outside, card, ref, share), score, competitors in taken:
            named = e_merchant[j]
            contradicted = card < 0 or outside > 0 or later or (not ref and card <= 0 and not named)
            cards = ""
            if card > 0:
                cards = ecard[j]
            elif card < 0:
                cards = ", ".join(sorted((tcard[i], ecard[j])))
            limit = self._limit(tu[i]) if diff else 0
            ec_j = ec[j]
            short = (rule, diff, limit, ec_j, offset, outside, card, cards, named, competitors)
            tail = tails.get(short)
            if tail is None:
                key = (
                    rule,
                    1,
                    1,
                    diff,
                    limit,
                    ec_j,
                    offset,
                    outside,
                    card,
                    cards,
                    bool(named),
                    0,
                    0,
                    False,
                    competitors,
                    later,
                )
                tail = tails[short] = self._pair_tail(key)
            if ref:
                if share > 1:
                    explanation = f"quotes reference {ref} (shared by {share} transactions); {tail}"
                else:
                    explanation = f"quotes reference {ref}; {tail}"
            else:
                explanation = tail
            # Match((tid[i],), (eid[j],), rule, score, explanation, difference, zone):
            found = new(Match)
            set_transaction_ids(found, (tid[i],))
            set_entry_ids(found, (eid[j],))
            if eu[j] < 0:
                rule = refund_rules.get(rule) or REFUND_PREFIX + rule
            set_rule(found, rule)
            set_score(found, scores.setdefault(score, score))
            set_explanation(found, explanation)
            set_difference(found, Decimal(diff).scaleb(scale) if diff else zero)
            set_zone(found, auto_zone if score >= auto and not contradicted else review_zone)
            append(found)
            t_free[i] = e_free[j] = 0
            t_owner[i] = e_owner[j] = found
            e_first[j] = 1

    def _emit(
        self,
        ts: tuple[int, ...],
        es: tuple[int, ...],
        rule: str,
        score: float,
        explanation: str,
        zone: Zone,
    ) -> None:
        """A match of ``ts`` and ``es`` as they are (kept decisions)."""
        tids = tuple([self.tid[i] for i in ts])
        eids = tuple([self.eid[j] for j in es])
        units = sum([self.eu[j] for j in es]) - sum([self.tu[i] for i in ts])
        difference = Decimal(units).scaleb(-self.scale) if units else _ZERO
        found = Match(tids, eids, rule, score, explanation, difference, zone)
        self._own(found, ts, es)

    def _own(self, found: Match, ts: tuple[int, ...], es: tuple[int, ...]) -> None:
        self.matches.append(found)
        for i in ts:
            self.t_free[i] = 0
            self.t_owner[i] = found
        for j in es:
            self.e_free[j] = 0
            self.e_owner[j] = found
        self.e_first[es[0]] = 1  # ``es`` is sorted by id

    # ----------------------------------------------------------------------------------------
    # Explanations

    def _explain(self, key: _Evidence, ref: str, share: int) -> str:
        """What the match rests on, in words. The part after the reference depends on a
        few categorical facts only and is shared between matches (a million matches need
        few distinct strings)."""
        tail = self._explained.get(key)
        if tail is None:
            tail = self._explained[key] = self._explain_tail(key)
        if not ref:
            return tail
        shared = f" (shared by {share} transactions)" if share > 1 else ""
        return f"quotes reference {ref}{shared}; {tail}"

    def _pair_tail(self, key: _Evidence) -> str:
        """:meth:`_explain_tail` of a 1:1 match, from a template per evidence other than the
        card numbers (thousands of cards make thousands of tails out of a few templates)."""
        cards = key[9]
        if not cards:
            return self._explain_tail(key)
        generic: _Evidence = (*key[:9], _CARDS, *key[10:])
        template = self._pair_templates.get(generic)
        if template is None:
            parts = self._explain_tail(generic).split(_CARDS)
            template = self._pair_templates[generic] = (
                (parts[0], parts[1]) if len(parts) == 2 else None
            )
        if template is None:  # cannot happen: the card numbers appear once
            return self._explain_tail(key)
        return template[0] + cards + template[1]

    def _explain_tail(self, key: _Evidence) -> str:
        (
            rule,
            n_t,
            n_e,
            diff,
            limit,
            currency,
            offset,
            outside,
            card,
            cards,
            named,
            subsets,
            others,
            shared_ref,
            competitors,
            later,
        ) = key
        parts: list[str] = []
        if rule == ONE_TO_MANY:
            parts.append(f"{n_e} ledger lines sum to the transaction")
        elif rule == MANY_TO_ONE:
            parts.append(f"the line sums {n_t} transactions")
        if shared_ref:
            parts.append("the transactions share a reference the line does not quote")
        if diff:
            parts.append(
                f"amount differs by {self._fmt(diff, currency)} "
                f"(tolerance {self._fmt(limit, currency)})"
            )
        else:
            parts.append("amount equal" if n_t == n_e == 1 else "sum equal")
        what = "the last transaction" if n_t > 1 else "the transaction"
        if offset == 0:
            posted = f"posted on the day of {what}"
        else:
            unit = "day" if abs(offset) == 1 else "days"
            posted = f"posted {abs(offset)} {unit} {'after' if offset > 0 else 'before'} {what}"
        if outside:
            posted += f", {outside} {'day' if outside == 1 else 'days'} outside the window"
        parts.append(posted)
        if card > 0:
            parts.append(f"card {cards} agrees")
        elif card < 0:
            parts.append(f"cards differ ({cards})")
        else:
            parts.append("card not on both sides")
        if named:
            parts.append("names the merchant")
        if subsets:
            parts.append(f"1 of {subsets} subset(s) searched")
            if others:
                parts.append("another subset fits too")
        if competitors:
            parts.append(f"{competitors} competing candidate(s)")
        if later:
            parts.append("taken once better-scoring matches had used its alternatives")
        return "; ".join(parts)

    def _report_search_limits(self) -> None:
        cfg = self.cfg
        if self._too_large:
            self.problems.append(
                Problem(
                    "group_too_large",
                    f"candidate groups larger than max_group_size={cfg.max_group_size} were "
                    "not searched for subset sums; their items may need a manual match",
                    tuple(sorted(self._too_large)),
                )
            )
        if self._capped:
            self.problems.append(
                Problem(
                    "subset_sum_cap",
                    f"subset-sum searches stopped at subset_sum_cap={cfg.subset_sum_cap} "
                    "steps; their items may need a manual match",
                    tuple(sorted(self._capped)),
                )
            )

    # ----------------------------------------------------------------------------------------
    # Unmatched items and their nearest candidates

    def _unmatched(self) -> tuple[list[Unmatched], list[Unmatched]]:
        # Diagnosed in input order (for dated input, neighbours share the index buckets they
        # read), returned by id.
        free_t = list(compress(range(self.nt), self.t_free))
        free_e = list(compress(range(self.ne), self.e_free))
        quotes: dict[int, list[int]] = {}  # free ledger line -> transactions it quotes
        quoted_by: dict[int, list[int]] = {}  # free transaction -> ledger lines quoting it
        cite_t, cite_e = self.cite_t, self.cite_e
        cites = zip(cite_t, cite_e, strict=True)
        for i, j in compress(cites, map(self.e_free.__getitem__, cite_e)):
            quotes.setdefault(j, []).append(i)
        cites = zip(cite_t, cite_e, strict=True)
        for i, j in compress(cites, map(self.t_free.__getitem__, cite_t)):
            quoted_by.setdefault(i, []).append(j)
        self.cite_t, self.cite_e = array("q"), array("q")
        del cites, cite_t, cite_e
        out_t = self._diagnose(free_t, True, quoted_by)
        out_e = self._diagnose(free_e, False, quotes)
        # The indexes are done with: their memory serves what follows.
        self._e_amounts = self._t_amounts = self._e_days = self._t_days = None
        self.unselected = {}
        out_t.sort(key=_ID)
        out_e.sort(key=_ID)
        return out_t, out_e

    def _not_matchable(self, units: int) -> str:
        if units == 0:
            return "zero amount: only a quoted reference could match it, and none did"
        if units < 0 and Rule.REFUND not in self.rules:
            return "a credit, and the refund rule is switched off"
        return ""

    def _diagnose(
        self, items: list[int], is_txn: bool, quoting: dict[int, list[int]]
    ) -> list[Unmatched]:
        """The unmatched ``items`` (transactions if ``is_txn``) and their nearest candidates
        on the other side: those quoting a reference (``quoting``), those of the same amount
        at the nearest dates, and on each day of the window the nearest amount. Candidates
        rank by (quoted first, same currency, amount gap, days outside the window, days
        apart, id)."""
        before, after, ncur = self.before, self.after, self.ncur
        max_nearest = self.cfg.max_nearest
        why_not = self._why_not
        if is_txn:
            s_units, s_cur, s_day, s_ids = self.tu, self.tc, self.td, self.tid
            amounts, days = self._entry_amounts(), self._entry_days()
            o_units, o_cur, o_day, o_ids = self.eu, self.ec, self.ed, self.eid
            sign = 1  # offset = ledger date - transaction date = other - this
            low_side, high_side = before, after
            what, side = "ledger line", Side.TRANSACTION
        else:
            s_units, s_cur, s_day, s_ids = self.eu, self.ec, self.ed, self.eid
            amounts, days = self._txn_amounts(), self._txn_days()
            o_units, o_cur, o_day, o_ids = self.tu, self.tc, self.td, self.tid
            sign = -1
            low_side, high_side = after, before
            what, side = "transaction", Side.ENTRY
        get_amount, get_day = amounts.get, days.get
        no_quotes: list[int] = []
        out: list[Unmatched] = []
        for k in items:
            quoted = quoting.get(k, no_quotes)
            units, currency, day = s_units[k], s_cur[k], s_day[k]
            found: list[int] = list(quoted)
            v = get_amount(units * ncur + currency)
            if v is not None:
                if isinstance(v, int):
                    found.append(v)
                else:
                    if isinstance(v, list):
                        same: list[int] = v
                    else:  # long, sorted by date: the items of the few dates around this one
                        dates, members = v
                        at = bisect_left(dates, day)
                        low = bisect_left(dates, dates[max(0, at - 3)])
                        high = bisect_right(dates, dates[min(len(dates) - 1, at + 3)])
                        same = members[low:high]
                    if len(same) > _SORTED_BUCKET:
                        same = heapq.nsmallest(
                            3, same, key=lambda x: (abs(o_day[x] - day), o_ids[x])
                        )
                    found.extend(same)
            # (amount gap, item): on each day, the nearest amounts below and above, and the
            # exact amount with the next one above it. Amounts ascend: the one below the
            # exact amount differs from its right neighbour, and the ones at and above it
            # from their left neighbour.
            near: list[tuple[int, int]] = []
            for d in range(day - low_side, day + high_side + 1):
                bucket = get_day(d * ncur + currency)
                if bucket is None:
                    continue
                values, day_members = bucket
                size = len(values)
                at = bisect_left(values, units)
                if at:  # the nearest amount below
                    pos = at - 1
                    value = values[pos]
                    if pos == 0 or values[pos - 1] != value:
                        near.append((units - value, day_members[pos]))
                    else:
                        gap = units - value
                        near.extend((gap, x) for x in _run(values, day_members, pos, o_ids))
                if at < size:  # the nearest amount at or above, and above an exact one
                    value = values[at]
                    positions: tuple[int, ...] = (at,)
                    if value == units:
                        after_run = bisect_right(values, units)
                        if after_run < size:
                            positions = (at, after_run)
                    for pos in positions:
                        value = values[pos]
                        if pos + 1 == size or values[pos + 1] != value:
                            near.append((value - units, day_members[pos]))
                        else:
                            gap = value - units
                            near.extend((gap, x) for x in _run(values, day_members, pos, o_ids))
            if near:
                near.sort()
                cut = near[min(len(near), max_nearest) - 1][0]
                found.extend([x for gap, x in near if gap <= cut])
            quoted_set = set(quoted)
            # Ranked by (quoted first, same currency, amount gap, days outside the window,
            # days apart, id); the id is looked up only for the items that may make the cut.
            ranked = []
            for x in set(found):
                offset = (o_day[x] - day) * sign
                outside = (
                    offset - after
                    if offset > after
                    else -before - offset
                    if offset < -before
                    else 0
                )
                ranked.append(
                    (
                        x not in quoted_set,
                        o_cur[x] != currency,
                        abs(o_units[x] - units),
                        outside,
                        abs(offset),
                        x,
                    )
                )
            ranked.sort()
            if max_nearest < len(ranked):  # the first ``max_nearest`` and any tying with them
                edge = ranked[max_nearest - 1][:5] if max_nearest else None
                cut = max_nearest
                while cut < len(ranked) and ranked[cut][:5] == edge:
                    cut += 1
                del ranked[cut:]
            for first, second in zip(ranked, islice(ranked, 1, None), strict=False):
                if first[:5] == second[:5]:  # a tie (rare): the ids decide
                    ranked.sort(key=lambda item: (*item[:5], o_ids[item[5]]))
                    break
            if is_txn:
                nearest = tuple(
                    [
                        Candidate(o_ids[item[5]], why_not(k, item[5], item[0] is False))
                        for item in ranked[:max_nearest]
                    ]
                )
            else:
                nearest = tuple(
                    [
                        Candidate(o_ids[item[5]], why_not(item[5], k, item[0] is False))
                        for item in ranked[:max_nearest]
                    ]
                )
            reason = self._not_matchable(units) or (
                f"nearest {what} {nearest[0].id}: {nearest[0].reasons[0]}"
                if nearest
                else f"no {what} in {self.currency_names[currency]} quoting it or of a near "
                "amount within the window"
            )
            out.append(Unmatched(side, s_ids[k], reason, nearest))
        return out

    def _why_not(self, i: int, j: int, quoted: bool) -> tuple[str, ...]:
        """Every reason transaction ``i`` and ledger line ``j`` are not matched together."""
        reasons: list[str] = []
        code = i * self.ne + j
        if self.rejected and code in self.rejected:
            reasons.append("pair rejected by a decision")
        tc_i, ec_j = self.tc[i], self.ec[j]
        if tc_i != ec_j:
            reasons.append(f"currency {self.E[j].currency}, not {self.T[i].currency}")
        tu_i, eu_j = self.tu[i], self.eu[j]
        if (tu_i > 0) != (eu_j > 0) or (tu_i < 0) != (eu_j < 0):
            reasons.append(
                "signs differ: a credit against a charge"
                if tu_i and eu_j
                else "one side has a zero amount"
            )
        elif tc_i == ec_j and eu_j != tu_i:
            limit = self._limit(tu_i)
            diff = self._fmt(eu_j - tu_i, tc_i)
            if abs(eu_j - tu_i) > limit:
                reasons.append(f"amount differs by {diff} (tolerance {self._fmt(limit, tc_i)})")
            elif Rule.TOLERANCE not in self.rules:
                reasons.append(f"amount differs by {diff} and the tolerance rule is off")
        offset = self.ed[j] - self.td[i]
        before, after = self.before, self.after
        outside = offset - after if offset > after else -before - offset if offset < -before else 0
        if outside and not (quoted and outside <= self.cfg.reference_slack_days):
            unit = "day" if outside == 1 else "days"
            side = "after" if offset > 0 else "before"
            reasons.append(f"posted {outside} {unit} {side} the window")
        t_card, e_card = self.tcard[i], self.ecard[j]
        if t_card and e_card and t_card != e_card and not quoted:
            reasons.append(f"card {e_card} differs from {t_card}")
        owner_t, owner_e = self.t_owner[i], self.e_owner[j]
        if owner_e is not None:
            reasons.append(
                f"ledger line already matched with transaction {_members(owner_e.transaction_ids)}"
                f" ({owner_e.rule}, score {owner_e.score:.2f})"
            )
        if owner_t is not None:
            reasons.append(
                f"transaction already matched with ledger line {_members(owner_t.entry_ids)}"
                f" ({owner_t.rule}, score {owner_t.score:.2f})"
            )
        if not reasons:
            score = self.unselected.get(code)
            if score is not None:
                reasons.append(
                    f"ambiguous: scored {score:.2f}, below the review threshold "
                    f"{self.cfg.review_threshold:.2f}"
                )
            elif quoted:
                reasons.append("quotes a reference, but no rule accepted the pair")
            else:
                reasons.append("no rule pairs them")
        return tuple(reasons)


# --------------------------------------------------------------------------------------------
# Module helpers


def _cite(hits: dict[int, tuple[int, str]], i: int, k: int, tok: str) -> None:
    """Record that the line quotes transaction ``i`` by ``tok`` (shared by ``k``); the
    most specific token (fewest transactions, then alphabetical) is kept."""
    old = hits.get(i)
    if old is None or (k, tok) < old:
        hits[i] = (k, tok)


def _members(ids: tuple[str, ...]) -> str:
    return ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"


def _keep_best(found: _Found, cand: _Cand) -> None:
    """Keep ``cand`` unless the same members already have a candidate at least as strong."""
    old = found.get((cand.ts, cand.es))
    if old is None or old.weight < cand.weight:
        found[cand.ts, cand.es] = cand


def _group_card(cards: Sequence[str], other: str) -> int:
    """+1 when every member names the other side's card, -1 when one names another card,
    else 0 (a card missing somewhere)."""
    if not other:
        return 0
    if any(card and card != other for card in cards):
        return -1
    return 1 if all(cards) else 0


def _run(values: Sequence[int], members: Sequence[int], pos: int, ids: list[str]) -> list[int]:
    """The items with the amount at ``pos``; of many, the first few by id (deterministic)."""
    value = values[pos]
    low = pos if pos == 0 or values[pos - 1] != value else bisect_left(values, value)
    high = (
        pos + 1
        if pos + 1 == len(values) or values[pos + 1] != value
        else (bisect_right(values, value))
    )
    same = list(members[low:high])
    if len(same) > _NEAREST_PER_AMOUNT:
        return heapq.nsmallest(_NEAREST_PER_AMOUNT, same, key=ids.__getitem__)
    return same


def _merchant_flags(entries: list[Entry], merchant_names: Sequence[str]) -> bytearray:
    """1 for each ledger line whose text names the merchant, else 0."""
    names = [name.upper() for name in merchant_names if name]
    flags = bytearray(len(entries))
    for j, e in enumerate(entries):
        text = e.text
        if text:
            text = text.upper()
            for name in names:
                if name in text:
                    flags[j] = 1
                    break
    return flags


def _to_units(
    amounts: Iterable[Decimal], factor: Decimal, shared: dict[int, int]
) -> list[int] | None:
    """``amounts`` times ``factor`` as ints, or ``None`` if one of them is not integral.

    The loops run in C (``map``): the product is made integral exactly or raises
    :class:`~decimal.Inexact`. Equal amounts share one int object (``shared``): prices
    repeat, and a million distinct int objects would cost tens of megabytes.
    """
    units = map(int, map(_EXACT.to_integral_exact, map(factor.__mul__, amounts)))
    first, second = tee(units)  # both arguments of setdefault, never a list of all ints
    try:
        return list(map(shared.setdefault, first, second))
    except Inexact:
        return None


def _ascending(values: list[str], strictly: bool = False) -> bool:
    """Whether ``values`` are in ascending order (one C loop, stopping at the first pair
    out of order)."""
    return all(map(lt if strictly else le, values, islice(values, 1, None)))


def _clean_references(references: Iterable[str], minimum: int) -> bool:
    """Whether every reference is a clean upper-case ASCII token of at least ``minimum``
    characters: only ``0-9``, ``A-Z`` and inner separators ``_./-``, never one at either
    end nor two in a row (what :data:`~worker.reconcile.tokens.ASCII_TOKEN` finds whole).

    Checked on blocks of references joined by newlines, with byte operations that run in C
    (deleting the alphabet leaves nothing; with every separator mapped to ``-``, no ``--``
    and no ``-`` next to a newline or at either end): a regular expression over millions of
    references takes seconds.
    """
    refs = iter(references)
    while block := list(islice(refs, _CHECK_BLOCK)):
        if min(map(len, block)) < minimum:
            return False
        text = "\n".join(block)
        if not text.isascii():
            return False
        raw = text.encode("ascii")
        if raw.translate(None, _CLEAN_BYTES):
            return False
        seps = raw.translate(_ONE_SEPARATOR)
        if (
            seps.startswith(b"-")
            or seps.endswith(b"-")
            or b"--" in seps
            or b"\n-" in seps
            or b"-\n" in seps
        ):
            return False
    return True


def _id_of(item: Txn | Entry) -> str:
    return item.transaction_id if isinstance(item, Txn) else item.entry_id


def _exponent(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _amount_index(
    units: list[int],
    currencies: Sequence[int],
    days: list[int],
    usable: bytearray,
    free: bytearray,
    ncur: int,
) -> dict[int, _Bucket]:
    """Usable items by ``amount * ncur + currency``: an index, a list, or for long buckets
    (dates ascending, indexes in that order) to bisect the posting window."""
    index: dict[int, _Bucket] = {}
    get = index.get
    for k in compress(range(len(usable)), map(and_, usable, free)):
        key = units[k] * ncur + currencies[k]
        v = get(key)
        if v is None:
            index[key] = k
        elif isinstance(v, int):
            index[key] = [v, k]
        elif isinstance(v, list):
            v.append(k)
    day_of = days.__getitem__
    for key, v in index.items():
        if isinstance(v, list) and len(v) > _SORTED_BUCKET:
            v.sort(key=day_of)  # ties in input order: every reader treats a day as a set
            index[key] = ([days[k] for k in v], v)
    return index


def _day_index(
    days: list[int], currencies: Sequence[int], units: list[int], ncur: int
) -> dict[int, _DayBucket]:
    """Items by ``day * ncur + currency``: (amounts ascending, item indexes in that order),
    as flat machine-integer arrays (compact, and bisection does not chase pointers)."""
    buckets: dict[int, list[int]] = {}
    if ncur == 1 and all(map(le, days, islice(days, 1, None))):
        # Dated input: each day is one run of consecutive items.
        for day, run in groupby(range(len(days)), days.__getitem__):
            buckets[day] = list(run)
    else:
        for index, (day, currency) in enumerate(zip(days, currencies, strict=True)):
            key = day * ncur + currency
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = [index]
            else:
                bucket.append(index)
    out: dict[int, _DayBucket] = {}
    get = units.__getitem__
    for key, members in buckets.items():
        members.sort(key=get)
        amounts = [units[m] for m in members]
        try:
            out[key] = (array("q", amounts), array("q", members))
        except OverflowError:  # amounts beyond 64 bits (absurd, but allowed): plain lists
            out[key] = (amounts, array("q", members))
    return out


def _content(item: Txn | Entry) -> tuple[object, ...]:
    """A total order on records with the same id, to keep one of duplicates."""
    if isinstance(item, Txn):
        refs = sorted(item.references)
        return (item.date, item.amount, item.currency, item.card_last4, refs, item.kind.value)
    return (item.date, item.amount, item.currency, item.card_last4, item.text)
