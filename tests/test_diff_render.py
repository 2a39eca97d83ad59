"""Block alignment, word diffs and the renderer (text, HTML escaping, JSON)."""

from __future__ import annotations

from tracker.compare.align import ADDED, CHANGED, EQUAL, MOVED, REMOVED, align
from tracker.compare.worddiff import DELETE, INSERT, word_diff
from tracker.compare.worddiff import EQUAL as SAME
from tracker.document import HEADING, ITEM, PARAGRAPH, Block, Document
from tracker.render import build_report, render_html, render_html_fragment, render_text


def doc(*texts: str) -> Document:
    return Document([Block(PARAGRAPH, t) for t in texts])


def ops(pairs) -> list[str]:
    return [p.op for p in pairs]


def test_identical_documents_align_as_equal() -> None:
    assert set(ops(align(doc("a b", "c d"), doc("a b", "c d")))) == {EQUAL}


def test_moved_paragraph_is_moved_not_deleted_and_added() -> None:
    old = doc("Intro text here.", "We keep logs for a year.", "Contact us by mail.")
    new = doc("We keep logs for a year.", "Intro text here.", "Contact us by mail.")
    result = ops(align(old, new))
    assert MOVED in result and ADDED not in result and REMOVED not in result


def test_edited_paragraph_is_paired_as_changed() -> None:
    old = doc("Intro.", "We retain server logs for 12 months after collection.", "End.")
    new = doc("Intro.", "We retain server logs for 24 months after collection.", "End.")
    pairs = [p for p in align(old, new) if p.op != EQUAL]
    assert [p.op for p in pairs] == [CHANGED]
    assert pairs[0].old.text.endswith("12 months after collection.")


def test_unrelated_text_is_added_and_removed() -> None:
    pairs = align(doc("Same.", "Old clause about cats."),
                  doc("Same.", "Entirely new paragraph on quantum physics research."))
    assert sorted(ops(pairs)) == [ADDED, EQUAL, REMOVED]


def test_renumbered_list_and_reflowed_paragraph_are_no_change() -> None:
    old = Document([Block(ITEM, "1. First right"), Block(ITEM, "2. Second right"),
                    Block(PARAGRAPH, "One long paragraph. It has two sentences.")])
    new = Document([Block(ITEM, "a) First right"), Block(ITEM, "b) Second right"),
                    Block(PARAGRAPH, "One long paragraph."),
                    Block(PARAGRAPH, "It has two sentences.")])
    assert set(ops(align(old, new))) == {EQUAL}


def test_word_diff_keeps_whole_words() -> None:
    spans = word_diff("We keep logs for 12 months.", "We keep logs for 24 months.")
    assert [(s.op, s.text) for s in spans if s.op != SAME] == [(DELETE, "12"), (INSERT, "24")]
    assert "".join(s.text for s in spans if s.op != INSERT) == "We keep logs for 12 months."


def test_report_text_marks_words_and_sections() -> None:
    old = Document([Block(HEADING, "Retention", (), 2),
                    Block(PARAGRAPH, "We keep logs for 12 months.", ("Retention",))])
    new = Document([Block(HEADING, "Retention", (), 2),
                    Block(PARAGRAPH, "We keep logs for 24 months.", ("Retention",))])
    text = render_text(build_report(old, new, None, old_label="v1", new_label="v2"))
    assert "@@ Retention @@ changed" in text
    assert "[-12-]{+24+}" in text


def test_html_escapes_page_text() -> None:
    old = doc("Plain clause.")
    new = doc("Plain clause.", "<script>alert('x')</script> & <b>bold</b>")
    comparison = {"material": True, "noise_only": False, "categories": ["other_substantive"],
                  "effective_date": None, "findings": [{
                      "category": "other_substantive", "change": "added", "severity": "medium",
                      "old": None, "new": None, "old_text": None,
                      "new_text": "<script>alert('x')</script>", "section": "<img src=x>"}]}
    html = render_html(build_report(old, new, comparison, title="<i>t</i>"))
    assert "<script>" not in html and "<img" not in html and "<i>t</i>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    fragment = render_html_fragment(build_report(old, new, comparison))
    assert "Material findings" in fragment
