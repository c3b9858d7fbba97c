from __future__ import annotations

import re

import pytest

from core.types import Document, Section
from knowledge_base.chunking import SentenceChunker
from knowledge_base.loaders import load_document
from knowledge_base.text import split_sentences, text_length


def doc_of(*sections: Section, language: str = "en") -> Document:
    return Document("t/doc.md", "Doc", "policy", language, tuple(sections), "doc.md", "checksum")


def numbered_sentences(n: int, words: int = 8) -> list[str]:
    # "Sentence 3 word word ... ." with exactly `words` word units each.
    return [" ".join([f"Sentence{i}"] + ["alpha"] * (words - 1)) + "." for i in range(n)]


def test_passages_never_cross_headings(tmp_path):
    (tmp_path / "p.md").write_text(
        "# Policy\n\nIntro one. Intro two.\n\n## Returns\n\nReturn one. Return two.\n\n## Refunds\n\nRefund one.\n"
    )
    doc = load_document(tmp_path, tmp_path / "p.md")
    chunks = SentenceChunker(max_words=1000).chunk(doc)  # room for everything: only headings can split
    assert [(c.title_path, c.text) for c in chunks] == [
        (("Policy",), "Intro one. Intro two."),
        (("Policy", "Returns"), "Return one. Return two."),
        (("Policy", "Refunds"), "Refund one."),
    ]


def test_section_metadata_travels_with_its_chunks():
    chunks = SentenceChunker().chunk(doc_of(Section(("Catalog", "Kettle"), "A kettle.", {"sku": "NW-1"})))
    assert chunks[0].metadata == {"sku": "NW-1"}


def test_passages_respect_max_words_without_tail_merge():
    sentences = numbered_sentences(20, words=8)
    chunker = SentenceChunker(max_words=30, min_words=0)
    chunks = chunker.chunk(doc_of(Section(("Doc",), " ".join(sentences))))
    assert len(chunks) == 7  # 3 sentences (24 words) fit in 30; 20 sentences -> 6 full + 1
    assert all(text_length(c.text) <= 30 for c in chunks)
    # Sentences are kept whole and in order.
    assert [s for c in chunks for s in split_sentences(c.text)] == sentences


def test_tiny_tail_is_merged_within_a_quarter_over_the_limit():
    sentences = numbered_sentences(4, words=8)  # 3 fit in 30, the 4th (8 words) is a tiny tail
    chunks = SentenceChunker(max_words=30, min_words=12).chunk(doc_of(Section(("Doc",), " ".join(sentences))))
    assert len(chunks) == 1
    assert text_length(chunks[0].text) == 32 <= 30 * 1.25


def test_tail_not_merged_when_it_would_exceed_a_quarter_over():
    sentences = numbered_sentences(4, words=10)  # 3x10 = 30 fit, +10 = 40 > 37.5
    chunks = SentenceChunker(max_words=30, min_words=12).chunk(doc_of(Section(("Doc",), " ".join(sentences))))
    assert [text_length(c.text) for c in chunks] == [30, 10]


def test_long_sentence_is_split_on_word_boundaries():
    words = [f"w{i}" for i in range(70)]
    sentence = " ".join(words) + "."
    chunks = SentenceChunker(max_words=20, min_words=0).chunk(doc_of(Section(("Doc",), sentence)))
    assert len(chunks) == 4
    assert all(text_length(c.text) <= 20 for c in chunks)
    assert " ".join(c.text for c in chunks).rstrip(".").split() == words  # nothing dropped, order kept


def test_list_items_and_table_rows_keep_block_boundaries():
    text = "- Bring the receipt.\n\n- Pack the box.\n\nZone: Canada; Standard: $12.95.\n\nZone: Mexico; Standard: $15.00."
    chunks = SentenceChunker(max_words=1000).chunk(doc_of(Section(("Doc", "Returns"), text)))
    assert len(chunks) == 1
    assert chunks[0].text == text  # blocks stay on their own lines, never glued into one paragraph


def test_sentences_in_one_block_are_joined_by_spaces_and_chinese_without():
    chunks = SentenceChunker().chunk(doc_of(Section(("Doc",), "One here.\nTwo here.")))
    assert chunks[0].text == "One here. Two here."
    chunks = SentenceChunker().chunk(doc_of(Section(("退货",), "我们支持退货。请联系客服。"), language="zh"))
    assert chunks[0].text == "我们支持退货。请联系客服。"


def test_block_boundary_survives_a_split_between_passages():
    blocks = [" ".join(["item"] * 9) + f" {i}." for i in range(6)]  # 10 words each
    chunks = SentenceChunker(max_words=25, min_words=0).chunk(doc_of(Section(("Doc",), "\n\n".join(blocks))))
    assert [c.text.split("\n\n") for c in chunks] == [blocks[0:2], blocks[2:4], blocks[4:6]]


def test_long_sentence_of_compound_words_respects_max_words():
    sentence = " ".join(f"well-known{i}" for i in range(30)) + "."
    chunks = SentenceChunker(max_words=20, min_words=0).chunk(doc_of(Section(("Doc",), sentence)))
    assert all(text_length(c.text) <= 20 for c in chunks)


def test_chinese_passages_respect_max_words():
    sentences = ["您可以在收货后三十天内申请退货并获得全额退款。"] * 40  # 22 characters each
    chunks = SentenceChunker(max_words=60, min_words=0).chunk(doc_of(Section(("退货",), "".join(sentences)), language="zh"))
    longest = max(len(re.findall(r"[\u4e00-\u9fff]", c.text)) for c in chunks)
    assert longest <= 60
