"""Normalization: chrome stripping, main-content choice, noise immunity, Markdown, text."""

from __future__ import annotations

import pytest

from tracker.document import HEADING, ITEM, PARAGRAPH, ROW, Block, Document, comparison_key
from tracker.normalize import (
    NormalizeError,
    normalize_file,
    normalize_html,
    parse_markdown,
    parse_plain_text,
)

PAGE = """<!doctype html><html><head><title>Privacy | Example</title>
<script>var session = "{token}";</script><style>.x{{color:red}}</style></head>
<body>
<header><nav><a href="/?sid={token}">Home</a><a href="/about">About us</a></nav></header>
<div id="onetrust-banner-sdk">We value your privacy {token}. <button>Accept all</button></div>
<div class="promo"><a href="/sale?utm_source={token}">Black Friday: {promo}</a></div>
<main>
  <h1>Privacy Policy</h1>
  <p>Last updated: <time>May 24, 2018</time></p>
  <h2>Data we collect</h2>
  <p>We collect your <a href="/glossary?utm_campaign={token}&amp;sid={token}">email address</a>
     and   name.</p>
  <ul><li>Usage data</li><li>Device data<ul><li>IP address</li></ul></li></ul>
  <h2>Retention</h2>
  <table><tr><th>Data</th><th>Period</th></tr><tr><td>Logs</td><td>12 months</td></tr></table>
  <div style="display:none">hidden tracking pixel text</div>
  <p hidden>also hidden</p>
  <p>&copy; {year} Example Inc.</p>
</main>
<aside>Related: our blog</aside>
<footer><p>Copyright {year} Example. <a href="/imprint">Imprint</a></p></footer>
<noscript>Enable JavaScript</noscript>
</body></html>"""


def page(token: str = "abc", year: int = 2024, promo: str = "50% off") -> str:
    return PAGE.format(token=token, year=year, promo=promo)


def test_golden_chrome_stripped_and_structure_kept() -> None:
    doc = normalize_html(page())
    assert doc.to_text() == (
        "# Privacy Policy\n\n"
        "Last updated: May 24, 2018\n\n"
        "## Data we collect\n\n"
        "We collect your email address and name.\n\n"
        "- Usage data\n\n"
        "- Device data\n\n"
        "  - IP address\n\n"
        "## Retention\n\n"
        "| Data | Period |\n\n"
        "| Logs | 12 months |\n"
    )
    assert doc.title == "Privacy | Example"


def test_section_paths_follow_headings() -> None:
    doc = normalize_html(page())
    row = [b for b in doc.blocks if b.kind == ROW][-1]
    assert row.section == ("Privacy Policy", "Retention")
    item = [b for b in doc.blocks if b.kind == ITEM and b.text == "IP address"][0]
    assert item.level == 2


def test_rotating_tokens_banners_promos_and_years_give_identical_text() -> None:
    first = normalize_html(page("tok1", 2024, "50% off")).to_text()
    second = normalize_html(page("zzz999", 2025, "free shipping")).to_text()
    assert first == second


def test_main_content_found_without_semantic_markup() -> None:
    filler = "".join(f"<p>Paragraph {i} of the policy explains what we do with data.</p>"
                     for i in range(20))
    html = (f"<html><body><div id='top'><a href='/'>Home</a> <a href='/x'>Products</a></div>"
            f"<div class='wrapper'><div class='content'><h1>Privacy</h1>{filler}</div>"
            f"<div class='side'><a href='/1'>Latest news headline</a></div></div></body></html>")
    doc = normalize_html(html)
    assert doc.blocks[0] == Block(HEADING, "Privacy", (), 1)
    assert all("Latest news" not in b.text and "Products" not in b.text for b in doc.blocks)
    assert len(doc.blocks) == 21


def test_small_article_does_not_hide_the_real_content() -> None:
    body = "".join(f"<p>Clause {i}: we keep records as the law requires.</p>" for i in range(30))
    html = f"<html><body><div>{body}</div><article><p>Teaser</p></article></body></html>"
    doc = normalize_html(html)
    assert len([b for b in doc.blocks if b.text.startswith("Clause")]) == 30


def test_policy_section_named_cookies_is_not_taken_for_a_banner() -> None:
    long_text = "We use cookies for authentication and analytics. " * 50
    html = (f"<html><body><main><h1>Policy</h1><section id='cookies'><h2>Cookies</h2>"
            f"<p>{long_text}</p></section></main></body></html>")
    doc = normalize_html(html)
    assert any(b.kind == HEADING and b.text == "Cookies" for b in doc.blocks)


