"""How the dialogue reads a customer's reply to a question it asked: yes or no, a question of their own
instead of an answer, and the language the reply is in. English and Chinese (Simplified and
Traditional; full-width punctuation reads as ASCII).

Yes and no in Chinese are read from the whole message, not from its first word: "好的，取消吧" is a
yes, "好的，不取消了" a no, and "我要找人工客服" is neither (it starts with 我要, not with an answer).

取消 ("cancel"): the only question the bot asks for a yes or no is "要为您取消订单 N 吗？" (shall I
cancel order N?), and there "取消" / "取消吧" / "帮我取消" repeat the verb of the question, which is
how Chinese says yes. So they count as yes, unlike the English "cancel that", which is a no. Any
negation (不, 别, 算了, 不用...) makes the reply a no, also after an agreeing word ("好的，不取消了"),
and a reply that is a question ("取消吗？") is neither: when a reply is unclear the order is left as it
is, the side that can be undone (the customer can ask again); a cancellation cannot.
"""

from __future__ import annotations

import re
import unicodedata

from bot.entities import extract
from knowledge_base.text import detect_language

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_YES_EN = re.compile(rf"^\s*(y|yes|yeah|yep|sure|ok(ay)?|please do|do it|confirm(ed)?|go ahead|correct)(?![^\W{_CJK}])", re.I)
_NO_EN = re.compile(rf"^\s*(n|no|nope|nah|don'?t|do not|cancel that|never ?mind|stop|keep it)(?![^\W{_CJK}])", re.I)

_PAUSE = r"[\s,.!~;:、。…]*"
# Words a Chinese yes is made of (one of _AGREE must be among them): 是的，请帮我取消这个订单 / 好 / 可以 / 确认。
_AGREE = r"是的?|是啊|[对對](?:的|啊)?|没错|沒錯|好(?:的|吧|啊|呀)?|行|可以|[确確][认認定]|[没沒][问問][题題]|[当當]然|要的?|嗯+|恩|ok(?:ay)?|yes"
_ZH_YES_WORDS = re.compile(
    rf"(?:{_PAUSE}(?:{_AGREE}|取消|掉|[请請]|麻[烦煩]|[帮幫]我|[给給]我|那就|那|就|吧|它|[这這][个個]?(?:[订訂]?[单單])?|[订訂][单單]|[该該][订訂][单單]"
    rf"|[谢謝][谢謝]|#?\d{{4,20}}))+{_PAUSE}",
    re.I,
)
_ZH_AGREE = re.compile(rf"{_AGREE}|取消", re.I)
# A Chinese no: a negation first, after words that only lead into it ("嗯，还是不要了", "好的，不取消了").
_ZH_NO = re.compile(
    rf"^{_PAUSE}(?:(?:{_AGREE}|那就?|还是|還是|我|先|暂时|暫時|哦|噢|呃|额){_PAUSE})*"
    r"(?:不|[别別]|甭|算了|保留|留着|留著|[没沒]事|等等|等一下)",
    re.I,
)
_ZH_NEGATION = re.compile(r"不|[别別]|甭|算了")

_QUESTION_EN = re.compile(
    r"^\s*(?:what|how|why|when|where|which|who|whose|can|could|do|does|did|is|are|was|were|will|would|should|shall|may)\b",
    re.I,
)
# ... and A-not-A questions: 是不是, 要不要, 能不能, 好不好.
_QUESTION_ZH = re.compile(r"[吗嗎呢哪]|什[么麼]|怎[么麼样樣]|多少|多久|[为為]什[么麼]|是否|有[没沒]有|几|幾|([\u4e00-\u4e0c\u4e0e-\u9fff])不\1")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def is_question(text: str) -> bool:
    """A question of the customer's own: ends with ? or ？, or asks with 吗, 呢, 什么, 怎么, 多少, 哪...,
    or starts with what, how, can, do, is..."""
    folded = _fold(text)
    return folded.endswith("?") or bool(_QUESTION_ZH.search(folded)) or bool(_QUESTION_EN.match(folded))


def is_yes(text: str) -> bool:
    folded = _fold(text)
    if _YES_EN.match(folded):
        return not _ZH_NEGATION.search(folded)  # "ok, 不取消了" is a no
    return (len(folded) <= 40 and not is_question(folded) and _ZH_YES_WORDS.fullmatch(folded) is not None
            and _ZH_AGREE.search(folded) is not None)


def is_no(text: str) -> bool:
    folded = _fold(text)
    return bool(_NO_EN.match(folded)) or (not is_question(folded) and _ZH_NO.match(folded) is not None)


def language_of(text: str, default: str = "en") -> str:
    """The language of the customer's words, leaving out the order numbers, e-mail addresses and SKUs
    in them: "订单号是 12345" is Chinese, "ana.lima@example.com" or "12345" alone is in no language and
    gets `default` (the language of the question it answers)."""
    words = text
    for _, start, end in sorted(extract(text).spans, key=lambda span: span[1], reverse=True):
        words = words[:start] + " " + words[end:]
    if not any(ch.isalpha() for ch in words):
        return default
    return detect_language(words)
