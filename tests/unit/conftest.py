"""Unit-test fixtures. The shared fakes come from tests/fakes.py (tests/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import pytest

from fakes import HashEmbedder


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()
