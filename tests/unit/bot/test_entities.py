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


# ------------------------------------------------------------------ order numbers in Chinese sentences


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我的订单 12345 到哪了", "12345"),
        ("订单号：NW-100234", "NW100234"),
        ("單號 12345", "12345"),  # Traditional
        ("訂單編號：12345", "12345"),
        ("订单12345", "12345"),  # no space, no \b between 单 and 1
        ("订单12345到哪了", "12345"),
        ("订单号是１２３４５", "12345"),  # full-width digits
        ("订单号码是：12345", "12345"),
        ("订单号 ＮＷ－１００２３４", "NW100234"),  # full-width letters, hyphen and digits
        ("ＮＷ－１００２３４", "NW100234"),  # the store's own prefix needs no cue
        ("快递单号9876543还没更新", "9876543"),
        ("我的包裹 4821 还没到", "4821"),  # after a cue 4 digits are enough, as in English
        ("是12345", "12345"),  # bare, after a Chinese character
        ("有没有人工能帮我处理 NW-100588 这单", "NW100588"),
        ("where's my package 订单号 NW-100321", "NW100321"),
    ],
)
def test_order_number_in_chinese_is_found(text, expected):
    assert extract(text).order_numbers == (expected,)


@pytest.mark.parametrize(
    "text",
    [
        "我的手机号是 13812345678",
        "电话13812345678",
        "联系我13812345678",
        "价格是 12999",
        "一共12999元",
        "付了 12345 块",
        "发票单号12345",
        "邮编100000",
        "¥12345",
        "订单 123",  # too short even after a cue
    ],
)
def test_not_an_order_number_in_chinese(text):
    assert extract(text).order_numbers == ()


def test_full_width_order_number_span_points_into_the_original_text():
    text = "订单号是１２３４５，谢谢"
    [(raw, start, end)] = extract_order_numbers(text)
    assert raw == "12345" and text[start:end] == "１２３４５"
    assert ("order_number", start, end) in extract(text).spans


def test_several_chinese_order_numbers():
    assert extract("订单12345和12346").order_numbers == ("12345", "12346")


@pytest.mark.parametrize(
    "text, email",
    [
        ("我的邮箱是 a@b.com", "a@b.com"),
        ("我的邮箱是ana.lima@example.com吗", "ana.lima@example.com"),
        ("邮箱：ＡＮＡ．ＬＩＭＡ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "ana.lima@example.com"),
    ],
)
def test_email_in_chinese_text(text, email):
    e = extract(text)
    assert e.emails == (email,) and e.order_numbers == ()
    [(kind, start, end)] = e.spans
    assert kind == "email" and text[start:end].endswith(("com", "ＣＯＭ"))


def test_order_number_and_email_in_one_chinese_message():
    e = extract("订单号是１２３４５，邮箱 ana.lima@example.com")
    assert e.order_numbers == ("12345",) and e.emails == ("ana.lima@example.com",)


def test_sku_next_to_chinese_text():
    assert extract("这款nw-lap-0001有货吗").skus == ("NW-LAP-0001",)


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    "raw, expected",
    [("#00123842", "00123842"), ("ORD-55123", "ORD55123"), ("ord-55123", "ORD55123"), ("12345", "12345"), ("#ab-1234", "AB1234"),
     ("ＮＷ－１００２３４", "NW100234")],
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
