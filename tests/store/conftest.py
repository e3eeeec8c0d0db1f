"""Fixtures for the store tests: an engine of the test's own, and a party of the test's own.

``database_url`` and ``empty_database_url`` come from tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from worker.store.engine import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine of the test's own on the migrated database, disposed of afterwards."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def party() -> str:
    """A party no other test uses (tests of a module share the PostgreSQL database)."""
    return f"test-{uuid.uuid4().hex[:16]}"
