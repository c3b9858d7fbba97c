"""What the bot says on every channel: the same texts in each language, English unchanged."""

from __future__ import annotations

import pytest

from core.wording import HANDOFF_TEXT, SORRY, SORRY_TEXT, handoff_text, in_language, sorry


def test_english_handoff_text_is_unchanged_and_the_default():
    expected = "Of course. I'm passing this conversation to a member of our support team; they'll reply right here."
    assert handoff_text("contact_human_agent", "") == expected
    assert handoff_text("contact_human_agent", "", "en") == expected
    assert handoff_text("contact_human_agent", "We're here 9–5.") == expected + " We're here 9–5."


@pytest.mark.parametrize("reason", sorted(HANDOFF_TEXT))
def test_every_handoff_reason_has_english_and_chinese(reason):
    texts = HANDOFF_TEXT[reason]
    assert set(texts) == {"en", "zh"}
    assert handoff_text(reason, "", "zh") == texts["zh"] != texts["en"]
    assert "客服" in texts["zh"] and texts["zh"].endswith("。")


def test_support_hours_are_appended_as_they_are_in_chinese_too():
    assert handoff_text("order_locked", "周一至周五 9:00–17:00。", "zh") == HANDOFF_TEXT["order_locked"]["zh"] + " 周一至周五 9:00–17:00。"


def test_a_language_without_its_own_text_gets_english():
    assert handoff_text("repeated_failure", "", "fr") == HANDOFF_TEXT["repeated_failure"]["en"]
    assert sorry("fr") == SORRY and in_language({"en": "a", "zh": "乙"}, "de") == "a"


def test_sorry_in_each_language():
    assert SORRY == "Sorry, something went wrong on our side and I couldn't answer. Please try again in a moment."
    assert sorry() == SORRY and sorry("zh") == SORRY_TEXT["zh"] and "抱歉" in SORRY_TEXT["zh"]
