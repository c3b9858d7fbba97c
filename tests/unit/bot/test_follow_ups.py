"""A follow-up is asked alone and in the context of the last question; the surer answer wins."""

from __future__ import annotations

import pytest

from bot.follow_ups import in_context, supports
from core.slots import Slots


@pytest.mark.parametrize("text", ["and if i paid with paypal?", "what about earbuds", "how much is express", "it already shipped tho"])
def test_leaning_messages_get_the_last_question_as_context(text):
    assert in_context(text, Slots(last_question="how long do refunds take")) == f"how long do refunds take {text}"


def test_standalone_or_first_messages_get_none():
    assert in_context("how long do refunds take on a credit card after you receive the return", Slots(last_question="hi")) is None
    assert in_context("and if i paid with paypal?", Slots()) is None


def test_the_context_is_bounded():
    assert len(in_context("and that?", Slots(last_question="x" * 5000))) <= 310


def test_an_answer_in_context_must_speak_to_the_new_message():
    from core.types import Reply, Source

    refunds = Reply("PayPal: 3-5 business days.", (Source("d", "Refunds", "PayPal refunds take 3-5 business days.", 1.0, ("Refunds",)),))
    assert supports(refunds, "and if i paid with paypal?")
    assert not supports(refunds, "do you sell submarines?")
