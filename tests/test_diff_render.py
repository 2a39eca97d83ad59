"""Block alignment, word diffs and the renderer (text, HTML escaping, JSON)."""

from __future__ import annotations

from tracker.compare.align import ADDED, CHANGED, EQUAL, MOVED, REMOVED, align
from tracker.compare.worddiff import DELETE, INSERT, word_diff
from tracker.compare.worddiff import EQUAL as SAME
from tracker.document import HEADING, ITEM, PARAGRAPH, Block, Document
from tracker.render import (
    build_report,
    condensed,
    render_html,
    render_html_fragment,
    render_text,
)


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


LONG_BEFORE = " ".join(f"w{i}" for i in range(40))
LONG_AFTER = " ".join(f"z{i}" for i in range(40))


def test_mail_shows_each_edit_with_a_few_words_around_it() -> None:
    old = doc(f"{LONG_BEFORE} We keep server logs for 12 months. {LONG_AFTER}")
    new = doc(f"{LONG_BEFORE} We keep server logs for 24 months. {LONG_AFTER}")
    text = render_text(condensed(build_report(old, new, None)))
    (line,) = [line for line in text.splitlines() if "[-12-]" in line]
    assert line.strip() == ("… w34 w35 w36 w37 w38 w39 We keep server logs for [-12-]{+24+} "
                            "months. z0 z1 z2 z3 z4 z5 z6 z7 z8 z9 …")
    full = render_text(build_report(old, new, None))  # `tracker diff` keeps everything
    assert "w0 " in full and "z39" in full


def test_mail_keeps_short_paragraphs_whole_and_elides_between_distant_edits() -> None:
    short = render_text(condensed(build_report(doc("Logs are kept for 12 months."),
                                               doc("Logs are kept for 24 months."), None)))
    assert "Logs are kept for [-12-]{+24+} months." in short
    old = doc(f"Logs: 12 months. {LONG_BEFORE} Backups: 30 days.")
    new = doc(f"Logs: 24 months. {LONG_BEFORE} Backups: 90 days.")
    (line,) = [line for line in render_text(condensed(build_report(old, new, None)))
               .splitlines() if "[-12-]" in line]
    assert "months. w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 … w30" in line and "w20" not in line
    assert line.endswith("w39 Backups: [-30-]{+90+} days.")


def test_mail_cuts_long_quotes_and_blocks_and_counts_what_it_left_out() -> None:
    quote = " ".join(["word"] * 100)
    comparison = {"material": True, "categories": ["retention"], "findings": [
        {"category": "retention", "change": "changed", "severity": "high", "old": "P1Y",
         "new": "P2Y", "old_text": quote, "new_text": "Logs: two years.", "section": ""}]}
    report = condensed(build_report(doc("Same."), doc("Same.", quote), comparison))
    finding = report.material_findings[0]
    assert finding["old_text"].endswith("word … (40 more words)")
    assert finding["new_text"] == "Logs: two years."
    assert report.blocks[0].new.endswith("… (40 more words)")
    assert "(40 more words)" in render_html_fragment(report)
    barely = " ".join(["word"] * 70)  # within a quarter of the limit: not worth a cut
    assert condensed(build_report(doc("Same."), doc("Same.", barely), None)).blocks[0].new \
        == barely


def test_a_long_quote_is_cut_around_the_sentence_that_changed() -> None:
    filler = " ".join(f"This is filler sentence number {i}." for i in range(40))
    old_text = "We retain server logs for 36 months."
    new_text = f"{filler} We retain server logs for 60 months. {filler}"
    comparison = {"material": True, "categories": ["retention"], "findings": [
        {"category": "retention", "change": "changed", "severity": "high", "old": "P36M",
         "new": "P60M", "old_text": old_text, "new_text": new_text, "section": ""}]}
    (finding,) = condensed(build_report(doc("Same."), doc("Same."), comparison)).findings
    assert finding["old_text"] == old_text
    quote = finding["new_text"]
    assert "We retain server logs for 60 months." in quote
    assert quote.startswith("… This is filler") and quote.endswith(" … (432 more words)")
    assert len(quote.split()) < 75


def test_html_quotes_follow_their_own_direction_and_old_clauses_stay_legible() -> None:
    comparison = {"material": True, "categories": ["retention"], "findings": [
        {"category": "retention", "change": "changed", "severity": "high", "old": "P1Y",
         "new": "P2Y", "old_text": "نحتفظ بالسجلات لمدة سنة.", "new_text": "نحتفظ بها سنتين.",
         "section": ""}]}
    html = render_html_fragment(build_report(doc("א"), doc("ב"), comparison))
    assert html.count('dir="auto"') == 4  # both quotes, the removed and the added block
    old_quote = html[html.index("Old: ") - 120:html.index("Old: ")]
    assert "line-through" not in old_quote


def test_people_read_durations_in_words_scripts_keep_iso() -> None:
    from tracker.compare.findings import readable

    assert [readable(v) for v in ("P18M", "P1Y", "P30D", "P1Y6M", "P2W")] == [
        "18 months", "1 year", "30 days", "1 year 6 months", "2 weeks"]
    assert [readable(v) for v in ("PT5H", "P", "privacy shield", 13)] == [
        "PT5H", "P", "privacy shield", "13"]
    comparison = {"material": True, "categories": ["retention"], "findings": [
        {"category": "retention", "change": "changed", "severity": "high", "old": "P12M",
         "new": "P30D", "old_text": "Logs: 12 months.", "new_text": "Logs: 30 days.",
         "section": ""}]}
    report = build_report(doc("Same."), doc("Same."), comparison)
    assert "retention: changed (12 months -> 30 days)" in render_text(report)
    assert "(12 months → 30 days)" in render_html_fragment(report)
    assert report.comparison["findings"][0]["old"] == "P12M"  # the JSON is unchanged
