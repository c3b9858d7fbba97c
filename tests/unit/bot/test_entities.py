from __future__ import annotations

import pytest

from bot.entities import Entities, evaluate_order_numbers, extract, extract_order_numbers, normalise_order_number
from models.intents import BitextExample

# ------------------------------------------------------------------ order numbers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Where is my order 12345?", "12345"),
        ("I want to cancel purchase #00123842", "00123842"),
        ("order113542617735902 has not arrived", "113542617735902"),
        ("my order is ORD-55123", "ORD55123"),
        ("order number: #77777", "77777"),
        ("my order id is 4821", "4821"),  # after a cue word 4 digits are enough
        ("tracking number 987654 please", "987654"),
        ("it's 12345", "12345"),  # bare, 5+ digits
        ("12345", "12345"),
    ],
)
def test_order_number_is_found(text, expected):
    entities = extract(text)
    assert entities.order_numbers == (expected,)
    assert entities.order_number == expected


def test_order_number_span_points_at_the_digits():
    text = "Where is my order 12345?"
    [(raw, start, end)] = extract_order_numbers(text)
    assert raw == "12345"
    assert text[start:end] == "12345"
    assert ("order_number", start, end) in extract(text).spans


@pytest.mark.parametrize(
    "text",
    [
        "I have a question about invoice #85632",
        "they are refunding 1200 dollars",
        "I was charged $12345",
        "I paid 12345 usd",
        "a discount of 12345%",
        "it is 1234",  # bare and only 4 digits
        "order 123",  # too short even after a cue word
        "phone 5551234567",
        "my zip 97201",
        "write to john12345@example.com",
        "the NW-LAP-0001 laptop is broken",
        "12,345 items",
    ],
)
def test_not_an_order_number(text):
    assert extract_order_numbers(text) == []
    assert extract(text).order_number is None


def test_phone_number_after_call_me_at_is_not_an_order_number():
    assert extract("call me at 5551234567").order_numbers == ()


def test_bare_prefixed_reference_is_an_order_number():
    assert extract("Where is ORD-55123?").order_numbers == ("ORD55123",)


def test_several_order_numbers_are_kept_in_order_without_duplicates():
    assert extract("order 12346 and order 12345, not 12346 again").order_numbers == ("12346", "12345")


def test_order_number_next_to_email_and_sku_is_still_found():
    e = extract("order 12345, e-mail ana99999@example.com, item NW-LAP-0001")
    assert e.order_numbers == ("12345",)
    assert e.emails == ("ana99999@example.com",)
    assert e.skus == ("NW-LAP-0001",)


def test_hash_prefixed_order_number_gives_one_span():
    spans = extract_order_numbers("order #12345")
    assert len(spans) == 1, spans
    assert normalise_order_number(spans[0][0]) == "12345"


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    "raw, expected",
    [("#00123842", "00123842"), ("ORD-55123", "ORD55123"), ("ord-55123", "ORD55123"), ("12345", "12345"), ("#ab-1234", "AB1234")],
)
def test_normalise_order_number(raw, expected):
    assert normalise_order_number(raw) == expected


# ------------------------------------------------------------------ e-mails, SKUs, destinations


def test_emails_are_lower_cased_and_deduplicated():
    e = extract("I'm John.Doe@Example.COM (or john.doe@example.com), backup jd+shop@mail.co.uk")
    assert e.emails == ("john.doe@example.com", "jd+shop@mail.co.uk")
    assert e.email == "john.doe@example.com"


def test_not_an_email():
    assert extract("meet me @ noon, or user@localhost").emails == ()


def test_skus_are_upper_cased():
    e = extract("is nw-lap-0001 in stock? and NW-AUD-0001?")
    assert e.skus == ("NW-LAP-0001", "NW-AUD-0001")
    assert ("sku", 3, 14) in e.spans


def test_sku_must_have_the_catalog_shape():
    assert extract("NW-LAP-01 or NWX-LAP-0001").skus == ()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Do you ship to Canada?", ("Canada",)),
        ("shipping to the uk?", ("the United Kingdom",)),
        ("what about New Zealand and south korea", ("New Zealand", "South Korea")),
        ("England or Scotland", ("the United Kingdom",)),  # both map to one place: kept once
        ("Do you deliver to a PO box in Alaska?", ("a PO box", "Alaska")),
        ("Do you ship to Ukraine?", ()),
        ("I was duke of ukraine", ()),  # 'uk' only as a whole word
    ],
)
def test_destinations(text, expected):
    assert extract(text).destinations == expected


def test_nothing_in_plain_text():
    assert extract("hello, how are you?") == Entities()


# ------------------------------------------------------------------ evaluation against Bitext labels


def _row(text: str, entity_type: str = "", entity_value: str = "") -> BitextExample:
    return BitextExample(text, "track_order", "ORDER", entity_type, entity_value)


def test_evaluate_order_numbers_counts_a_leading_zero_label_mismatch_as_correct():
    rows = [
        _row("I want to cancel purchase #00123842", "order_id", "123842"),  # label lost its leading zeros
        _row("where is order 12345", "order_id", "12345"),
        _row("I need invoice #85632", "invoice_number", "85632"),
        _row("how do I get a refund?"),
    ]
    figures = evaluate_order_numbers(rows)
    assert figures == {"n": 4, "order_ids": 2, "precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_evaluate_order_numbers_counts_misses_and_false_alarms():
    rows = [
        _row("where is order 12345", "order_id", "12345"),  # tp
        _row("track order 55555", "order_id", "66666"),  # fp + fn
        _row("it's 77777"),  # fp: nothing labelled
        _row("my order has not come", "order_id", "99999"),  # fn
    ]
    figures = evaluate_order_numbers(rows)
    # tp=1, fp=2, fn=2
    assert figures == {"n": 4, "order_ids": 3, "precision": 0.3333, "recall": 0.3333, "f1": 0.3333}


def test_evaluate_order_numbers_on_nothing():
    assert evaluate_order_numbers([]) == {"n": 0, "order_ids": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
