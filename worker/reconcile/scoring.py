"""How much evidence a candidate match has, and what its score is.

The score is derived from evidence, never from any particular data set. Each observation adds
a weight of evidence (a natural-log likelihood ratio, as in a naive-Bayes or GnuCash-style
additive score) to a prior:

=====================================  ========  =============================================
evidence                               weight    why
=====================================  ========  =============================================
prior                                  -4.0      most pairs of a transaction and a ledger line
                                                 are unrelated
reference quoted                       +7.0      an order id / invoice number / PO number /
                                                 charge id of the transaction, as a whole token
... shared by ``k`` transactions       -ln k      a reference that names several transactions
                                                 (an order with three shipments) says less
amount equal                           +5.0      exact to the minor unit
amount within tolerance                +2.5..1.5 less the more of the tolerance the gap uses
date inside the window                 +1.0..2.0 more the closer the posting is to the event,
                                                 relative to that side of the window
date outside the window (references)   -0.5/day  a quoted reference may post late
card last four agree                   +1.0
card last four differ                  -3.0      (only references survive a different card)
line names the merchant                +1.0      e.g. AMAZON / AMZN on a card statement, not
                                                 another vendor with the same amount
group without a shared reference       -2.0      a booking of several items is rarer than 1:1
members share a reference              +1.0      same order/invoice, though the line quotes none
subsets searched                       -ln s      the more subsets tried, the likelier a hit by
                                                 chance (a multiple-comparison correction)
other subsets that fit too             -ln(1+a)
=====================================  ========  =============================================

The log-odds ``L`` of a candidate becomes a weight ``exp(L)``, and the score of a candidate is
its share among the hypotheses that compete for its items, the "none of them" hypothesis
weighing 1::

    score = exp(L) / (1 + sum of exp(L') over candidates sharing an item, itself included)

so a lone candidate scores ``sigmoid(L)`` and two equally good candidates for the same
transaction score below one half each: ambiguity lowers the score by itself (Midday's
"hard-negative" and GnuCash's zones in one number). Weights are summed as integers (fixed
point), so scores do not depend on the order candidates were found in.
"""

from __future__ import annotations

import math

__all__ = [
    "AMOUNT_EXACT",
    "AMOUNT_TOLERANCE",
    "CARD_AGREES",
    "CARD_DIFFERS",
    "DATE_IN_WINDOW",
    "DATE_OUTSIDE_PER_DAY",
    "GROUP_PRIOR",
    "GROUP_SHARED_REFERENCE",
    "MERCHANT_NAMED",
    "PRIOR",
    "REFERENCE",
    "WEIGHT_ONE",
    "amount_evidence",
    "date_evidence",
    "share",
    "weight",
]

PRIOR = -4.0
REFERENCE = 7.0
AMOUNT_EXACT = 5.0
AMOUNT_TOLERANCE = 2.5
DATE_IN_WINDOW = 1.0
DATE_OUTSIDE_PER_DAY = 0.5
CARD_AGREES = 1.0
CARD_DIFFERS = -3.0
MERCHANT_NAMED = 1.0
GROUP_PRIOR = -2.0
GROUP_SHARED_REFERENCE = 1.0

#: Fixed-point unit of candidate weights: ``weight(0.0) == WEIGHT_ONE`` (the "none" hypothesis).
WEIGHT_ONE = 1 << 20
_MAX_LOG_ODDS = 30.0


def amount_evidence(difference: int, limit: int) -> float:
    """Evidence of the amounts: ``difference`` and tolerance ``limit`` in minor units."""
    if difference == 0:
        return AMOUNT_EXACT
    used = min(1.0, abs(difference) / limit) if limit else 1.0
    return AMOUNT_TOLERANCE - used


def date_evidence(offset: int, before: int, after: int) -> tuple[float, int]:
    """Evidence of the posting date and the days outside the window.

    ``offset`` is the ledger date minus the transaction date in days; the window is
    ``[-before, +after]``. Inside, the evidence falls from 2.0 (same day) towards 1.0 at the
    window's edge, relative to the length of that side; outside, it is
    ``-0.5`` per day beyond the edge.
    """
    if offset > after:
        return -DATE_OUTSIDE_PER_DAY * (offset - after), offset - after
    if offset < -before:
        return -DATE_OUTSIDE_PER_DAY * (-before - offset), -before - offset
    side = after if offset >= 0 else before
    closeness = 1.0 - abs(offset) / (side + 1)
    return DATE_IN_WINDOW + closeness, 0


def weight(log_odds: float) -> int:
    """The fixed-point weight ``exp(log_odds)`` (at least 1)."""
    return max(1, round(math.exp(min(log_odds, _MAX_LOG_ODDS)) * WEIGHT_ONE))


def share(own: int, competing: int) -> float:
    """The score of a candidate of weight ``own`` among hypotheses summing to ``competing``
    (its own weight included), rounded to six places."""
    return round(own / (WEIGHT_ONE + competing), 6)
