"""The work abrecon does, as plain functions over the store and the connectors.

Celery tasks are thin wrappers around these; the CLI calls them too. Each function does one
bounded unit of work, commits it, and says what is left, so that any of them may be interrupted
and run again without losing or duplicating anything.
"""
