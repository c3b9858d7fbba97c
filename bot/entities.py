"""Details customers type: order numbers, e-mail addresses, product SKUs, where they want things sent.

Rules rather than a model: these have a shape, and a rule that is wrong can be read and fixed. The
order-number rule is measured against Bitext's labelled order-id spans (tests/unit/bot/test_entities.py
and `python -m bot eval entities`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Chinese characters are word characters to `re`, so "订单12345" has no \b between 单 and 1: the
# boundaries below are "no Latin letter, digit or underscore on that side" instead.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_START = rf"(?<![^\W{_CJK}])"
_END = rf"(?![^\W{_CJK}])"

EMAIL = re.compile(_START + r"(?<![.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}" + _END + r"(?!-)")
# Our catalog's SKUs: NW-LAP-0001. An operator with another scheme changes this one pattern.
SKU = re.compile(_START + r"[A-Z]{2}-[A-Z]{3}-\d{4}" + _END, re.I)
# An order reference: digits, optionally with a letter prefix (ORD-12345) or a leading '#'.
_ORDER_TOKEN = r"#?(?:[A-Z]{2,4}-?)?\d{4,20}"
_ORDER_CUE = re.compile(
    _START + r"(?:order|purchase|package|parcel|shipment|delivery|tracking)s?(?:\b|(?=\d))(?:\s+(?:number|no\.?|num|id|#|is|was|:))*\s*[:#]?\s*("
    + _ORDER_TOKEN + ")" + _END,
    re.I,
)
# The same in Chinese, Simplified and Traditional: 订单 / 订单号 / 单号 / 快递单号 / 包裹, then 是, 为, ：...
# "发票单号" (an invoice number) and "货号" (an item number) are not order cues.
_ZH_ORDER_CUE = re.compile(
    r"(?:[订訂][单單](?:[编編][号號]|[号號][码碼]?)?|(?<!发票)(?<!發票)(?<!收据)(?<!收據)(?:快[递遞]|物流|[运運])?[单單][号號][码碼]?"
    r"|包裹|快[递遞])"
    r"(?:\s*(?:[编編][号號]|[号號][码碼]?|是|[为為]|:|#))*\s*[:#]?\s*(" + _ORDER_TOKEN + ")" + _END,
    re.I,
)
_BARE_NUMBER = re.compile(
    _START + r"(?<![$€£¥.,/-])(#?\d{5,20})" + rf"(?!(?:[^\W{_CJK}]|[.,/-])*\d)"
    r"(?!\s*(?:dollars?|usd|eur|euros?|pounds?|gbp|%|percent|rmb|cny|元|块|塊|美元|欧元|歐元|英镑|英鎊|人民币|人民幣))",
    re.I,
)
# A reference with an order prefix needs no cue: ORD-55123, and the sample store's own NW-100234.
_PREFIXED_ORDER = re.compile(_START + r"((?:ORD|NW)-?\d{4,20})" + _END, re.I)
# Numbers that are something else: invoices, amounts, phone numbers, dates.
_NOT_ORDER_CUE = re.compile(
    r"(?:\b(?:invoice|bill|receipt|refund(?:ing)?|usd|dollars?|eur|euros?)|\$|¥)\W*$"
    r"|\b(?:phone|call|tel|text|mobile|cell|whatsapp|zip|postcode|postal code)\b(?:\s+\w+){0,3}\W*$"
    # Chinese: a phone (电话, 手机), a postcode (邮编), an invoice or receipt, a price or an amount, a few
    # characters before the number ("我的手机号是 13812345678", "价格是 12999").
    r"|(?:电话|電話|手机|手機|座机|座機|微信|[联聯][系繫]|传真|傳真|[邮郵][编編]|[邮郵]政[编編]码|[邮郵]政[编編]碼|发票|發票|收据|收據"
    r"|[账賬]单|[账賬]單|价格|價格|价钱|價錢|金额|金額|总价|總價|[总總]共|[一]共|花了|付了|退款)[^\dA-Za-z]{0,6}$",
    re.I,
)

DESTINATIONS = {
    # Names customers use for places we ship to, mapped to how the shipping policy names them.
    "canada": "Canada", "alaska": "Alaska", "hawaii": "Hawaii", "puerto rico": "Puerto Rico",
    "united kingdom": "the United Kingdom", "uk": "the United Kingdom", "england": "the United Kingdom",
    "scotland": "the United Kingdom", "wales": "the United Kingdom", "ireland": "Ireland", "europe": "Europe",
    "germany": "Germany", "france": "France", "spain": "Spain", "italy": "Italy", "netherlands": "the Netherlands",
    "belgium": "Belgium", "austria": "Austria", "sweden": "Sweden", "denmark": "Denmark", "finland": "Finland",
    "poland": "Poland", "portugal": "Portugal", "norway": "Norway", "switzerland": "Switzerland",
    "australia": "Australia", "new zealand": "New Zealand", "japan": "Japan", "china": "China", "india": "India",
    "mexico": "Mexico", "brazil": "Brazil", "singapore": "Singapore", "south korea": "South Korea", "korea": "South Korea",
    "israel": "Israel", "south africa": "South Africa", "the us": "the contiguous US", "usa": "the contiguous US",
    "united states": "the contiguous US", "california": "California", "new york": "New York", "texas": "Texas",
    "florida": "Florida", "washington": "Washington", "oregon": "Oregon", "nevada": "Nevada",
    "apo": "an APO/FPO military address", "fpo": "an APO/FPO military address", "po box": "a PO box",
}
_DESTINATION = re.compile(r"\b(" + "|".join(sorted(map(re.escape, DESTINATIONS), key=len, reverse=True)) + r")\b", re.I)


@dataclass(frozen=True, slots=True)
class Entities:
    order_numbers: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    spans: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)

    @property
    def order_number(self) -> str | None:
        return self.order_numbers[0] if self.order_numbers else None

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None


def normalise_order_number(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).lstrip("#").replace("-", "").upper()


def _fold(text: str) -> tuple[str, list[int]]:
    """The text in NFKC form (full-width digits, letters and punctuation as ASCII: "１２３４５" is
    "12345", "：" is ":") and, for each of its characters, where it came from in `text`, so that spans
    found in the folded text point into the customer's own."""
    if text.isascii():
        return text, list(range(len(text) + 1))
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        piece = unicodedata.normalize("NFKC", ch)
        folded.append(piece)
        origin.extend([i] * len(piece))
    origin.append(len(text))
    return "".join(folded), origin