def test_select_and_remove() -> None:
    html = ("<html><body><div id='policy'><h1>Terms</h1><p>Keep.</p><p class='ad'>Drop.</p>"
            "</div><div id='other'><p>Elsewhere.</p></div></body></html>")
    doc = normalize_html(html, select=["#policy"], remove=[".ad"])
    assert [b.text for b in doc.blocks] == ["Terms", "Keep."]


def test_invalid_selector_is_a_clear_error() -> None:
    with pytest.raises(NormalizeError, match="invalid CSS selector"):
        normalize_html("<p>x</p>", select=["div[["])


def test_wayback_toolbar_is_stripped() -> None:
    html = ("<html><head><script src='/_static/wombat.js'></script>"
            "<!-- End Wayback Rewrite JS Include --></head><body>"
            "<!-- BEGIN WAYBACK TOOLBAR INSERT --><div>Wayback toolbar 1 capture</div>"
            "<!-- END WAYBACK TOOLBAR INSERT --><main><p>Policy text here.</p></main>"
            "</body></html>")
    assert normalize_html(html).to_text() == "Policy text here.\n"


def test_br_and_inline_markup_become_spaces_not_glue() -> None:
    doc = normalize_html("<main><p>Address:<br>1 Main St<b>reet</b>,<i> Springfield</i></p></main>")
    assert doc.blocks[0].text == "Address: 1 Main Street, Springfield"


def test_empty_and_garbage_input_give_empty_documents() -> None:
    assert normalize_html("").blocks == []
    assert normalize_html(b"\x00\x01\x02").blocks == []


def test_deeply_nested_html_does_not_crash() -> None:
    html = "<div>" * 100_000 + "deep text" + "</div>" * 100_000
    doc = normalize_html(html)
    assert isinstance(doc, Document)


def test_comparison_key_folds_typography_and_numbering() -> None:
    assert comparison_key("1. We \u201cdon\u2019t\u201d\u00a0sell\u00ad data \u2014 ever .") == \
        comparison_key("We \"don't\" sell data - ever.")
    assert comparison_key("a. First") == comparison_key("First")
    assert comparison_key("12 months") != comparison_key("24 months")


def test_text_round_trip_is_exact() -> None:
    doc = normalize_html(page())
    assert Document.from_text(doc.to_text()).blocks == doc.blocks
    tricky = Document([Block(PARAGRAPH, "- not an item"), Block(PARAGRAPH, "# not a heading"),
                       Block(PARAGRAPH, "| not a row |")])
    assert Document.from_text(tricky.to_text()).blocks == tricky.blocks


def test_markdown_parses_to_the_same_model() -> None:
    md = ("# Privacy Policy\n\nLast updated: **May 24, 2018**\n\n## Data\n\n"
          "We collect [email](https://x.test/?utm_source=a) and\nname.\n\n"
          "1. Usage data\n2. Device data\n\n| Data | Period |\n|---|---|\n| Logs | 12 months |\n\n"
          "© 2024 Example\n")
    doc = parse_markdown(md)
    assert [(b.kind, b.text) for b in doc.blocks] == [
        (HEADING, "Privacy Policy"), (PARAGRAPH, "Last updated: May 24, 2018"),
        (HEADING, "Data"), (PARAGRAPH, "We collect email and name."),
        (ITEM, "Usage data"), (ITEM, "Device data"),
        (ROW, "Data | Period"), (ROW, "Logs | 12 months"),
    ]
    assert doc.blocks[-1].section == ("Privacy Policy", "Data")


def test_plain_text_paragraphs_and_headings() -> None:
    doc = parse_plain_text("Privacy Policy\n\nWe keep logs\nfor 12 months.\n\nYour Rights\n\n"
                           "You may ask us to delete data.")
    assert [(b.kind, b.text) for b in doc.blocks] == [
        (HEADING, "Privacy Policy"), (PARAGRAPH, "We keep logs for 12 months."),
        (HEADING, "Your Rights"), (PARAGRAPH, "You may ask us to delete data.")]


def test_normalize_file_errors_are_clear(tmp_path) -> None:
    with pytest.raises(NormalizeError, match="no such file"):
        normalize_file(tmp_path / "missing.md")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(NormalizeError, match="unsupported file type"):
        normalize_file(tmp_path / "x.pdf")
    with pytest.raises(NormalizeError, match="is a directory"):
        normalize_file(tmp_path / "dir.md") if (tmp_path / "dir.md").mkdir() is None else None


