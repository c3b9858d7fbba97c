"""Incremental ingestion: only added, changed and removed documents touch the index."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from core.errors import DocumentError
from core.types import Document, indexed_text
from knowledge_base.chunking import SentenceChunker
from knowledge_base.indexes import DenseIndex
from knowledge_base.loaders import discover, document_id, load_document
from knowledge_base.store import PassageStore, StoredDocument
from models.embedder import Embedder
from models.multilingual_embedder import LanguageRoutedEmbedder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    failed: tuple[tuple[str, str], ...] = ()  # (path, reason)
    passages_written: int = 0
    passages_total: int = 0
    seconds: float = 0.0

    @property
    def passages_per_second(self) -> float:
        return self.passages_written / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "passages_written": self.passages_written,
            "passages_total": self.passages_total,
            "seconds": round(self.seconds, 2),
            "passages_per_second": round(self.passages_per_second, 1),
        }


@dataclass
class _Pending:
    document: Document
    chunks: list = field(default_factory=list)


class Ingestor:
    def __init__(self, index_dir: Path, embedder: Embedder, chunker: SentenceChunker | None = None, progress: bool = True) -> None:
        self.index_dir = Path(index_dir)
        # Each passage is embedded in its document language's space (models/multilingual_embedder.py).
        self.embedder = embedder if isinstance(embedder, LanguageRoutedEmbedder) else LanguageRoutedEmbedder(embedder)
        self.chunker = chunker or SentenceChunker()
        self.progress = progress

    def ingest_paths(self, paths: Sequence[Path]) -> IngestReport:
        """Ingest files and folders; documents that vanished from under them are removed from the index."""
        self.embedder.warm_up()  # model loading is start-up, not ingestion time
        started = time.perf_counter()
        store = PassageStore(self.index_dir).open(create=True)
        try:
            stored = store.documents()
            reembed_all = self._embedder_changed(store)
            failed: list[tuple[str, str]] = []
            try:
                files = discover(paths)
            except DocumentError as exc:
                return IngestReport(failed=((exc.path, exc.reason),), seconds=time.perf_counter() - started)
            pending: list[Document] = []
            seen: set[str] = set()
            unchanged = 0
            for root, file in tqdm(files, desc="reading", unit="file", disable=not self.progress):
                doc_id = document_id(root, file)
                seen.add(doc_id)
                try:
                    checksum = hashlib.sha256(file.read_bytes()).hexdigest()
                    if not reembed_all and doc_id in stored and stored[doc_id].checksum == checksum:
                        unchanged += 1
                        continue
                    pending.append(load_document(root, file))
                except DocumentError as exc:
                    failed.append((exc.path, exc.reason))
                    log.warning("skipped %s: %s", exc.path, exc.reason)
                    # A document that breaks keeps its last good version in the index.
                    seen.add(doc_id)
                except OSError as exc:
                    failed.append((str(file), f"cannot read file: {exc.strerror or exc}"))
                except Exception as exc:  # a parser bug on one odd file must not stop the other files
                    log.exception("unexpected error reading %s", file)
                    failed.append((str(file), f"could not be parsed ({type(exc).__name__}: {exc})"))
                    seen.add(doc_id)
            roots = [Path(p).resolve() for p in paths]
            vanished = [
                doc_id
                for doc_id, doc in stored.items()
                if doc_id not in seen and any(_is_under(Path(doc.source_path), r) for r in roots)
            ]
            report = self._write(store, pending, vanished, stored)
            return IngestReport(
                added=report.added,
                updated=report.updated,
                removed=report.removed,
                unchanged=unchanged,
                failed=tuple(failed),
                passages_written=report.passages_written,
                passages_total=report.passages_total,
                seconds=time.perf_counter() - started,
            )
        finally:
            store.close()

    def ingest_documents(self, documents: Iterable[Document]) -> IngestReport:
        """Ingest documents built in memory (the SQuAD evaluation does this) through the same path."""
        self.embedder.warm_up()
        started = time.perf_counter()
        store = PassageStore(self.index_dir).open(create=True)
        try:
            stored = store.documents()
            docs = [d for d in documents if d.doc_id not in stored or stored[d.doc_id].checksum != d.checksum]
            report = self._write(store, docs, [], stored)
            return IngestReport(
                added=report.added,
                updated=report.updated,
                passages_written=report.passages_written,
                passages_total=report.passages_total,
                seconds=time.perf_counter() - started,
            )
        finally:
            store.close()

    # ------------------------------------------------------------------

    def _embedder_changed(self, store: PassageStore) -> bool:
        previous = store.meta("embedder")
        if previous is None:
            return False
        return previous != self.embedder.model_name or int(store.meta("dimension") or 0) != self.embedder.dimension

    def _write(
        self, store: PassageStore, documents: list[Document], vanished: list[str], stored: dict[str, StoredDocument]
    ) -> IngestReport:
        dimension = self.embedder.dimension
        migrating = self._embedder_changed(store)
        chunked = [(doc, self.chunker.chunk(doc)) for doc in documents]
        texts = [indexed_text(c.title_path, c.text) for _, chunks in chunked for c in chunks]
        vectors = self._embed(texts, [doc.language for doc, chunks in chunked for _ in chunks])
        # A new embedder makes every stored vector meaningless: passages this run does not touch are
        # re-embedded from their stored text, and the FAISS cache is rebuilt from scratch.
        touched = {d.doc_id for d in documents} | set(vanished)
        kept = [
            (pid, indexed_text(tuple(json.loads(path)), text), language)
            for pid, doc_id, path, text, language in store.db.execute(
                "SELECT passage_id, doc_id, title_path, text, language FROM passages")
            if doc_id not in touched
        ] if migrating else []
        kept_vectors = self._embed([t for _, t, _ in kept], [lang for _, _, lang in kept])
        dense = (
            DenseIndex.load_or_rebuild(self.index_dir, store, dimension)
            if store.generation and not migrating
            else DenseIndex(dimension)
        )
        removed_ids: list[int] = []
        offset = 0
        with store.transaction() as db:
            store.set_meta(db, "embedder", self.embedder.model_name)
            store.set_meta(db, "dimension", str(dimension))
            for (pid, _, _), vector in zip(kept, kept_vectors):
                db.execute("UPDATE passages SET embedding = ? WHERE passage_id = ?", (vector.tobytes(), pid))
            for doc_id in vanished:
                removed_ids += store.delete_document(db, doc_id)
            for doc, chunks in chunked:
                if doc.doc_id in stored:
                    removed_ids += store.delete_document(db, doc.doc_id)
                store.insert_document(
                    db,
                    StoredDocument(doc.doc_id, doc.source_path, doc.checksum),
                    doc.title,
                    doc.doc_type,
                    doc.language,
                    [(c.title_path, c.text, c.metadata) for c in chunks],
                    vectors[offset : offset + len(chunks)],
                )
                offset += len(chunks)
        new_ids = [
            row[0]
            for doc, _ in chunked
            for row in store.db.execute(
                "SELECT passage_id FROM passages WHERE doc_id = ? ORDER BY position", (doc.doc_id,)
            )
        ]
        if migrating:
            dense.add(np.asarray([pid for pid, _, _ in kept], dtype=np.int64), kept_vectors)
        else:
            dense.remove(removed_ids)
        dense.add(np.asarray(new_ids, dtype=np.int64), vectors)
        try:
            dense.save(self.index_dir / DenseIndex.FILENAME, store.generation)
        except OSError as exc:
            log.warning("FAISS cache not written (%s); it will be rebuilt from the passage store on load", exc)
        total = store.db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return IngestReport(
            added=tuple(d.doc_id for d, _ in chunked if d.doc_id not in stored),
            updated=tuple(d.doc_id for d, _ in chunked if d.doc_id in stored),
            removed=tuple(vanished),
            passages_written=len(texts),
            passages_total=total,
        )

    def _embed(self, texts: list[str], languages: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        batch = 256
        # Embedding similar lengths together wastes less padding: sort by length, embed, restore order.
        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)
        with tqdm(total=len(texts), desc="embedding", unit="passage", disable=not self.progress) as bar:
            for start in range(0, len(texts), batch):
                idx = order[start : start + batch]
                out[idx] = self.embedder.embed_passages([texts[i] for i in idx], [languages[i] for i in idx])
                bar.update(len(idx))
        return out


def _is_under(path: Path, root: Path) -> bool:
    try:
        return path.resolve() == root or path.resolve().is_relative_to(root)
    except OSError:
        return False
