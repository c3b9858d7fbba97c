"""The edge: bounded JSON nesting, and what logs and storage never keep as typed."""

from __future__ import annotations

import logging

import pytest

from core.errors import BadRequest
from core.redact import RedactingFilter, luhn_valid, mask_cards, redact
from core.wire import decode_json_object, decode_json_text, json_depth


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth('{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth('"\\"[[["') == 0


def test_deep_nesting_is_a_400_not_a_recursion_error():
    with pytest.raises(BadRequest, match="nested deeper than 32"):
        decode_json_text("[" * 30_000 + "]" * 30_000)
    with pytest.raises(BadRequest, match="nested"):
        decode_json_object(("[" * 100 + "]" * 100).encode(), "application/json")
    assert decode_json_object(b'{"a": [[1]]}', "application/json") == {"a": [[1]]}
    with pytest.raises(BadRequest, match="not valid JSON"):
        decode_json_object(b"{nope", "application/json")


def test_only_luhn_valid_card_numbers_are_masked():
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    assert mask_cards("card 4242 4242 4242 4242, order 12345") == "card •••• 4242, order 12345"
    assert mask_cards("5555-5555-5555-4444") == "•••• 4444"
    assert mask_cards("tracking 1Z999AA10123456784 and 4242424242424241") == "tracking 1Z999AA10123456784 and 4242424242424241"
    assert mask_cards("call 415 555 0100") == "call 415 555 0100"


def test_logs_lose_credentials_contacts_and_cards():
    line = redact("Authorization: Bearer abc.def token=xyz /ws?session=v1.a.b ana@example.com +1 415 555 0100 4242424242424242")
    for secret in ("abc.def", "xyz", "v1.a.b", "ana@example.com", "415 555 0100", "4242424242424242"):
        assert secret not in line
    assert len(redact("x" * 10_000)) < 2100


def test_the_filter_rewrites_records_and_tracebacks():
    record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "header %s", ("Bearer " + "a" * 50,), None)
    try:
        raise ValueError("Bearer " + "b" * 50)
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert "aaaa" not in record.getMessage() and "bbbb" not in (record.exc_text or "")