def test_normalize_file_reads_latin1_html(tmp_path) -> None:
    path = tmp_path / "p.html"
    path.write_bytes("<main><p>Données personnelles</p></main>".encode("latin-1"))
    assert normalize_file(path).blocks[0].text == "Données personnelles"


def test_clean_display_drops_every_invisible_ascii_character_and_collapses_space() -> None:
    from tracker.document import _INVISIBLE, clean_display

    for code in range(128):  # each ASCII character inside a word, at the edges, doubled
        char = chr(code)
        for text in (f"ab{char}cd", f"{char}ab cd{char}", f"a {char}{char} b"):
            assert clean_display(text) == " ".join(text.translate(_INVISIBLE).split()), code
    assert clean_display("Privacy\x00 \x1b[2J  policy\x7f\t\n") == "Privacy [2J policy"
    assert clean_display("caf\u00e9\u200b  menu") == "caf\u00e9 menu"


def test_boilerplate_shortcuts_agree_with_the_patterns() -> None:
    from tracker.normalize import _COPYRIGHT, _FURNITURE_TEXT, _is_boilerplate

    phrases = ["back to top", "skip to content", "skip to main content", "print",
               "print this page", "share", "share this", "top", "menu", "close", "accept",
               "accept all", "accept cookies", "accept all cookies", "reject all",
               "cookie settings"]
    samples = [*phrases, *(p.upper() for p in phrases), *(p.title() for p in phrases),
               "\u00a9 2024 Example Inc.", "(c) 2019-2024 Example", "Copyright 2024",
               "COPYRIGHT \u00a9 2020", "All rights reserved.", "all rights reserved",
               "Skip to main content now", "We collect data.", "Close", "topics", "a", "(", "c"]
    for text in samples:
        expected = bool(_COPYRIGHT.match(text) or _FURNITURE_TEXT.match(text))
        assert _is_boilerplate(text) == expected, text
    assert all(_is_boilerplate(p) for p in phrases)


def test_control_characters_next_to_dropped_elements_are_removed_not_fatal() -> None:
    # Word-processor exports carry vertical tabs and form feeds; lxml keeps them in text but
    # refuses to store them back when a dropped element's tail is moved.
    html = ("<html><body><h1>Privacy</h1><p>We collect data. <img src='a.png'> Retention is"
            "\x0b two years.</p><nav>menu</nav>\x0c<p>More text here.</p></body></html>")
    assert normalize_html(html).to_text() == (
        "# Privacy\n\nWe collect data. Retention is two years.\n\nMore text here.\n")


def test_legacy_pages_nested_past_the_parsers_cap_keep_all_their_text() -> None:
    # "<p><font>" on every paragraph, never closed: libxml2 nests each paragraph in the last
    # and stops at 256 levels, which silently dropped everything after the 127th clause.
    clauses = "".join(f"<p><font face=Arial>Clause {i}: logs are kept {i + 1} days."
                      for i in range(300))
    blocks = normalize_html(f"<html><body><h1>Privacy</h1>{clauses}</body></html>").blocks
    assert [b.text for b in blocks[1:]] == [f"Clause {i}: logs are kept {i + 1} days."
                                            for i in range(300)]
    divs = 300
    nested = (f"<html><body><p>Intro.</p>{'<div>' * divs}<p>We keep logs for 12 months.</p>"
              f"{'</div>' * divs}<p>The end.</p></body></html>")
    assert [b.text for b in normalize_html(nested).blocks] == [
        "Intro.", "We keep logs for 12 months.", "The end."]


def test_hostile_nesting_stays_bounded() -> None:
    # Far past what the block walk can recurse through: the capped parse is kept (what was
    # cut is lost, as before) and nothing raises.
    html = "<html><body>" + "<div>" * 5000 + "<p>deep</p>" + "</div>" * 5000 + "</body></html>"
    assert normalize_html(html).blocks == []


def test_loose_text_between_blocks_is_kept_after_every_block() -> None:
    # Text standing between blocks (a tail) is a paragraph of its own, after the first block
    # of a container and after every later one.
    html = ("<body><main><div><p>First block here.</p>Loose tail one.<p>Second.</p>"
            "Loose tail two.<h2>Then</h2>Loose tail three.</div></main></body>")
    assert [b.text for b in normalize_html(html).blocks] == [
        "First block here.", "Loose tail one.", "Second.", "Loose tail two.", "Then",
        "Loose tail three."]