def _in_text(origin: list[int], start: int, end: int) -> tuple[int, int]:
    return origin[start], (origin[end - 1] + 1 if end > start else origin[start])


def _order_numbers(folded: str) -> list[tuple[str, int, int]]:
    masked = EMAIL.sub(lambda m: " " * len(m.group()), folded)
    masked = SKU.sub(lambda m: " " * len(m.group()), masked)
    found: dict[int, tuple[str, int, int]] = {}
    for pattern in (_ORDER_CUE, _ZH_ORDER_CUE, _PREFIXED_ORDER):
        for m in pattern.finditer(masked):
            if not any(s < m.end(1) and m.start(1) < e for _, s, e in found.values()):
                found[m.start(1)] = (m.group(1), m.start(1), m.end(1))
    for m in _BARE_NUMBER.finditer(masked):
        if any(s < m.end(1) and m.start(1) < e for _, s, e in found.values()):
            continue
        if _NOT_ORDER_CUE.search(masked[max(0, m.start(1) - 24) : m.start(1)]):
            continue
        found[m.start(1)] = (m.group(1), m.start(1), m.end(1))
    return [found[k] for k in sorted(found)]


def extract_order_numbers(text: str) -> list[tuple[str, int, int]]:
    """Order numbers with their character spans. A number right after a cue word ("order 12345",
    "订单号：12345", "單號 12345") or with an ORD- or NW- prefix is taken at 4+ digits; a bare number needs 5+
    digits and must not look like money, an invoice, a phone number or part of an e-mail or SKU.

    Matching is done on the NFKC form of the text (full-width "１２３４５" reads as 12345); the number
    is returned in that form, and its span points into `text` as given."""
    folded, origin = _fold(text)
    return [(raw, *_in_text(origin, s, e)) for raw, s, e in _order_numbers(folded)]


def extract(text: str) -> Entities:
    folded, origin = _fold(text)
    orders = _order_numbers(folded)
    emails = [(m.group(), m.start(), m.end()) for m in EMAIL.finditer(folded)]
    skus = [(m.group().upper(), m.start(), m.end()) for m in SKU.finditer(folded)]
    destinations = [DESTINATIONS[m.group(1).lower()] for m in _DESTINATION.finditer(folded)]
    spans = tuple(
        (kind, *_in_text(origin, s, e))
        for kind, found in (("order_number", orders), ("email", emails), ("sku", skus))
        for _, s, e in found
    )
    return Entities(
        order_numbers=tuple(dict.fromkeys(normalise_order_number(o) for o, _, _ in orders)),
        emails=tuple(dict.fromkeys(e.lower() for e, _, _ in emails)),
        skus=tuple(dict.fromkeys(s for s, _, _ in skus)),
        destinations=tuple(dict.fromkeys(destinations)),
        spans=spans,
    )


def evaluate_order_numbers(examples) -> dict:
    """Span-level precision and recall of order-number extraction against Bitext's order_id labels
    (BitextExample rows; rows labelled with another entity type, or none, count for precision)."""
    # Bitext's labels went through a spreadsheet that dropped leading zeros ("00123842" -> "123842").
    def key(raw: str) -> str:
        return normalise_order_number(raw).lstrip("0")

    tp = fp = fn = 0
    for example in examples:
        gold = {key(example.entity_value)} if example.entity_type == "order_id" and example.entity_value else set()
        predicted = {key(o) for o, _, _ in extract_order_numbers(example.text)}
        tp += len(gold & predicted)
        fp += len(predicted - gold)
        fn += len(gold - predicted)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(examples), "order_ids": tp + fn, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
