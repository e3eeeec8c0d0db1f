"""The reconcile core: pure accounting logic over plain records.

Nothing in this package touches the database, the network, the file system or the clock. The
store maps its rows to the frozen records of :mod:`worker.reconcile.records`, calls
:func:`worker.reconcile.matching.match`, and stores the :class:`MatchResult` it gets back;
problems come back as values, never as exceptions (only a misconfigured
:class:`MatchConfig` raises, when it is built).
"""

from __future__ import annotations

from worker.reconcile.matching import match
from worker.reconcile.records import (
    Candidate,
    Decisions,
    Entry,
    ManualMatch,
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
    "match",
    "match_id",
]
