"""The records the matcher reads and writes: plain, frozen, typed values.

Two sides meet in reconciliation:

* a :class:`Txn` is a payment event Amazon reports through the Reconciliation API: money taken
  for a shipment (``CHARGE``) or given back (``REFUND``, or a goodwill ``OVERREFUND``);
* an :class:`Entry` is one line of the company's books (a card-statement line, an accounts
  payable posting, an expense claim), whatever its source.

**Sign convention.** Both sides are signed from the buyer's point of view, so a transaction and
the ledger line that records it carry the *same* sign: Amazon signs a charge positive and a
refund negative, and the books sign money spent positive and a refund or credit negative
(``connectors/sandbox/generator.py`` generates exactly that, and the generator quality test
checks it on its truth links). A charge therefore never matches a negative ledger line and a
refund never a positive one. Mapping a ledger whose export flips signs (credit-card liability
accounts often do) is the ledger connector's job, not the matcher's.

**Money** is :class:`~decimal.Decimal` with an explicit ISO currency. Amounts are only ever
compared within one currency; the matcher works in integer minor units internally.

A :class:`Match` links one or more transactions to one or more ledger lines (1:1, many-to-one
when one line books several shipments of an order, one-to-many when one charge is split over
several lines). It carries the rule that found it, a score in ``[0, 1]``, a human explanation,
and the ``difference`` (ledger total minus transactions total) a tolerance let through.
Whatever is left over comes back as :class:`Unmatched`, with its nearest candidates and why
each one failed, and anything the matcher could not do (a search cut short by its work cap, a
duplicate id) as a :class:`Problem`: values, never exceptions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

__all__ = [
    "Candidate",
    "Decisions",
    "Entry",
    "ManualMatch",
    "Match",
    "MatchConfig",
    "MatchResult",
    "Problem",
    "Rule",
    "Side",
    "Txn",
    "TxnKind",
    "Unmatched",
    "Zone",
    "match_id",
]


class TxnKind(StrEnum):
    """Amazon's ``transactionType``: what kind of payment event a transaction is."""

    CHARGE = "CHARGE"
    """Money taken for a shipment (positive amount)."""
    REFUND = "REFUND"
    """Money given back for a return (negative amount)."""
    OVERREFUND = "OVERREFUND"
    """An extra credit beyond any return, e.g. a goodwill price adjustment (negative)."""


class Zone(StrEnum):
    """How much a match can be trusted without a person looking at it.

    ``auto`` matches may be posted as they are; ``review`` matches are proposals. Candidates
    scoring below :attr:`MatchConfig.review_threshold` are not proposed at all: their items
    come back as :class:`Unmatched`, the candidate listed among the nearest.
    """

    AUTO = "auto"
    REVIEW = "review"


class Side(StrEnum):
    """Which side of the reconciliation an unmatched item is on."""

    TRANSACTION = "transaction"
    ENTRY = "entry"


class Rule(StrEnum):
    """The matching rules, in tiers; each can be switched off in :attr:`MatchConfig.rules`.

    A match's :attr:`Match.rule` names the rule that found it: ``reference``,
    ``amount_date``, ``tolerance``, ``many_to_one`` or ``one_to_many``, prefixed with
    ``refund_`` when the amounts are credits (negative), and ``confirmed`` or ``manual`` for
    matches kept from :class:`Decisions`.
    """

    REFERENCE = "reference"
    """A reference of the transaction (order id, invoice number, purchase-order number,
    charge identifier) appears as a whole token in the ledger line's text, and the amounts
    agree exactly, within tolerance, or as a group."""
    AMOUNT_DATE = "amount_date"
    """The same amount, the ledger date inside the posting window, the cards compatible."""
    TOLERANCE = "tolerance"
    """Amounts within the absolute/relative tolerance; the difference is recorded."""
    GROUP = "group"
    """Subset sums: one ledger line for several transactions (``many_to_one``) or one
    transaction over several ledger lines (``one_to_many``), inside groups that share a
    reference, or a day and a card."""
    REFUND = "refund"
    """Credits (refunds, over-refunds) against negative ledger lines, by the rules above. Off,
    credits are left unmatched."""


