"""Details customers type: order numbers, e-mail addresses, product SKUs, where they want things sent.

Rules rather than a model: these have a shape, and a rule that is wrong can be read and fixed. The
order-number rule is measured against Bitext's labelled order-id spans (tests/unit/bot/test_entities.py
and `python -m bot eval entities`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# Our catalog's SKUs: NW-LAP-0001. An operator with another scheme changes this one pattern.
SKU = re.compile(r"\b[A-Z]{2}-[A-Z]{3}-\d{4}\b", re.I)
# An order reference: digits, optionally with a letter prefix (ORD-12345) or a leading '#'.
_ORDER_TOKEN = r"#?(?:[A-Z]{2,4}-?)?\d{4,20}"
_ORDER_CUE = re.compile(
    r"\b(?:order|purchase|package|parcel|shipment|delivery|tracking)s?(?:\b|(?=\d))(?:\s+(?:number|no\.?|num|id|#|is|was|:))*\s*[:#]?\s*(" + _ORDER_TOKEN + r")\b",
    re.I,
)
_BARE_NUMBER = re.compile(r"(?<![\w$€£.,/-])(#?\d{5,20})(?![\w.,/-]*\d)(?!\s*(?:dollars?|usd|eur|euros?|pounds?|gbp|%|percent))", re.I)
# Numbers that are something else: invoices, amounts, phone numbers, dates.
_PREFIXED_ORDER = re.compile(r"\b(ORD-?\d{4,20})\b", re.I)
_NOT_ORDER_CUE = re.compile(
    r"(?:\b(?:invoice|bill|receipt|refund(?:ing)?|usd|dollars?|eur|euros?)|\$)\W*$"
    r"|\b(?:phone|call|tel|text|mobile|cell|whatsapp|zip|postcode|postal code)\b(?:\s+\w+){0,3}\W*$",
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
    return raw.lstrip("#").replace("-", "").upper()


def extract_order_numbers(text: str) -> list[tuple[str, int, int]]:
    """Order numbers with their character spans. A number right after a cue word ("order 12345") or with
    an ORD- prefix is
    taken at 4+ digits; a bare number needs 5+ digits and must not look like money, an invoice, a
    phone number or part of an e-mail or SKU."""
    masked = EMAIL.sub(lambda m: " " * len(m.group()), text)
    masked = SKU.sub(lambda m: " " * len(m.group()), masked)
    found: dict[int, tuple[str, int, int]] = {}
    for pattern in (_ORDER_CUE, _PREFIXED_ORDER):
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


def extract(text: str) -> Entities:
    orders = extract_order_numbers(text)
    emails = [(m.group(), m.start(), m.end()) for m in EMAIL.finditer(text)]
    skus = [(m.group().upper(), m.start(), m.end()) for m in SKU.finditer(text)]
    destinations = [DESTINATIONS[m.group(1).lower()] for m in _DESTINATION.finditer(text)]
    spans = tuple(
        [("order_number", s, e) for _, s, e in orders] + [("email", s, e) for _, s, e in emails] + [("sku", s, e) for _, s, e in skus]
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
