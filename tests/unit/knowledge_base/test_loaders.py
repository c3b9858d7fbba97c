from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import make_pdf

from core.errors import DocumentError
from knowledge_base.loaders import discover, load_document


def write(root: Path, name: str, content: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def load(root: Path, name: str, content: str | bytes):
    return load_document(root, write(root, name, content))


# ---------------------------------------------------------------- Markdown

SHIPPING_MD = """\
---
layout: policy
---
# Shipping

We ship from Portland.

## Rates

Standard shipping takes five days.

### Canada

- Customs fees are included.
- Delivery takes 7 days.

| Zone | Standard | Express |
|------|----------|---------|
| Canada | $12.95 | $24.95 |
| Mexico | $15.00 | $29.00 |

## Tracking

You get a tracking link by email.
"""


def test_markdown_heading_paths_start_with_title_and_nest(tmp_path):
    doc = load(tmp_path, "shipping.md", SHIPPING_MD)
    assert doc.title == "Shipping"
    assert doc.doc_type == "policy"
    assert doc.doc_id == f"{tmp_path.name}/shipping.md"
    assert [s.title_path for s in doc.sections] == [
        ("Shipping",),
        ("Shipping", "Rates"),
        ("Shipping", "Rates", "Canada"),
        ("Shipping", "Tracking"),  # an h2 closes the h3 before it
    ]
    assert doc.sections[0].text == "We ship from Portland."
    assert "layout" not in " ".join(s.text for s in doc.sections)  # front matter is not content


def test_markdown_lists_and_tables_become_standalone_blocks(tmp_path):
    doc = load(tmp_path, "shipping.md", SHIPPING_MD)
    canada = doc.sections[2]
    assert canada.text.split("\n\n") == [
        "- Customs fees are included.",
        "- Delivery takes 7 days.",
        "Zone: Canada; Standard: $12.95; Express: $24.95.",
        "Zone: Mexico; Standard: $15.00; Express: $29.00.",
    ]
    # The header row itself is not a passage row.
    assert "Zone: Zone" not in canada.text


def test_markdown_without_h1_takes_title_from_file_name(tmp_path):
    doc = load(tmp_path, "order-changes.md", "## Cancelling\n\nYou can cancel within one hour.\n")
    assert doc.title == "Order changes"
    assert doc.sections[0].title_path == ("Order changes", "Cancelling")


# ---------------------------------------------------------------- HTML

GIFT_HTML = """\
<!doctype html>
<html><head><title>Site title</title>
<style>.price { color: red }</style>
<script>var tracking = "SCRIPT_TEXT";</script>
</head><body>
<nav><a href="/">NAV_HOME</a> <a href="/shop">NAV_SHOP</a></nav>
<header><p>HEADER_BANNER</p></header>
<h1>Gift Cards</h1>
<p>Gift cards never expire.</p>
<h2>Sizes</h2>
<table>
  <tr><th>Size</th><th>Chest</th></tr>
  <tr><td>S</td><td>34 in</td></tr>
  <tr><td>M</td><td>38 in</td></tr>
</table>
<ul><li>Check your balance online.</li><li>Cards cannot be refunded.</li></ul>
<footer><p>FOOTER_COPYRIGHT</p></footer>
</body></html>
"""


def test_html_drops_page_chrome(tmp_path):
    doc = load(tmp_path, "gift-cards.html", GIFT_HTML)
    everything = " ".join(s.text for s in doc.sections) + " ".join(" ".join(s.title_path) for s in doc.sections)
    for chrome in ("NAV_HOME", "NAV_SHOP", "HEADER_BANNER", "FOOTER_COPYRIGHT", "SCRIPT_TEXT", "color: red"):
        assert chrome not in everything


def test_html_keeps_headings_paragraphs_lists_and_table_rows(tmp_path):
    doc = load(tmp_path, "gift-cards.html", GIFT_HTML)
    assert doc.title == "Gift Cards"  # the h1 wins over <title>
    assert [s.title_path for s in doc.sections] == [("Gift Cards",), ("Gift Cards", "Sizes")]
    assert doc.sections[0].text == "Gift cards never expire."
    assert doc.sections[1].text.split("\n\n") == [
        "Size: S; Chest: 34 in.",
        "Size: M; Chest: 38 in.",
        "- Check your balance online.",
        "- Cards cannot be refunded.",
    ]


# ---------------------------------------------------------------- PDF


def test_pdf_loads_one_section_per_page(tmp_path):
    data = make_pdf(["Care Guide\nClean the kettle with vinegar every month.", "Never charge batteries overnight."], title="Care Guide")
    doc = load(tmp_path, "care.pdf", data)
    assert doc.title == "Care Guide"
    assert doc.metadata == {"pages": 2}
    assert [s.title_path for s in doc.sections] == [("Care Guide", "Page 1"), ("Care Guide", "Page 2")]
    assert "vinegar every month" in doc.sections[0].text
    assert "charge batteries overnight" in doc.sections[1].text


def test_text_file_named_pdf_is_not_a_pdf(tmp_path):
    with pytest.raises(DocumentError) as info:
        load(tmp_path, "x.pdf", "This is plain text pretending to be a PDF.\n")
    assert "not a PDF" in info.value.reason
    assert info.value.path.endswith("x.pdf")


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.95])
def test_truncated_pdf_is_a_document_error(tmp_path, fraction):
    data = make_pdf(["Warranty terms: two years on all electronics."])
    truncated = data[: max(16, int(len(data) * fraction))]
    assert truncated.startswith(b"%PDF-")
    with pytest.raises(DocumentError) as info:
        load(tmp_path, "broken.pdf", truncated)
    assert "PDF" in info.value.reason


