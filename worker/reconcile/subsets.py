"""Bounded subset sums over integer minor units.

Many-to-one reconciliation (one ledger line booking several shipments of an order, or a card
statement line for several charges of one day) is a subset-sum question, NP-hard in general:
``n`` items have ``2**n - 1`` subsets. The matcher only asks it inside small candidate groups
(the transactions of one order, of one card on one day), and this search is bounded twice: the
caller refuses groups larger than ``max_group_size``, and :func:`subset_sums` stops after
``cap`` steps (one step per reachable partial sum per item), telling the caller so that it can
report a problem instead of hanging.

The search is a dynamic programme over reachable sums (as the J.P. Morgan subset-sum matching
paper recommends for small-tolerance instances): sums, not subsets, are the states, so items
with repeated amounts do not multiply the work. Each state remembers the first subset that
reached it (in item order, so the result is deterministic) and how many subsets did, saturated
at 2: enough to tell a unique answer from an ambiguous one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SubsetSums", "best_subset", "subset_sums"]

#: Subset counts are saturated here: "one" and "more than one" are all a caller needs.
_MANY = 2


@dataclass(frozen=True, slots=True)
class SubsetSums:
    """The sums reachable by subsets of two or more items.

    ``sums`` maps a sum to ``(mask, count)``: the first subset found (bit ``i`` set for item
    ``i``) and how many subsets reach that sum (saturated at 2). ``capped`` is true when the
    search stopped at its work cap; ``sums`` is then empty. ``subsets`` is the number of
    subsets of two or more items the search covered (``2**n - n - 1``).
    """

    sums: dict[int, tuple[int, int]]
    work: int
    capped: bool
    subsets: int


def subset_sums(values: Sequence[int], cap: int, bound: int | None = None) -> SubsetSums:
    """Every sum of two or more of ``values``, within a work ``cap``.

    ``bound`` (optional) prunes partial sums whose absolute value exceeds it; it is only
    applied when all values have the same sign (then a partial sum past the bound can never
    come back).
    """
    n = len(values)
    same_sign = all(v > 0 for v in values) or all(v < 0 for v in values)
    limit = bound if (bound is not None and same_sign) else None
    # A state is (sum, size class): size class 0, 1 or 2 (two or more items).
    states: dict[tuple[int, int], tuple[int, int]] = {(0, 0): (0, 1)}
    work = 0
    for index, value in enumerate(values):
        bit = 1 << index
        work += len(states)
        if work > cap:
            return SubsetSums({}, work, True, 2**n - n - 1)
        grown: list[tuple[tuple[int, int], int, int]] = []
        for (total, size), (mask, count) in states.items():
            new_total = total + value
            if limit is not None and abs(new_total) > limit:
                continue
            grown.append(((new_total, min(size + 1, 2)), mask | bit, count))
        for key, mask, count in grown:
            old = states.get(key)
            if old is None:
                states[key] = (mask, count)
            else:
                states[key] = (old[0], min(_MANY, old[1] + count))
    sums = {total: found for (total, size), found in states.items() if size == 2}
    return SubsetSums(sums, work, False, 2**n - n - 1)


def best_subset(found: SubsetSums, target: int, tolerance: int) -> tuple[int, int, int] | None:
    """The subset whose sum is closest to ``target`` within ``tolerance``.

    Returns ``(mask, total, others)`` where ``others`` counts the other subsets (saturated)
    that also land within tolerance, or ``None``. Ties on distance go to the lower sum, then
    the first subset found.
    """
    best: tuple[int, int, int] | None = None
    hits = 0
    for total, (mask, count) in found.sums.items():
        if abs(total - target) > tolerance:
            continue
        hits += count
        key = (abs(total - target), total, mask)
        if best is None or key < (abs(best[1] - target), best[1], best[0]):
            best = (mask, total, 0)
    if best is None:
        return None
    return best[0], best[1], min(_MANY, hits - 1)
