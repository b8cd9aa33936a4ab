"""Fixtures of the system tests: a throwaway PostgreSQL database per test and a work folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system.servers import system_database


@pytest.fixture
def system_db(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh migrated PostgreSQL database of its own, dropped after the test.

    Separate from the session database of the storage tests: real server processes write to it,
    and the test owns every row.
    """
    label = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with system_database(label) as url:
        yield url
