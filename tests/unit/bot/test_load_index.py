"""bot.assembly.load_index: an index embedded by another embedder (or another precision of the same
model, as when the default runtime became int8) is embedded again before it serves a question."""

from __future__ import annotations

from fakes import HashEmbedder

from bot.assembly import load_index
from knowledge_base.ingest import Ingestor


def test_an_index_from_another_embedder_is_embedded_again_from_its_stored_text(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\n\nYou can return an item within 30 days of delivery.\n")
    (docs / "shipping.md").write_text("# Shipping\n\nWe ship to Canada and Mexico in 5 to 8 business days.\n")
    index = tmp_path / "index"
    Ingestor(index, HashEmbedder(model_name="all-MiniLM-L6-v2"), progress=False).ingest_paths([docs])
    (docs / "returns.md").unlink()  # the stored text is embedded again, not the files
    now = HashEmbedder(model_name="all-MiniLM-L6-v2 (int8)")
    kb = load_index(index, now)
    assert kb.embedder_name == "all-MiniLM-L6-v2 (int8)" and len(kb) == 2 and len(kb.dense) == 2
    assert len(now.embedded) == 2 and any("30 days" in t for t in now.embedded) and any("Canada" in t for t in now.embedded)
    # The same embedder again: nothing is embedded.
    again = HashEmbedder(model_name="all-MiniLM-L6-v2 (int8)")
    assert load_index(index, again).embedder_name == "all-MiniLM-L6-v2 (int8)" and again.embedded == []
