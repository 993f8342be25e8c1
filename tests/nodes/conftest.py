"""Fixtures for multi-node tests: a throwaway PostgreSQL database per module, two real nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alicloud.conftest import start_emulator  # noqa: F401  (the STS emulator fixture)
from tests.nodes.cluster import Node, nodes
from tests.support import pg


@pytest.fixture(scope="module")
def empty_database() -> Iterator[str]:
    """A new, empty database (no schema yet) for this module; dropped afterwards."""
    with pg.throwaway_database("wardgate_nodes") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def cluster(empty_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """Two nodes started at the same instant on the module's empty database."""
    base: Path = tmp_path_factory.mktemp("cluster")
    with nodes(base, [empty_database, empty_database]) as started:
        yield started


@pytest.fixture(scope="module")
def root(cluster: list[Node]) -> str:
    found = [token for node in cluster for token in node.root_tokens()]
    assert len(found) == 1, [node.process.describe() for node in cluster]
    return found[0]
