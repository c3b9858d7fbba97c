from __future__ import annotations

import pytest

from knowledge_base.text import detect_language, split_sentences, text_length, tokenize


def test_split_sentences_on_periods_and_exclamations():
    assert split_sentences("Returns are free. Shipping takes 5 days! Is that fast? Yes.") == [
        "Returns are free.",
        "Shipping takes 5 days!",
        "Is that fast?",
        "Yes.",
    ]


def test_split_sentences_keeps_eg_ie_and_decimals():
    text = "Use a soft cloth, e.g. Microfiber works best. It costs $4.50 per pack, i.e. Cheap. The fee is 4.5 percent."
    assert split_sentences(text) == [
        "Use a soft cloth, e.g. Microfiber works best.",
        "It costs $4.50 per pack, i.e. Cheap.",
        "The fee is 4.5 percent.",
    ]


def test_split_sentences_before_numbers_and_quotes():
    assert split_sentences('It costs $4.50. 30 days apply. "Final Sale" items are excluded.') == [
        "It costs $4.50.",
        "30 days apply.",
        '"Final Sale" items are excluded.',
    ]


def test_split_sentences_does_not_split_lowercase_continuations():
    assert split_sentences("See section 4. then continue.") == ["See section 4. then continue."]


def test_split_sentences_chinese_punctuation():
    assert split_sentences("我们支持退货。请联系客服！需要多久？三十天") == ["我们支持退货。", "请联系客服！", "需要多久？", "三十天"]


def test_split_sentences_list_items_and_paragraphs_are_separate():
    text = "Bring:\n- a receipt\n- the box\n\nThen wait."
    assert split_sentences(text) == ["Bring:", "- a receipt", "- the box", "Then wait."]


def test_split_sentences_empty():
    assert split_sentences("   \n\n ") == []


def test_tokenize_stems_and_drops_stopwords():
    assert tokenize("The returns are shipping quickly") == ["return", "ship", "quick"]
    assert tokenize("What is the return policy?") == tokenize("return policies")


def test_tokenize_only_stopwords_is_empty():
    assert tokenize("what is the of and") == []


def test_tokenize_segments_chinese_into_words():
    tokens = tokenize("退货政策很简单")
    assert "退货" in tokens and "政策" in tokens
    assert "退货政策很简单" not in tokens


def test_tokenize_mixed_chinese_and_english():
    tokens = tokenize("iPhone退货 Returns")
    assert tokens[0] == "iphon"  # stemmed, lower-cased
    assert "退货" in tokens and "return" in tokens


def test_tokenize_normalises_full_width_characters():
    assert tokenize("ＲＥＴＵＲＮＳ") == ["return"]


def test_detect_language():
    assert detect_language("How long do refunds take?") == "en"
    assert detect_language("退款需要多长时间？") == "zh"
    assert detect_language("我的 iPhone 15 Pro Max 坏了") == "zh"
    assert detect_language("1234 !!!") == "en"


def test_text_length_counts_latin_words():
    assert text_length("Free returns within 30 days.") == 5
    assert text_length("don't") == 1


def test_text_length_counts_each_chinese_character():
    assert text_length("退货政策很简单") == 7
