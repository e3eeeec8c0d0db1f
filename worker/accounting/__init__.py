"""The accounting core: posting rules, journal entries and reimbursements, with no IO.

:mod:`worker.accounting.journal` holds the balanced :class:`JournalEntry`; the posting rules
turn Amazon transactions into entries; the reimbursement grouping collects what employees paid
on personal cards. The export formats (:mod:`worker.formats`) write entries; the services read
the store and call both.
"""

from worker.accounting.journal import JournalEntry, JournalError, JournalLine, UnbalancedEntry

__all__ = ["JournalEntry", "JournalError", "JournalLine", "UnbalancedEntry"]
