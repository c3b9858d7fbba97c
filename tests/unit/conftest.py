"""Unit-test fixtures. tests/ is not a package, so the shared fakes are imported from tests/fakes.py
by putting tests/ on sys.path here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent.parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from fakes import HashEmbedder  # noqa: E402


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()