def test_garbage_after_pdf_header_is_a_document_error(tmp_path):
    garbage = b"%PDF-1.7\n" + bytes((i * 131 + 7) % 256 for i in range(4000))
    with pytest.raises(DocumentError):
        load(tmp_path, "garbage.pdf", garbage)


def test_pdf_with_unsupported_stream_filter_is_a_document_error(tmp_path):
    # pypdf raises NotImplementedError here, which is none of its own error types.
    data = make_pdf(["Warranty terms: two years on all electronics."])
    assert data.count(b"/FlateDecode") == 1
    with pytest.raises(DocumentError) as info:
        load(tmp_path, "filter.pdf", data.replace(b"/FlateDecode", b"/BogusDecode"))
    assert "broken PDF" in info.value.reason


# ---------------------------------------------------------------- CSV

FAQ_CSV = (
    "question,answer,category\n"
    'Can I return sale items?,"Items marked ""Final Sale"" cannot be returned, exchanged or refunded.",returns\n'
    'Which cards do you take?,"Visa, Mastercard; Amex; and ""Pay Later"" plans.",payment\n'
    "How long is the warranty?,Two years on electronics.,warranty\n"
)


def test_faq_csv_with_quoted_phrases_loads_every_row(tmp_path):
    doc = load(tmp_path, "faq.csv", FAQ_CSV)
    assert doc.doc_type == "faq"
    assert doc.title == "FAQ"
    assert [s.title_path for s in doc.sections] == [
        ("FAQ", "Can I return sale items?"),
        ("FAQ", "Which cards do you take?"),
        ("FAQ", "How long is the warranty?"),
    ]
    assert doc.sections[0].text == 'Items marked "Final Sale" cannot be returned, exchanged or refunded.'
    assert doc.sections[1].text == 'Visa, Mastercard; Amex; and "Pay Later" plans.'
    assert doc.sections[0].metadata == {"question": "Can I return sale items?"}


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_faq_csv_with_other_delimiters(tmp_path, delimiter):
    content = f"question{delimiter}answer\nDo you ship abroad?{delimiter}Yes, to Canada, Mexico and the UK.\n"
    doc = load(tmp_path, "faq.csv", content)
    assert [(s.title_path[1], s.text) for s in doc.sections] == [("Do you ship abroad?", "Yes, to Canada, Mexico and the UK.")]


