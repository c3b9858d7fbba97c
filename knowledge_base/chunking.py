"""Split a Document's sections into passages: along headings first, then along sentences."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.types import Document, Section
from knowledge_base.text import cjk_ratio, split_sentences, text_length


@dataclass(frozen=True, slots=True)
class Chunk:
    title_path: tuple[str, ...]
    text: str
    metadata: dict


class SentenceChunker:
    """Packs whole sentences into passages of at most `max_words` word units.

    Passages never cross a heading, so each one cites a single section. The limit keeps a passage
    (with its heading path) inside the embedder's 256-token window; a single sentence longer than
    the limit is split on word boundaries rather than dropped.
    """

    def __init__(self, max_words: int = 160, min_words: int = 12) -> None:
        self.max_words = max_words
        self.min_words = min_words

    def chunk(self, document: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in document.sections:
            chunks.extend(self._chunk_section(section))
        return chunks

    def _chunk_section(self, section: Section) -> list[Chunk]:
        # (block number, sentence): a paragraph, list item or table row is a block; blocks keep their line.
        pieces: list[tuple[int, str]] = []
        for block_no, block in enumerate(re.split(r"\n\s*\n", section.text)):
            for sentence in split_sentences(block):
                pieces.extend((block_no, p) for p in self._split_long(sentence))
        groups: list[list[tuple[int, str]]] = []
        size = 0
        for piece in pieces:
            n = text_length(piece[1])
            if groups and size + n <= self.max_words:
                groups[-1].append(piece)
                size += n
            else:
                groups.append([piece])
                size = n
        # A tiny tail reads better merged into the passage before it, within 25% over the limit.
        if len(groups) > 1 and text_length(_join(groups[-1])) < self.min_words:
            if text_length(_join(groups[-2] + groups[-1])) <= self.max_words * 1.25:
                groups[-2].extend(groups.pop())
        return [Chunk(section.title_path, _join(g), section.metadata) for g in groups]

    def _split_long(self, sentence: str) -> list[str]:
        if text_length(sentence) <= self.max_words:
            return [sentence]
        if " " not in sentence.strip():  # unspaced CJK text: cut by characters
            step = self.max_words
            return [sentence[i : i + step] for i in range(0, len(sentence), step)]
        # Cut on spaces, measuring in the same units as the limit ("$12.95" or "well-known" count as 2).
        pieces: list[str] = []
        current: list[str] = []
        size = 0
        for word in sentence.split():
            n = max(1, text_length(word))
            if current and size + n > self.max_words:
                pieces.append(" ".join(current))
                current, size = [], 0
            current.append(word)
            size += n
        if current:
            pieces.append(" ".join(current))
        return pieces


def _join(pieces: list[tuple[int, str]]) -> str:
    """Sentences of one block joined by a space (none after CJK punctuation); blocks by a blank line."""
    out = ""
    previous_block = None
    for block_no, sentence in pieces:
        if previous_block is None:
            out = sentence
        elif block_no != previous_block:
            out += "\n\n" + sentence
        elif out.endswith(("。", "！", "？", "；")) or (cjk_ratio(out[-1]) and cjk_ratio(sentence[0])):
            out += sentence
        else:
            out += " " + sentence
        previous_block = block_no
    return out
