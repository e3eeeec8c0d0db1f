"""The matching engine on small, readable books: every rule, zone, decision and tie-break, and
properties (hypothesis) that must hold on any input.

Dates are days after Monday 3 March 2025 (``day=0``); amounts are strings so that they read
like the books. The posting window is the default ``[-2, +5]`` days.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.reconcile import (
    Decisions,
    Entry,
    ManualMatch,
    Match,
    MatchConfig,
    MatchResult,
    Rule,
    Side,
    Txn,
    TxnKind,
    Zone,
    match,
    match_id,
)
from worker.reconcile.subsets import best_subset, subset_sums
from worker.reconcile.tokens import tokenize

DAY0 = date(2025, 3, 3)


def txn(
    tid: str,
    amount: str,
    day: int = 0,
    card: str = "",
    refs: Iterable[str] = (),
    currency: str = "USD",
    kind: TxnKind | None = None,
) -> Txn:
    value = Decimal(amount)
    if kind is None:
        kind = TxnKind.CHARGE if value >= 0 else TxnKind.REFUND
    return Txn(tid, DAY0 + timedelta(days=day), value, currency, card, frozenset(refs), kind)


def entry(
    eid: str, amount: str, day: int = 0, card: str = "", text: str = "", currency: str = "USD"
) -> Entry:
    return Entry(eid, DAY0 + timedelta(days=day), Decimal(amount), currency, card, text.upper())


def links(result: MatchResult) -> set[tuple[str, str]]:
    return {(t, e) for m in result.matches for t in m.transaction_ids for e in m.entry_ids}


def only(result: MatchResult) -> Match:
    assert len(result.matches) == 1, result.matches
    return result.matches[0]


def unmatched_ids(result: MatchResult) -> tuple[set[str], set[str]]:
    return (
        {u.id for u in result.unmatched_transactions},
        {u.id for u in result.unmatched_entries},
    )


# ---------------------------------------------------------------------------------------------
# Tokens and subset sums
# ---------------------------------------------------------------------------------------------


def test_tokens_keep_identifiers_whole() -> None:
    assert tokenize("Amazon Business order 112-1234567-7654321 (2 shipments)") == [
        "AMAZON",
        "BUSINESS",
        "ORDER",
        "112-1234567-7654321",
        "2",
        "SHIPMENTS",
    ]
    assert tokenize("AMAZON MKTPL*2K4AB12C3, ref: INV/2025/001.") == [
        "AMAZON",
        "MKTPL",
        "2K4AB12C3",
        "REF",
        "INV/2025/001",
    ]
    assert tokenize("Zoë Müller PO-7") == ["ZOË", "MÜLLER", "PO-7"]


def test_subset_sums_finds_the_closest_group_and_counts_alternatives() -> None:
    found = subset_sums([1000, 2500, 1500, 4000], cap=10_000)
    assert best_subset(found, 4000, 0) == (0b0110, 4000, 0)  # 2500 + 1500; 4000 alone is 1:1
    assert best_subset(found, 4001, 0) is None
    assert best_subset(found, 4001, 1) == (0b0110, 4000, 0)
    two_ways = subset_sums([1000, 3000, 2500, 1500], cap=10_000)
    assert best_subset(two_ways, 4000, 0) == (0b0011, 4000, 1)  # and 2500 + 1500


def test_subset_sums_stop_at_the_work_cap() -> None:
    found = subset_sums(list(range(1, 20)), cap=50)
    assert found.capped and not found.sums


# ---------------------------------------------------------------------------------------------
# Rule 1: references
# ---------------------------------------------------------------------------------------------


def test_reference_invoice_number_quoted_with_equal_amount() -> None:
    result = match(
        [txn("T1", "149.99", card="4242", refs={"112-1234567-7654321", "3NPD-BWA5-GQZI"})],
        [entry("GL-1", "149.99", day=2, card="4242", text="Amazon invoice 3NPD-BWA5-GQZI")],
    )
    m = only(result)
    assert (m.transaction_ids, m.entry_ids, m.rule, m.zone) == (
        ("T1",),
        ("GL-1",),
        "reference",
        Zone.AUTO,
    )
    assert m.difference == 0
    assert m.score > 0.99
    assert "quotes reference 3NPD-BWA5-GQZI" in m.explanation
    assert "posted 2 days after the transaction" in m.explanation
    assert m.match_id == match_id(["T1"], ["GL-1"])


def test_reference_must_be_a_whole_token() -> None:
    # "1234567" is part of the order id token and "INV-1002" a prefix of "INV-10023": neither is
    # quoted. The amounts differ, so nothing else matches either.
    result = match(
        [txn("T1", "10.00", refs={"1234567"}), txn("T2", "20.00", refs={"INV-1002"})],
        [
            entry("GL-1", "11.00", text="order 112-1234567-7654321"),
            entry("GL-2", "21.00", text="invoice INV-10023"),
        ],
    )
    assert result.matches == ()
    assert unmatched_ids(result) == ({"T1", "T2"}, {"GL-1", "GL-2"})


def test_reference_shared_by_an_order_picks_the_shipment_with_the_amount() -> None:
    order = "112-7736151-5856766"
    result = match(
        [txn("T1", "30.00", refs={order}), txn("T2", "45.50", day=1, refs={order})],
        [
            entry("GL-1", "45.50", day=3, text=f"Amazon Business order {order}"),
            entry("GL-2", "30.00", day=1, text=f"Amazon Business order {order}"),
        ],
    )
    assert links(result) == {("T1", "GL-2"), ("T2", "GL-1")}
    assert {m.rule for m in result.matches} == {"reference"}
    assert all("shared by 2 transactions" in m.explanation for m in result.matches)


def test_reference_with_amount_within_tolerance_records_the_difference() -> None:
    result = match(
        [txn("T1", "100.00", refs={"INV-4711"})],
        [entry("GL-1", "100.01", text="INV-4711")],
    )
    m = only(result)
    assert m.rule == "reference"
    assert m.difference == Decimal("0.01")
    assert "amount differs by 0.01 USD (tolerance 0.01 USD)" in m.explanation


def test_reference_with_amount_beyond_tolerance_does_not_match() -> None:
    result = match(
        [txn("T1", "100.00", refs={"INV-4711"})],
        [entry("GL-1", "90.00", text="INV-4711")],
    )
    assert result.matches == ()
    (t,) = result.unmatched_transactions
    assert t.nearest[0].id == "GL-1"
    assert "amount differs by -10.00 USD (tolerance 0.01 USD)" in t.nearest[0].reasons


def test_reference_outside_the_window_matches_for_review() -> None:
    result = match(
        [txn("T1", "80.00", refs={"INV-4711"})],
        [entry("GL-1", "80.00", day=12, text="INV-4711")],
    )
    m = only(result)
    assert m.rule == "reference"
    assert m.zone is Zone.REVIEW  # a date outside the window contradicts
    assert "7 days outside the window" in m.explanation


# ---------------------------------------------------------------------------------------------
# Rule 2: amount and date
# ---------------------------------------------------------------------------------------------


def test_amount_and_date_with_the_same_card() -> None:
    result = match(
        [txn("T1", "263.93", card="2220")],
        [entry("GL-1", "263.93", day=1, card="2220", text="AMAZON MKTPL*OMEIXA9DB")],
    )
    m = only(result)
    assert (m.rule, m.zone) == ("amount_date", Zone.AUTO)
    assert "card 2220 agrees" in m.explanation and "names the merchant" in m.explanation


@pytest.mark.parametrize(
    ("day", "matched", "reason"),
    [
        (-3, False, "posted 1 day before the window"),
        (-2, True, ""),
        (5, True, ""),
        (6, False, "posted 1 day after the window"),
    ],
)
def test_the_window_is_asymmetric(day: int, matched: bool, reason: str) -> None:
    result = match([txn("T1", "50.00")], [entry("GL-1", "50.00", day=day, text="AMAZON")])
    assert bool(result.matches) is matched
    if not matched:
        (t,) = result.unmatched_transactions
        assert reason in t.nearest[0].reasons
        assert t.reason == f"nearest ledger line GL-1: {reason}"


def test_a_different_card_never_matches_on_amount() -> None:
    result = match([txn("T1", "50.00", card="1111")], [entry("GL-1", "50.00", card="2222")])
    assert result.matches == ()
    (t,) = result.unmatched_transactions
    assert "card 2222 differs from 1111" in t.nearest[0].reasons


def test_amount_alone_is_only_proposed_for_review() -> None:
    # No card on the line, no merchant named, no reference: only amount and date agree.
    result = match([txn("T1", "77.10", card="4242")], [entry("GL-1", "77.10", text="PAYMENT")])
    m = only(result)
    assert m.rule == "amount_date"
    assert m.zone is Zone.REVIEW


def test_currencies_never_mix() -> None:
    result = match(
        [txn("T1", "50.00", currency="EUR")],
        [entry("GL-1", "50.00", currency="USD", text="AMAZON")],
    )
    assert result.matches == ()
    (t,) = result.unmatched_transactions
    assert t.reason == "no ledger line in EUR quoting it or of a near amount within the window"


def test_sub_cent_amounts_are_compared_exactly() -> None:
    result = match(
        [txn("T1", "1.005"), txn("T2", "1.004")],
        [entry("GL-1", "1.004", text="AMAZON"), entry("GL-2", "1.005", text="AMAZON")],
        MatchConfig(tolerance_absolute=Decimal("0.0001")),
    )
    assert links(result) == {("T1", "GL-2"), ("T2", "GL-1")}


# ---------------------------------------------------------------------------------------------
# Rule 3: tolerance
# ---------------------------------------------------------------------------------------------


def test_tolerance_matches_a_cent_off_for_review() -> None:
    result = match([txn("T1", "19.99", card="4242")], [entry("GL-1", "20.00", card="4242")])
    m = only(result)
    assert (m.rule, m.difference, m.zone) == ("tolerance", Decimal("0.01"), Zone.REVIEW)


def test_relative_tolerance() -> None:
    txns = [txn("T1", "1000.00", card="4242")]
    entries = [entry("GL-1", "1015.00", card="4242")]
    assert match(txns, entries).matches == ()
    m = only(match(txns, entries, MatchConfig(tolerance_relative=Decimal("0.02"))))
    assert (m.rule, m.difference) == ("tolerance", Decimal("15.00"))


def test_exact_beats_tolerance() -> None:
    result = match(
        [txn("T1", "20.00", card="4242")],
        [entry("GL-1", "20.01", card="4242"), entry("GL-2", "20.00", day=4, card="4242")],
    )
    assert links(result) == {("T1", "GL-2")}


# ---------------------------------------------------------------------------------------------
# Rule 4: groups
# ---------------------------------------------------------------------------------------------


def test_one_line_for_every_shipment_of_an_order() -> None:
    order = "111-3414193-0404281"
    result = match(
        [
            txn("T1", "19.99", day=0, card="9845", refs={order, "INV-1"}),
            txn("T2", "5.25", day=1, card="9845", refs={order, "INV-2"}),
            txn("T3", "120.00", day=2, card="9845", refs={order, "INV-3"}),
            txn("T4", "-5.25", day=9, card="9845", refs={order, "CM-4"}),  # a later return
        ],
        [entry("GL-1", "145.24", day=4, card="9845", text=f"Amazon order {order} (3 shipments)")],
    )
    m = only(result)
    assert m.transaction_ids == ("T1", "T2", "T3")
    assert (m.rule, m.difference, m.zone) == ("many_to_one", Decimal(0), Zone.AUTO)
    assert "the line sums 3 transactions" in m.explanation
    assert unmatched_ids(result) == ({"T4"}, set())


def test_one_charge_split_over_two_lines_quoting_its_invoice() -> None:
    result = match(
        [txn("T1", "300.00", card="4242", refs={"INV-9"})],
        [
            entry("GL-1", "120.00", day=1, card="4242", text="INV-9 part 1/2"),
            entry("GL-2", "180.00", day=1, card="4242", text="INV-9 part 2/2"),
        ],
    )
    m = only(result)
    assert (m.entry_ids, m.rule, m.zone) == (("GL-1", "GL-2"), "one_to_many", Zone.AUTO)


def test_same_day_and_card_without_reference_is_for_review() -> None:
    result = match(
        [txn("T1", "12.00", day=0, card="4242"), txn("T2", "30.00", day=0, card="4242")],
        [entry("GL-1", "42.00", day=2, card="4242", text="AMAZON MKTPL*X")],
    )
    m = only(result)
    assert (m.transaction_ids, m.rule, m.zone) == (("T1", "T2"), "many_to_one", Zone.REVIEW)


def test_one_transaction_over_two_lines_of_a_day_without_reference() -> None:
    result = match(
        [txn("T1", "42.00", day=0, card="4242")],
        [
            entry("GL-1", "12.00", day=1, card="4242", text="AMAZON"),
            entry("GL-2", "30.00", day=1, card="4242", text="AMAZON"),
        ],
    )
    m = only(result)
    assert (m.entry_ids, m.rule, m.zone) == (("GL-1", "GL-2"), "one_to_many", Zone.REVIEW)


def test_group_search_caps_are_reported_as_problems() -> None:
    order = "113-0000000-0000001"
    txns = [txn(f"T{k}", f"{k}.00", card="1", refs={order}) for k in range(1, 7)]
    entries = [entry("GL-1", "1000.00", card="1", text=order)]
    capped = match(txns, entries, MatchConfig(subset_sum_cap=5))
    assert [p.code for p in capped.problems] == ["subset_sum_cap"]
    assert set(capped.problems[0].ids) == {"GL-1", "T1", "T2", "T3", "T4", "T5", "T6"}
    too_many = match(txns, entries, MatchConfig(max_group_size=4))
    assert [p.code for p in too_many.problems] == ["group_too_large"]


# ---------------------------------------------------------------------------------------------
# Rule 5: refunds and credits
# ---------------------------------------------------------------------------------------------


def test_refund_against_a_negative_ledger_line() -> None:
    result = match(
        [txn("T1", "-4.14", card="9845", kind=TxnKind.OVERREFUND)],
        [
            entry("GL-1", "4.14", day=1, card="9845", text="AMAZON MKTPL*A"),  # a charge
            entry("GL-2", "-4.14", day=2, card="9845", text="AMAZON MKTPL*B REFUND"),
        ],
    )
    m = only(result)
    assert (m.entry_ids, m.rule) == (("GL-2",), "refund_amount_date")
    (gl1,) = result.unmatched_entries
    assert gl1.id == "GL-1"


def test_credits_stay_unmatched_when_the_refund_rule_is_off() -> None:
    rules = frozenset(Rule) - {Rule.REFUND}
    result = match(
        [txn("T1", "-4.14", card="9845")],
        [entry("GL-1", "-4.14", card="9845", text="AMAZON REFUND")],
        MatchConfig(rules=rules),
    )
    assert result.matches == ()
    assert result.unmatched_transactions[0].reason == (
        "a credit, and the refund rule is switched off"
    )


def test_a_kind_that_disagrees_with_the_sign_is_reported() -> None:
    result = match([txn("T1", "-5.00", kind=TxnKind.CHARGE)], [])
    assert [p.code for p in result.problems] == ["sign_kind_mismatch"]


# ---------------------------------------------------------------------------------------------
# Zones, ambiguity, tie-breaks
# ---------------------------------------------------------------------------------------------


def test_zones_follow_the_thresholds() -> None:
    txns = [txn("T1", "55.00", card="4242")]
    entries = [entry("GL-1", "55.00", day=1, card="4242", text="AMAZON MKTPL*Z")]
    assert only(match(txns, entries)).zone is Zone.AUTO
    assert only(match(txns, entries, MatchConfig(auto_threshold=0.9999))).zone is Zone.REVIEW
    strict = MatchConfig(auto_threshold=0.9999, review_threshold=0.9999)
    assert match(txns, entries, strict).matches == ()


def test_two_equal_candidates_are_ambiguous() -> None:
    txns = [txn("T1", "9.99", card="4242")]
    entries = [
        entry("GL-1", "9.99", day=1, card="4242", text="AMAZON"),
        entry("GL-2", "9.99", day=1, card="4242", text="AMAZON"),
    ]
    m = only(match(txns, entries))
    assert m.entry_ids == ("GL-1",)  # equal evidence: the lower id wins
    assert m.score < 0.5 and m.zone is Zone.REVIEW
    assert "1 competing candidate(s)" in m.explanation
    strict = match(txns, entries, MatchConfig(review_threshold=0.6))
    assert strict.matches == ()
    assert "ambiguous: scored" in strict.unmatched_transactions[0].nearest[0].reasons[0]


def test_tie_break_by_id_whatever_the_input_order() -> None:
    txns = [txn("T2", "9.99", card="4242"), txn("T1", "9.99", card="4242")]
    entries = [entry("GL-1", "9.99", day=1, card="4242", text="AMAZON")]
    first = match(txns, entries)
    second = match(list(reversed(txns)), entries)
    assert first == second
    assert only(first).transaction_ids == ("T1",)


def test_the_closer_date_wins_and_the_other_gets_the_rest() -> None:
    result = match(
        [txn("T1", "30.00", day=0, card="1"), txn("T2", "30.00", day=3, card="1")],
        [
            entry("GL-1", "30.00", day=0, card="1", text="AMAZON"),
            entry("GL-2", "30.00", day=4, card="1", text="AMAZON"),
        ],
    )
    assert links(result) == {("T1", "GL-1"), ("T2", "GL-2")}


def test_a_reference_outweighs_a_bare_amount() -> None:
    result = match(
        [txn("T1", "64.00", card="1", refs={"INV-77"}), txn("T2", "64.00", card="1")],
        [
            entry("GL-1", "64.00", day=0, card="1", text="AMAZON MKTPL*Q"),
            entry("GL-2", "64.00", day=3, card="1", text="Amazon invoice INV-77"),
        ],
    )
    assert links(result) == {("T1", "GL-2"), ("T2", "GL-1")}


def test_another_vendor_with_the_same_amount_loses_to_the_amazon_line() -> None:
    result = match(
        [txn("T1", "131.57", card="6182")],
        [
            entry("GL-1", "131.57", day=2, card="6182", text="W.W. GRAINGER 9173"),
            entry("GL-2", "131.57", day=0, text="AMAZON MKTPL*WU3A76RCC"),
        ],
    )
    assert links(result) == {("T1", "GL-2")}


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


def test_a_rejected_pair_is_never_proposed_again() -> None:
    txns = [txn("T1", "50.00", card="1", refs={"INV-1"})]
    entries = [
        entry("GL-1", "50.00", card="1", text="INV-1"),
        entry("GL-2", "50.00", day=3, card="1", text="AMAZON"),
    ]
    decided = Decisions(rejected_pairs=frozenset({("T1", "GL-1")}))
    result = match(txns, entries, decisions=decided)
    assert links(result) == {("T1", "GL-2")}
    (gl1,) = result.unmatched_entries
    assert "pair rejected by a decision" in gl1.nearest[0].reasons


def test_a_rejected_group_is_never_proposed_again() -> None:
    txns = [txn("T1", "12.00", card="4"), txn("T2", "30.00", card="4")]
    entries = [entry("GL-1", "42.00", day=1, card="4", text="AMAZON")]
    assert only(match(txns, entries)).rule == "many_to_one"
    rejected = Decisions(rejected_matches=frozenset({match_id(["T1", "T2"], ["GL-1"])}))
    assert match(txns, entries, decisions=rejected).matches == ()


def test_kept_matches_come_back_and_leave_the_pool() -> None:
    txns = [txn("T1", "50.00", card="1"), txn("T2", "50.00", card="1")]
    entries = [entry("GL-1", "50.00", card="1", text="AMAZON")]
    kept = Decisions(kept=(ManualMatch(("T2",), ("GL-1",), "confirmed"),))
    result = match(txns, entries, decisions=kept)
    m = only(result)
    assert (m.transaction_ids, m.rule, m.score, m.zone) == (("T2",), "confirmed", 1.0, Zone.AUTO)
    assert unmatched_ids(result) == ({"T1"}, set())
    manual = Decisions(kept=(ManualMatch(("T1", "T2"), ("GL-1",), "manual"),))
    m = only(match(txns, entries, decisions=manual))
    assert (m.rule, m.difference) == ("manual", Decimal("-50.00"))


def test_a_kept_match_naming_an_unknown_item_is_a_problem() -> None:
    kept = Decisions(kept=(ManualMatch(("T1",), ("GL-404",), "confirmed"),))
    result = match(
        [txn("T1", "50.00", card="1")],
        [entry("GL-1", "50.00", card="1", text="AMAZON")],
        decisions=kept,
    )
    assert [p.code for p in result.problems] == ["unknown_decision_id"]
    assert links(result) == {("T1", "GL-1")}  # its items stayed in the pool


# ---------------------------------------------------------------------------------------------
# Input problems and unmatched diagnostics
# ---------------------------------------------------------------------------------------------


def test_duplicate_ids_keep_one_record_and_say_so() -> None:
    result = match(
        [txn("T1", "50.00"), txn("T1", "60.00")],
        [entry("GL-1", "50.00", text="AMAZON")],
    )
    assert [(p.code, p.ids) for p in result.problems] == [("duplicate_id", ("T1",))]
    assert links(result) == {("T1", "GL-1")}


def test_unmatched_items_list_their_nearest_candidates_and_why() -> None:
    result = match(
        [txn("T1", "100.00", card="1")],
        [
            entry("GL-1", "100.00", day=9, card="1", text="AMAZON"),
            entry("GL-2", "103.50", day=1, card="1", text="AMAZON"),
            entry("GL-3", "100.00", day=1, card="2", text="AMAZON"),
        ],
    )
    assert result.matches == ()
    (t,) = result.unmatched_transactions
    by_id = {c.id: c.reasons for c in t.nearest}
    assert by_id == {
        "GL-3": ("card 2 differs from 1",),
        "GL-1": ("posted 4 days after the window",),
        "GL-2": ("amount differs by 3.50 USD (tolerance 0.01 USD)",),
    }
    assert [c.id for c in t.nearest] == ["GL-3", "GL-1", "GL-2"]  # by amount gap, then date
    entries_left = {u.id: u for u in result.unmatched_entries}
    assert entries_left["GL-2"].side is Side.ENTRY
    assert entries_left["GL-2"].nearest[0].id == "T1"


def test_an_already_matched_neighbour_is_named() -> None:
    result = match(
        [txn("T1", "70.00", card="1", refs={"INV-1"}), txn("T2", "70.00", card="1")],
        [entry("GL-1", "70.00", card="1", text="INV-1")],
    )
    (t2,) = result.unmatched_transactions
    assert t2.nearest[0].reasons == (
        "ledger line already matched with transaction T1 (reference, score 1.00)",
    )


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_REFS = ["112-0000001-0000001", "112-0000001-0000002", "INV-AAAA-0001", "INV-AAAA-0002"]


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Txn], list[Entry]]:
    """Small books with many collisions: few amounts, cards, dates and references."""
    amounts = st.sampled_from(["5.00", "7.50", "12.50", "-5.00", "20.00", "20.01", "0.00"])
    days = st.integers(-3, 9)
    cards = st.sampled_from(["", "1111", "2222"])
    n_txns = draw(st.integers(0, 9))
    n_entries = draw(st.integers(0, 9))
    txns = [
        txn(
            f"T{k}",
            draw(amounts),
            draw(days),
            draw(cards),
            draw(st.sets(st.sampled_from(_REFS), max_size=2)),
        )
        for k in range(n_txns)
    ]
    texts = st.sampled_from(["AMAZON MKTPL*X", "OTHER VENDOR", *[f"Amazon {r}" for r in _REFS]])
    entries = [
        entry(f"GL-{k}", draw(amounts), draw(days), draw(cards), draw(texts))
        for k in range(n_entries)
    ]
    return txns, entries


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))


@settings(max_examples=300, deadline=None)
@given(books())
def test_every_item_is_in_exactly_one_place(data: tuple[list[Txn], list[Entry]]) -> None:
    txns, entries = data
    result = match(txns, entries)
    used_t = Counter(t for m in result.matches for t in m.transaction_ids)
    used_e = Counter(e for m in result.matches for e in m.entry_ids)
    assert all(n == 1 for n in (*used_t.values(), *used_e.values()))
    left_t, left_e = unmatched_ids(result)
    assert set(used_t) | left_t == {t.transaction_id for t in txns}
    assert set(used_e) | left_e == {e.entry_id for e in entries}
    assert not set(used_t) & left_t and not set(used_e) & left_e


@settings(max_examples=300, deadline=None)
@given(books())
def test_totals_balance_with_the_difference(data: tuple[list[Txn], list[Entry]]) -> None:
    txns, entries = data
    amount_t = {t.transaction_id: t.amount for t in txns}
    amount_e = {e.entry_id: e.amount for e in entries}
    config = MatchConfig()
    for m in match(txns, entries, config).matches:
        ledger = _total(amount_e[e] for e in m.entry_ids)
        amazon = _total(amount_t[t] for t in m.transaction_ids)
        assert amazon + m.difference == ledger
        assert abs(m.difference) <= config.tolerance_absolute
        assert 0.0 <= m.score <= 1.0
        assert m.zone is Zone.REVIEW or m.score >= config.auto_threshold
        assert (ledger < 0) == m.rule.startswith("refund_") or ledger == 0


@settings(max_examples=200, deadline=None)
@given(books(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_input_order(
    data: tuple[list[Txn], list[Entry]], rnd: random.Random
) -> None:
    txns, entries = data
    shuffled_t, shuffled_e = list(txns), list(entries)
    rnd.shuffle(shuffled_t)
    rnd.shuffle(shuffled_e)
    assert match(txns, entries) == match(shuffled_t, shuffled_e)


@settings(max_examples=200, deadline=None)
@given(books(), st.data())
def test_rejected_pairs_never_come_back(
    data: tuple[list[Txn], list[Entry]], pick: st.DataObject
) -> None:
    txns, entries = data
    found = links(match(txns, entries))
    if not found:
        return
    rejected = frozenset(pick.draw(st.sets(st.sampled_from(sorted(found)), min_size=1)))
    again = match(txns, entries, decisions=Decisions(rejected_pairs=rejected))
    assert not links(again) & rejected


def test_amounts_beyond_64_bits_are_matched_not_a_crash() -> None:
    from datetime import date as day
    from decimal import Decimal as D

    from worker.reconcile import Entry, Txn, match

    huge = D("123456789012345678901.00")
    result = match(
        [Txn("T1", day(2025, 1, 2), huge, "USD"), Txn("T2", day(2025, 1, 2), D("5.00"), "USD")],
        [Entry("L1", day(2025, 1, 3), huge, "USD"), Entry("L2", day(2025, 1, 3), D("5.00"), "USD")],
    )
    assert sorted((m.transaction_ids, m.entry_ids) for m in result.matches) == [
        (("T1",), ("L1",)),
        (("T2",), ("L2",)),
    ]