@dataclass(frozen=True, slots=True)
class Txn:
    """An Amazon Business payment transaction, as the matcher needs it.

    ``amount`` is signed as Amazon signs it: positive for a charge, negative for a refund.
    ``references`` are the identifiers a ledger line may quote: the order ids and
    purchase-order numbers of its line items, its invoice (or credit-memo) number and its
    charge identifier. ``card_last4`` is empty when no card paid (Pay by Invoice).
    """

    transaction_id: str
    date: date
    amount: Decimal
    currency: str
    card_last4: str = ""
    references: frozenset[str] = frozenset()
    kind: TxnKind = TxnKind.CHARGE


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the company's ledger.

    ``amount`` is positive for money spent and negative for a refund or credit. ``text`` is
    the line's reference and description concatenated and upper-cased; references are found
    in it as whole tokens. ``card_last4`` is empty when the line names no card.
    """

    entry_id: str
    date: date
    amount: Decimal
    currency: str
    card_last4: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """Transactions and ledger lines that record the same money.

    ``match_id`` is derived from the members alone (:func:`match_id`), so the same match found
    twice has the same id; it is computed when read (a hash: a million matches need not pay
    for ids nobody reads). Member ids are sorted. ``difference`` is the ledger total minus the
    transactions total (zero unless a tolerance let a gap through). ``score`` is in
    ``[0, 1]``.
    """

    transaction_ids: tuple[str, ...]
    entry_ids: tuple[str, ...]
    rule: str
    score: float
    explanation: str
    difference: Decimal
    zone: Zone

    @property
    def match_id(self) -> str:
        """The deterministic id of this match (see :func:`match_id`)."""
        return match_id(self.transaction_ids, self.entry_ids)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A near miss: the id of an item on the other side and why it did not match."""

    id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unmatched:
    """An item left without a match, its overall ``reason`` and its ``nearest`` candidates
    (closest first), each with the reasons it failed."""

    side: Side
    id: str
    reason: str
    nearest: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the matcher could not do, or bad input it skipped, reported as a value.

    ``code`` is stable and machine-readable (``subset_sum_cap``, ``group_too_large``,
    ``duplicate_id``, ``sign_kind_mismatch``, ``unknown_decision_id``, ...); ``ids`` names the
    items concerned.
    """

    code: str
    message: str
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """How the matcher decides.

    The posting window is asymmetric: a ledger line recording a transaction of day ``d`` is
    expected on ``[d - window_before_days, d + window_after_days]`` (books post after the
    event; a couple of days before covers time zones and authorisation dates). A tolerance
    accepts ``|difference| <= max(tolerance_absolute, tolerance_relative * |txn amount|)``.

    ``auto_threshold`` and ``review_threshold`` split scores into zones (see :class:`Zone`).
    Group searches consider at most ``max_group_size`` items and stop after
    ``subset_sum_cap`` steps, reporting a :class:`Problem` instead of running on.
    A reference match may lie outside the window (with a penalty) by at most
    ``reference_slack_days``. References shorter than ``min_reference_length`` characters are
    ignored (too likely to appear by chance). Unmatched items list up to ``max_nearest``
    candidates.
    """

    window_before_days: int = 2
    window_after_days: int = 5
    tolerance_absolute: Decimal = Decimal("0.01")
    tolerance_relative: Decimal = Decimal("0")
    auto_threshold: float = 0.9
    review_threshold: float = 0.25
    max_group_size: int = 12
    subset_sum_cap: int = 100_000
    rules: frozenset[Rule] = frozenset(Rule)
    reference_slack_days: int = 30
    min_reference_length: int = 4
    max_nearest: int = 3
    merchant_names: tuple[str, ...] = ("AMAZON", "AMZN")

    def __post_init__(self) -> None:
        if self.window_before_days < 0 or self.window_after_days < 0:
            raise ValueError("window_before_days and window_after_days must be >= 0")
        if self.tolerance_absolute < 0 or self.tolerance_relative < 0:
            raise ValueError("tolerances must be >= 0")
        if not 0.0 <= self.review_threshold <= self.auto_threshold <= 1.0:
            raise ValueError("need 0 <= review_threshold <= auto_threshold <= 1")
        if self.max_group_size < 2:
            raise ValueError("max_group_size must be >= 2")
        if self.subset_sum_cap < 1:
            raise ValueError("subset_sum_cap must be >= 1")
        if self.reference_slack_days < 0 or self.min_reference_length < 1:
            raise ValueError("reference_slack_days >= 0 and min_reference_length >= 1")
        if self.max_nearest < 0:
            raise ValueError("max_nearest must be >= 0")
        unknown = [rule for rule in self.rules if not isinstance(rule, Rule)]
        if unknown:
            raise ValueError(f"unknown rules: {unknown!r}")


@dataclass(frozen=True, slots=True)
class ManualMatch:
    """A match a person made (``manual``) or accepted (``confirmed``).

    The matcher keeps it as it is and takes its items out of the pool it matches from.
    """

    transaction_ids: tuple[str, ...]
    entry_ids: tuple[str, ...]
    source: Literal["confirmed", "manual"] = "confirmed"


@dataclass(frozen=True, slots=True)
class Decisions:
    """What people decided on earlier proposals; the matcher never goes against it.

    ``rejected_pairs`` holds ``(transaction_id, entry_id)`` pairs declared unrelated: no match
    containing such a pair is proposed again (hard-negative memory, as in Midday).
    ``rejected_matches`` holds match ids declined as a whole (a group can be wrong even when
    each of its pairs is plausible). ``kept`` matches are returned as they are and their items
    leave the pool.
    """

    rejected_pairs: frozenset[tuple[str, str]] = frozenset()
    rejected_matches: frozenset[str] = frozenset()
    kept: tuple[ManualMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Everything :func:`~worker.reconcile.matching.match` found.

    Every input item is in exactly one place: in one match, or in the unmatched list of its
    side (duplicates and items of kept matches with bad ids are reported as problems).
    Matches are ordered by their first entry id then first transaction id; unmatched items
    by id.
    """

    matches: tuple[Match, ...] = ()
    unmatched_transactions: tuple[Unmatched, ...] = ()
    unmatched_entries: tuple[Unmatched, ...] = ()
    problems: tuple[Problem, ...] = field(default=())


def match_id(transaction_ids: Iterable[str], entry_ids: Iterable[str]) -> str:
    """The deterministic id of the match of these members (order does not matter)."""
    text = "\x1f".join(sorted(transaction_ids)) + "\x1e" + "\x1f".join(sorted(entry_ids))
    return "m-" + hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()