CATALOG_CSV = (
    "sku,title,category,price,currency,stock,attributes,description\n"
    'NW-1,"Trail Kettle, 1L",Camp Kitchen,39.00,USD,12,"{""capacity_l"": 1, ""material"": ""steel""}",A light kettle.\n'
    "NW-2,Head Torch,Lighting,24.50,USD,0,,Bright and small.\n"
)


def test_catalog_csv_rows_become_products(tmp_path):
    doc = load(tmp_path, "catalog.csv", CATALOG_CSV)
    assert doc.doc_type == "product"
    kettle, torch = doc.sections
    assert kettle.title_path == ("Catalog", "Camp Kitchen", "Trail Kettle, 1L")
    assert kettle.metadata["sku"] == "NW-1"
    assert kettle.metadata["price"] == "39.00"
    assert kettle.metadata["currency"] == "USD"
    assert "SKU NW-1" in kettle.text and "39.00 USD" in kettle.text and "12 in stock" in kettle.text
    assert "capacity l: 1" in kettle.text and "material: steel" in kettle.text
    assert torch.metadata["sku"] == "NW-2" and torch.metadata["price"] == "24.50"
    assert "out of stock" in torch.text


def test_csv_with_unknown_columns_names_them(tmp_path):
    with pytest.raises(DocumentError) as info:
        load(tmp_path, "inventory.csv", "colour,size\nred,M\n")
    assert "colour" in info.value.reason and "size" in info.value.reason


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize("name", ["empty.md", "empty.csv", "empty.pdf", "empty.html"])
def test_empty_file_is_a_document_error(tmp_path, name):
    with pytest.raises(DocumentError) as info:
        load(tmp_path, name, b"  \n")
    assert "empty" in info.value.reason


@pytest.mark.parametrize("name", ["blob.md", "blob.csv", "blob.html"])
def test_binary_file_with_nul_bytes_is_a_document_error(tmp_path, name):
    with pytest.raises(DocumentError) as info:
        load(tmp_path, name, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xd8")
    assert "binary" in info.value.reason


def test_heading_only_markdown_has_no_text(tmp_path):
    with pytest.raises(DocumentError) as info:
        load(tmp_path, "stub.md", "# Coming soon\n")
    assert "no text" in info.value.reason


# ---------------------------------------------------------------- language


def test_language_suffix_in_file_name(tmp_path):
    # The name declares the language even when the text itself does not look Chinese.
    doc = load(tmp_path, "returns.zh.md", "# Returns\n\nSee the English page.\n")
    assert doc.language == "zh"


def test_language_detected_from_chinese_content(tmp_path):
    doc = load(tmp_path, "returns.md", "# 退货政策\n\n您可以在收货后三十天内退货。请保留原包装。\n")
    assert doc.language == "zh"
    assert doc.title == "退货政策"


def test_english_content_is_english(tmp_path):
    assert load(tmp_path, "returns.md", "# Returns\n\nYou have 30 days.\n").language == "en"


# ---------------------------------------------------------------- discovery


def test_discover_skips_hidden_readme_and_unsupported_files(tmp_path):
    root = tmp_path / "store"
    for name in ("a.md", "sub/b.csv", "c.pdf", ".hidden/d.md", "_drafts/e.md", "README.md", "notes.docx", "img.png"):
        write(root, name, "x")
    found = [file.relative_to(root).as_posix() for _, file in discover([root])]
    assert found == ["a.md", "c.pdf", "sub/b.csv"]
    assert all(r == root.resolve() for r, _ in discover([root]))


def test_discover_missing_path_is_a_document_error(tmp_path):
    with pytest.raises(DocumentError) as info:
        discover([tmp_path / "nope"])
    assert "no such file" in info.value.reason
