"""The reconcile core: matching rules, scoring, decisions, quality on generated books."""
