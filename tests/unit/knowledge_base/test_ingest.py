from __future__ import annotations

import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest
from fakes import HashEmbedder, make_pdf

from core.errors import ConfigurationError, IndexNotFound, StorageError
from knowledge_base.indexes import DenseIndex, KnowledgeBase
from knowledge_base.ingest import Ingestor
from knowledge_base.store import PassageStore

RETURNS_MD = """\
# Returns

You have 30 days from delivery to return an item.

## Condition

Items must be unused and in the original packaging.
"""

SHIPPING_MD = """\
# Shipping

Standard shipping to Canada costs $12.95 and takes seven days.
"""

FAQ_CSV = """\
question,answer
Can I return a gift card?,"Gift cards are ""Final Sale"" and cannot be returned."
Do you ship to Mexico?,Yes. Shipping to Mexico takes ten days.
"""


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "returns.md").write_text(RETURNS_MD)
    (root / "shipping.md").write_text(SHIPPING_MD)
    (root / "faq.csv").write_text(FAQ_CSV)
    return root


@pytest.fixture
def index_dir(tmp_path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def ingest(index_dir, embedder):
    def run(*paths: Path, with_embedder: HashEmbedder | None = None):
        return Ingestor(index_dir, with_embedder or embedder, progress=False).ingest_paths(list(paths))

    return run


def passage_ids_by_doc(index_dir: Path) -> dict[str, list[int]]:
    store = PassageStore(index_dir).open()
    try:
        out: dict[str, list[int]] = {}
        for p in store.passages():
            out.setdefault(p.doc_id, []).append(p.passage_id)
        return out
    finally:
        store.close()


def all_ids(index_dir: Path) -> set[int]:
    return {i for ids in passage_ids_by_doc(index_dir).values() for i in ids}


def faiss_file_ids(index_dir: Path) -> set[int]:
    """Ids in the FAISS cache file exactly as ingest left it (not rebuilt by a load)."""
    index = faiss.read_index(str(index_dir / DenseIndex.FILENAME))
    return set(faiss.vector_to_array(index.id_map).tolist())


def stamp(index_dir: Path) -> str:
    return (index_dir / "dense.generation").read_text().strip()


def generation(index_dir: Path) -> int:
    store = PassageStore(index_dir).open()
    try:
        return store.generation
    finally:
        store.close()


DOC_IDS = {"docs/returns.md", "docs/shipping.md", "docs/faq.csv"}


def test_first_ingest_adds_every_document(ingest, docs, index_dir):
    report = ingest(docs)
    assert set(report.added) == DOC_IDS
    assert report.updated == () and report.removed == () and report.failed == ()
    assert report.unchanged == 0
    by_doc = passage_ids_by_doc(index_dir)
    assert set(by_doc) == DOC_IDS
    assert len(by_doc["docs/faq.csv"]) == 2 and len(by_doc["docs/returns.md"]) == 2
    assert report.passages_written == report.passages_total == sum(map(len, by_doc.values()))
    assert faiss_file_ids(index_dir) == all_ids(index_dir)
    assert stamp(index_dir) == str(generation(index_dir))
    kb = KnowledgeBase.load(index_dir, expected_dimension=256)
    assert len(kb) == len(kb.dense) == len(kb.sparse) == report.passages_total
    assert kb.embedder_name == "fake-hash-embedder"


def test_dense_index_holds_each_passages_own_embedding(ingest, docs, index_dir, embedder):
    ingest(docs)
    kb = KnowledgeBase.load(index_dir)
    for passage in kb.passages.values():
        stored = kb.dense.index.reconstruct(passage.passage_id)
        expected = HashEmbedder().embed([passage.indexed_text()])[0]
        np.testing.assert_allclose(stored, expected, atol=1e-6)


def test_rerun_without_changes_writes_nothing(ingest, docs, index_dir, embedder):
    ingest(docs)
    before = passage_ids_by_doc(index_dir)
    embedder.embedded.clear()
    report = ingest(docs)
    assert report.added == report.updated == report.removed == report.failed == ()
    assert report.unchanged == 3
    assert report.passages_written == 0
    assert embedder.embedded == []  # nothing was embedded again
    assert passage_ids_by_doc(index_dir) == before
    assert faiss_file_ids(index_dir) == all_ids(index_dir)


def test_editing_one_file_updates_only_that_document(ingest, docs, index_dir, embedder):
    ingest(docs)
    before = passage_ids_by_doc(index_dir)
    (docs / "shipping.md").write_text(SHIPPING_MD + "\n## Express\n\nExpress shipping takes two days.\n\n## Pickup\n\nPick up in Portland.\n")
    embedder.embedded.clear()
    report = ingest(docs)
    assert report.updated == ("docs/shipping.md",)
    assert report.added == report.removed == ()
    assert report.unchanged == 2
    assert report.passages_written == 3 == len(embedder.embedded)
    after = passage_ids_by_doc(index_dir)
    assert after["docs/returns.md"] == before["docs/returns.md"]
    assert after["docs/faq.csv"] == before["docs/faq.csv"]
    assert len(after["docs/shipping.md"]) == 3
    assert not set(after["docs/shipping.md"]) & set(before["docs/shipping.md"])  # old passages replaced
    assert report.passages_total == sum(map(len, after.values()))
    # The FAISS cache was updated in place: old ids removed, new ids added.
    assert faiss_file_ids(index_dir) == all_ids(index_dir)
    kb = KnowledgeBase.load(index_dir)
    texts = [p.text for p in kb.passages.values() if p.doc_id == "docs/shipping.md"]
    assert "Express shipping takes two days." in texts


def test_deleting_a_file_removes_it_and_its_vectors(ingest, docs, index_dir):
    ingest(docs)
    returns_ids = set(passage_ids_by_doc(index_dir)["docs/returns.md"])
    (docs / "returns.md").unlink()
    report = ingest(docs)
    assert report.removed == ("docs/returns.md",)
    assert report.unchanged == 2
    by_doc = passage_ids_by_doc(index_dir)
    assert "docs/returns.md" not in by_doc
    remaining = faiss_file_ids(index_dir)
    assert remaining == all_ids(index_dir)
    assert not remaining & returns_ids
    kb = KnowledgeBase.load(index_dir)
    assert len(kb.dense) == len(kb) == report.passages_total
    assert all(p.doc_id != "docs/returns.md" for p in kb.passages.values())


def test_ingesting_another_folder_leaves_the_first_alone(ingest, docs, tmp_path, index_dir):
    ingest(docs)
    other = tmp_path / "more"
    other.mkdir()
    (other / "warranty.md").write_text("# Warranty\n\nTwo years on electronics.\n")
    report = ingest(other)
    assert report.added == ("more/warranty.md",)
    assert report.removed == ()
    assert set(passage_ids_by_doc(index_dir)) == DOC_IDS | {"more/warranty.md"}


def test_broken_files_are_reported_and_the_others_ingested(ingest, docs, index_dir):
    good_pdf = make_pdf(["Care Guide\nDescale the kettle monthly."])
    (docs / "care.pdf").write_bytes(good_pdf)
    (docs / "broken.pdf").write_bytes(good_pdf[: len(good_pdf) // 2])
    (docs / "fake.pdf").write_text("just text")
    (docs / "empty.md").write_text("")
    report = ingest(docs)
    failed = dict(report.failed)
    assert set(failed) == {str((docs / n).resolve()) for n in ("broken.pdf", "fake.pdf", "empty.md")}
    assert "PDF" in failed[str((docs / "broken.pdf").resolve())]
    assert "not a PDF" in failed[str((docs / "fake.pdf").resolve())]
    assert "empty" in failed[str((docs / "empty.md").resolve())]
    assert set(report.added) == DOC_IDS | {"docs/care.pdf"}
    assert set(passage_ids_by_doc(index_dir)) == DOC_IDS | {"docs/care.pdf"}


def test_broken_new_version_keeps_the_old_one(ingest, docs, index_dir):
    good_pdf = make_pdf(["Care Guide\nDescale the kettle monthly."])
    (docs / "care.pdf").write_bytes(good_pdf)
    ingest(docs)
    before = passage_ids_by_doc(index_dir)
    (docs / "care.pdf").write_bytes(good_pdf[:200])  # the new upload is truncated
    report = ingest(docs)
    assert [path for path, _ in report.failed] == [str((docs / "care.pdf").resolve())]
    assert report.removed == () and report.updated == ()
    assert passage_ids_by_doc(index_dir) == before
    kb = KnowledgeBase.load(index_dir)
    assert any("Descale the kettle monthly." in p.text for p in kb.passages.values() if p.doc_id == "docs/care.pdf")
    # Fixing the file later updates it.
    (docs / "care.pdf").write_bytes(make_pdf(["Care Guide\nDescale the kettle weekly."]))
    assert ingest(docs).updated == ("docs/care.pdf",)


def test_missing_path_is_reported(ingest, tmp_path):
    report = ingest(tmp_path / "nowhere")
    assert len(report.failed) == 1 and "no such file" in report.failed[0][1]


def test_corrupt_faiss_cache_is_rebuilt_on_load(ingest, docs, index_dir):
    report = ingest(docs)
    (index_dir / DenseIndex.FILENAME).write_bytes(b"this is not a faiss index at all" * 10)
    kb = KnowledgeBase.load(index_dir)
    assert len(kb.dense) == report.passages_total
    for pid in kb.passages:  # every passage finds itself
        vector = kb.dense.index.reconstruct(pid)
        _, ids = kb.dense.search(vector[None, :], 1)
        assert ids[0][0] == pid
    assert faiss_file_ids(index_dir) == all_ids(index_dir)  # and the cache was rewritten


def test_stale_faiss_cache_is_rebuilt_on_load(ingest, docs, index_dir):
    report = ingest(docs)
    # An older cache (say, the process died between the SQLite commit and the FAISS write): empty, old stamp.
    DenseIndex(256).save(index_dir / DenseIndex.FILENAME, generation(index_dir) - 1)
    kb = KnowledgeBase.load(index_dir)
    assert len(kb.dense) == report.passages_total
    assert stamp(index_dir) == str(generation(index_dir))


def test_missing_faiss_cache_is_rebuilt_on_load(ingest, docs, index_dir):
    report = ingest(docs)
    (index_dir / DenseIndex.FILENAME).unlink()
    assert len(KnowledgeBase.load(index_dir).dense) == report.passages_total


def test_load_without_index_is_index_not_found(tmp_path):
    with pytest.raises(IndexNotFound):
        KnowledgeBase.load(tmp_path / "empty")


def test_load_with_other_dimension_is_a_configuration_error(ingest, docs, index_dir):
    ingest(docs)
    with pytest.raises(ConfigurationError) as info:
        KnowledgeBase.load(index_dir, expected_dimension=384)
    assert "re-run ingest" in info.value.message


def test_failed_write_raises_storage_error_and_keeps_the_previous_index(ingest, docs, index_dir, monkeypatch):
    ingest(docs)
    before = passage_ids_by_doc(index_dir)
    before_kb = KnowledgeBase.load(index_dir)
    before_generation = generation(index_dir)
    (docs / "shipping.md").write_text(SHIPPING_MD + "\nNew paragraph about shipping.\n")
    (docs / "returns.md").unlink()
    (docs / "new.md").write_text("# New\n\nA new page.\n")

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(PassageStore, "insert_document", staticmethod(disk_full))
    with pytest.raises(StorageError) as info:
        ingest(docs)
    assert "disk is full" in info.value.message
    monkeypatch.undo()

    # Everything rolled back: documents, passages, generation, and the FAISS cache still matches.
    assert passage_ids_by_doc(index_dir) == before
    assert generation(index_dir) == before_generation
    assert stamp(index_dir) == str(before_generation)
    assert faiss_file_ids(index_dir) == all_ids(index_dir)
    kb = KnowledgeBase.load(index_dir)
    assert {p: (q.doc_id, q.text) for p, q in kb.passages.items()} == {
        p: (q.doc_id, q.text) for p, q in before_kb.passages.items()
    }
    assert len(kb.dense) == len(before_kb.dense)

    # Once the disk has room again, the same ingest goes through.
    report = ingest(docs)
    assert report.updated == ("docs/shipping.md",)
    assert report.added == ("docs/new.md",)
    assert report.removed == ("docs/returns.md",)


def test_ingest_documents_from_memory(index_dir, embedder):
    from core.types import Document, Section

    docs = [
        Document(f"squad/{i}", f"Article {i}", "article", "en", (Section((f"Article {i}",), f"Paragraph number {i}."),), "mem", f"c{i}")
        for i in range(3)
    ]
    ingestor = Ingestor(index_dir, embedder, progress=False)
    assert len(ingestor.ingest_documents(docs).added) == 3
    again = ingestor.ingest_documents(docs)
    assert again.added == again.updated == () and again.passages_written == 0


def test_switching_to_an_embedder_of_another_dimension_reembeds_everything(ingest, docs, index_dir):
    ingest(docs)
    bigger = HashEmbedder(dimension=384, model_name="another-model")
    report = ingest(docs, with_embedder=bigger)
    assert set(report.updated) == DOC_IDS
    kb = KnowledgeBase.load(index_dir, expected_dimension=384)
    assert kb.embedder_name == "another-model" and len(kb.dense) == len(kb)


def test_switching_to_another_embedder_of_same_dimension_reembeds_everything(ingest, docs, index_dir):
    ingest(docs)
    other = HashEmbedder(dimension=256, model_name="another-model")
    report = ingest(docs, with_embedder=other)
    assert set(report.updated) == DOC_IDS and report.unchanged == 0
    assert KnowledgeBase.load(index_dir).embedder_name == "another-model"
