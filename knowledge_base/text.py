"""Language-aware text utilities shared by chunking, BM25 and answer extraction."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
# A Latin word (apostrophes inside) or one CJK character: CJK is excluded from the word class,
# or a whole run of Chinese would count as a single word.
_WORD_RE = re.compile(rf"[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*|[{_CJK}]", re.UNICODE)
# A sentence ends at . ! ? (followed by space and a capital, digit, quote or bracket) or at CJK 。！？；
# "e.g." and decimal numbers such as 4.5 are not sentence ends.
_SENTENCE_END_RE = re.compile(
    r"(?<=[。！？；])\s*|(?<!\b[A-Za-z]\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9¡¿])"
)

# Function words carry no retrieval signal and inflate BM25 scores of long passages.
ENGLISH_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)


def cjk_ratio(text: str) -> float:
    letters = [c for c in text if not c.isspace() and unicodedata.category(c)[0] in "LN"]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK_RE.match(c)) / len(letters)


def detect_language(text: str) -> str:
    """Tell Chinese from English (the sample store's two languages); other Latin text counts as English."""
    return "zh" if cjk_ratio(text) > 0.2 else "en"


def split_sentences(text: str) -> list[str]:
    text = re.sub(r"[ \t]+", " ", text)
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        block = " ".join(block.split())
        if not block:
            continue
        sentences.extend(s.strip() for s in _SENTENCE_END_RE.split(block) if s and s.strip())
    return sentences


def text_length(text: str) -> int:
    """Length in word units: a Latin word or a single CJK character (roughly one model token each)."""
    return len(_WORD_RE.findall(text))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer, the Snowball stemmers

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    """BM25 tokens: stemmed English words without stopwords; Chinese segmented into words by jieba."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for run in re.split(rf"([{_CJK}]+)", text):
        if not run:
            continue
        if _CJK_RE.match(run):
            tokens.extend(w for w in _jieba().lcut(run) if w.strip())
        else:
            words = [w.replace("’", "'") for w in _WORD_RE.findall(run)]
            words = [w for w in words if w not in ENGLISH_STOPWORDS]
            tokens.extend(_stemmer().stemWords(words))
    return tokens
