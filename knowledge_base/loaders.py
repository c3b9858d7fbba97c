"""Read source files into Documents: Markdown, HTML, PDF, FAQ CSV and the product catalog CSV.

Each loader raises DocumentError with a reason a store operator can act on; ingestion reports it
and moves on to the next file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Callable, Iterable

from core.errors import DocumentError
from core.types import Document, Section
from knowledge_base.text import detect_language

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".csv")
MAX_FILE_BYTES = 50 * 1024 * 1024
FAQ_COLUMNS = {"question", "answer"}
CATALOG_COLUMNS = {"sku", "title", "category", "price", "currency", "stock", "attributes", "description"}


def discover(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """Every supported file under the given files or folders, as (root, file) pairs, sorted."""
    found: dict[Path, Path] = {}
    for path in paths:
        path = Path(path).resolve()
        if path.is_file():
            found[path] = path.parent
        elif path.is_dir():
            for file in path.rglob("*"):
                if file.is_file() and file.suffix.lower() in SUPPORTED_SUFFIXES and not _hidden(file, path):
                    found[file.resolve()] = path
        else:
            raise DocumentError(str(path), "no such file or folder")
    return sorted(((root, file) for file, root in found.items()), key=lambda pair: str(pair[1]))


def _hidden(file: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in file.relative_to(root).parts) or file.name.lower() == "readme.md"


def document_id(root: Path, file: Path) -> str:
    return f"{root.name}/{file.relative_to(root).as_posix()}"


def load_document(root: Path, file: Path) -> Document:
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DocumentError(str(file), f"file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES // 10**6} MB limit")
        data = file.read_bytes()
    except OSError as exc:
        raise DocumentError(str(file), f"cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise DocumentError(str(file), "file is empty")
    suffix = file.suffix.lower()
    parse: Callable[[bytes, Path], tuple[str, list[Section], str, dict]]
    parse = {
        ".md": parse_markdown,
        ".markdown": parse_markdown,
        ".txt": parse_markdown,
        ".html": parse_html,
        ".htm": parse_html,
        ".pdf": parse_pdf,
        ".csv": parse_csv,
    }.get(suffix)  # type: ignore[assignment]
    if parse is None:
        raise DocumentError(str(file), f"unsupported file type {suffix!r}")
    title, sections, doc_type, metadata = parse(data, file)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise DocumentError(str(file), "no text could be extracted")
    language = _language_hint(file) or detect_language(" ".join(s.text for s in sections[:20]))
    return Document(
        doc_id=document_id(root, file),
        title=title,
        doc_type=doc_type,  # type: ignore[arg-type]
        language=language,
        sections=tuple(sections),
        source_path=str(file),
        checksum=hashlib.sha256(data).hexdigest(),
        metadata=metadata,
    )


def _language_hint(file: Path) -> str | None:
    # "returns.zh.md" declares its language in the name.
    parts = file.name.lower().split(".")
    return parts[-2] if len(parts) >= 3 and re.fullmatch(r"[a-z]{2}", parts[-2]) else None


def _decode(data: bytes, file: Path) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        # Windows-1252 is what most non-UTF-8 store exports are; it decodes any byte string.
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise DocumentError(str(file), "looks like a binary file, not text")
    return text


def _default_title(file: Path) -> str:
    stem = file.name.split(".")[0]
    title = re.sub(r"[-_]+", " ", stem).strip().capitalize() or file.name
    return "FAQ" if title.lower() == "faq" else title


# ---------------------------------------------------------------- Markdown


def parse_markdown(data: bytes, file: Path) -> tuple[str, list[Section], str, dict]:
    from markdown_it import MarkdownIt

    text = _decode(data, file)
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter is metadata, not content
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    title = ""
    headings: list[tuple[int, str]] = []
    sections: list[Section] = []
    buffer: list[str] = []
    row: list[str] = []
    header: list[str] = []
    in_heading = 0

    def flush() -> None:
        if buffer:
            path = tuple(h for _, h in headings)
            sections.append(Section(title_path=path, text="\n\n".join(buffer)))
            buffer.clear()

    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            flush()
            in_heading = int(tok.tag[1])
        elif tok.type == "heading_close":
            in_heading = 0
        elif tok.type == "inline" and in_heading:
            heading = _inline_text(tok)
            if in_heading == 1 and not title:
                title = heading
            headings = [(lvl, h) for lvl, h in headings if lvl < in_heading] + [(in_heading, heading)]
        elif tok.type == "thead_open":
            header = []
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close":
            if tokens[i - 1].type == "th_close":
                header = row
            else:
                buffer.append(table_row_text(header, row))
        elif tok.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            row.append(_inline_text(tok))
        elif tok.type == "inline":
            prefix = "- " if any(t.type == "list_item_open" for t in tokens[max(0, i - 2) : i]) else ""
            buffer.append(prefix + _inline_text(tok))
        elif tok.type in ("fence", "code_block"):
            buffer.append(tok.content.strip())
    flush()
    title = title or _default_title(file)
    sections = [Section(title_path=s.title_path if s.title_path else (title,), text=s.text) for s in sections]
    # The document title leads every path, even for sections under a second-level heading only.
    sections = [s if s.title_path[0] == title else Section((title, *s.title_path), s.text) for s in sections]
    return title, sections, "policy", {}


def _inline_text(token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def table_row_text(header: list[str], cells: list[str]) -> str:
    """A table row as a sentence that stands alone: "Zone: Canada; Standard: $12.95; Express: $24.95"."""
    if header and len(header) == len(cells):
        return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells) if c) + "."
    return "; ".join(c for c in cells if c) + "."


# ---------------------------------------------------------------- HTML

_BLOCKS = ("p", "li", "tr", "dt", "dd", "pre", "blockquote", "figcaption", "td", "th")
_CHROME = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe")


def parse_html(data: bytes, file: Path) -> tuple[str, list[Section], str, dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data, file), "html.parser")
    for tag in soup.find_all(_CHROME):
        tag.decompose()
    h1 = soup.find("h1")
    title = " ".join((h1.get_text(" ") if h1 else soup.title.get_text(" ") if soup.title else "").split())
    title = title or _default_title(file)
    headings: list[tuple[int, str]] = [(1, title)]
    sections: list[Section] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            sections.append(Section(tuple(h for _, h in headings), "\n\n".join(buffer)))
            buffer.clear()

    body = soup.body or soup
    headers: dict[int, list[str]] = {}
    for el in body.find_all(re.compile(r"^(h[1-6]|" + "|".join(_BLOCKS) + ")$")):
        if el.name[0] == "h" and el.name[1:].isdigit():
            flush()
            level = int(el.name[1])
            text = " ".join(el.get_text(" ").split())
            if level == 1:
                headings = [(1, text or title)]
            else:
                headings = [(lvl, h) for lvl, h in headings if lvl < level] + [(level, text)]
            continue
        # Only leaf blocks: a <li> holding a <p> is read through its <p>; a <td> through its <tr>.
        inner = ("p", "li", "dt", "dd", "pre", "blockquote", "figcaption") if el.name == "tr" else _BLOCKS
        if el.find(inner) or el.name in ("td", "th") and el.find_parent("tr"):
            continue
        if el.name == "tr":
            cells = [" ".join(c.get_text(" ").split()) for c in el.find_all(["td", "th"])]
            table = el.find_parent("table")
            if el.find("td") is None:  # a header row labels the rows below it
                headers[id(table)] = cells
                continue
            text = table_row_text(headers.get(id(table), []), cells)
        else:
            text = " ".join(el.get_text(" ").split())
        if text:
            buffer.append(("- " if el.name == "li" else "") + text)
    flush()
    return title, sections, "policy", {}


# ---------------------------------------------------------------- PDF


def parse_pdf(data: bytes, file: Path) -> tuple[str, list[Section], str, dict]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError(str(file), "not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(str(file), "PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentError(str(file), f"broken PDF: {exc}") from None
    except Exception as exc:  # pypdf raises many types on damaged files; none of them may stop ingestion
        raise DocumentError(str(file), f"broken PDF: {type(exc).__name__}: {exc}") from None
    if not any(p.strip() for p in pages):
        raise DocumentError(str(file), "PDF has no extractable text (scanned images need OCR first)")
    first_line = next((line.strip() for p in pages for line in p.splitlines() if line.strip()), "")
    title = meta_title.strip() or first_line[:120] or _default_title(file)
    sections = [
        Section((title, f"Page {n}"), _unwrap_pdf_text(text)) for n, text in enumerate(pages, start=1) if text.strip()
    ]
    return title, sections, "policy", {"pages": len(pages)}


def _unwrap_pdf_text(text: str) -> str:
    # PDF text arrives as layout lines; join lines inside a paragraph, keep blank lines and bullets.
    text = re.sub(r"-\n(?=[a-z])", "", text)
    return re.sub(r"(?<![.:!?\n])\n(?!\s*(?:[-•*]|\d+[.)])\s|\n)", " ", text)


# ---------------------------------------------------------------- CSV: FAQ and catalog


def parse_csv(data: bytes, file: Path) -> tuple[str, list[Section], str, dict]:
    text = _decode(data, file)
    # Only the delimiter is sniffed; quoting is always RFC 4180, which the sniffer misjudges on
    # answers that quote phrases ("Final Sale").
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    dialect = csv.excel_tab if delimiter == "\t" else csv.excel
    if delimiter == ";":
        class _Semicolon(csv.excel):
            delimiter = ";"

        dialect = _Semicolon
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = {(c or "").strip().lower() for c in reader.fieldnames or []}
    # Extra cells beyond the header arrive under the key None as a list: a malformed row, not a field.
    rows = [
        {k.strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(k, str) and not isinstance(v, list)}
        for row in reader
    ]
    title = _default_title(file)
    if FAQ_COLUMNS <= columns:
        sections = [
            Section((title, row["question"]), row["answer"], {"question": row["question"]})
            for row in rows
            if row.get("question") and row.get("answer")
        ]
        return title, sections, "faq", {}
    if {"sku", "title", "price"} <= columns:
        return title, [_product_section(title, row) for row in rows if row.get("sku")], "product", {}
    raise DocumentError(
        str(file),
        "CSV is neither an FAQ (needs columns question, answer) nor a catalog "
        f"(needs sku, title, price); found: {', '.join(sorted(columns)) or 'no header'}",
    )


def _product_section(catalog_title: str, row: dict[str, str]) -> Section:
    try:
        attributes = json.loads(row.get("attributes") or "{}")
    except json.JSONDecodeError:
        attributes = {}
    attribute_text = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in attributes.items()) if isinstance(
        attributes, dict
    ) else str(attributes)
    price = f"{row.get('price', '')} {row.get('currency', '')}".strip()
    stock = row.get("stock", "")
    availability = "out of stock" if stock in ("0", "") else f"{stock} in stock"
    text = (
        f"{row['title']} (SKU {row['sku']}), {row.get('category', '')}. Price: {price}; {availability}. "
        f"{row.get('description', '')} {('Attributes: ' + attribute_text + '.') if attribute_text else ''}"
    ).strip()
    metadata = {
        "sku": row["sku"],
        "price": row.get("price", ""),
        "currency": row.get("currency", ""),
        "stock": row.get("stock", ""),
        "category": row.get("category", ""),
    }
    return Section((catalog_title, row.get("category") or "Products", row["title"]), text, metadata)
