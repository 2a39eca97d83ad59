"""Whole comparisons on small hand-written policy pairs (Markdown and HTML)."""

from __future__ import annotations

import json

from tracker.compare.semantic import Comparison, Finding, compare_documents
from tracker.normalize import normalize_html, parse_markdown

BASE = """# Example Privacy Policy

Last updated: May 24, 2018

## Information we collect

We collect your name, email address and IP address when you create an account.

## How we use information

We use your information to provide and improve the service.

We use your information to send you service announcements.

## Sharing

We do not sell your personal information.

We share data with service providers who process it on our behalf.

## Data retention

We retain server logs for 12 months.

## Children

Our service is not directed to children under 13.

## Your rights

1. You may access your personal data.
2. You may ask us to delete your personal data.
3. You may object to processing.

## Contact us

Write to privacy@example.com with any questions.
"""


def compare(old: str, new: str) -> Comparison:
    return compare_documents(parse_markdown(old), parse_markdown(new))


def findings(result: Comparison, category: str) -> list[Finding]:
    return [f for f in result.findings if f.category == category]


def test_identical_is_noise_only() -> None:
    result = compare(BASE, BASE)
    assert result.noise_only and not result.material
    assert result.categories == [] and result.effective_date is None
    assert result.summary() == "noise only"


def test_moved_paragraph_is_not_material() -> None:
    moved = BASE.replace(
        "We use your information to provide and improve the service.\n\n"
        "We use your information to send you service announcements.\n",
        "We use your information to send you service announcements.\n\n"
        "We use your information to provide and improve the service.\n")
    assert moved != BASE
    result = compare(BASE, moved)
    assert not result.material and result.noise_only
    assert result.categories == []
    assert all(f.change == "moved" for f in result.findings)
    assert any(f.change == "moved" for f in result.findings)


def test_renumbered_list_and_reflow_are_noise() -> None:
    old = BASE.replace("## Sharing", "## 3. Sharing").replace("## Data retention",
                                                              "## 4. Data retention")
    new = BASE.replace("## Sharing", "## 4. Sharing").replace("## Data retention",
                                                              "## 5. Data retention")
    new = new.replace("1. You may access", "4. You may access") \
        .replace("2. You may ask", "5. You may ask") \
        .replace("3. You may object", "6. You may object")
    new = new.replace("We collect your name, email address and IP address when you create an "
                      "account.", "We collect your name, email address\nand IP address when you "
                      "create an\naccount.")
    result = compare(old, new)
    assert result.noise_only and not result.material and result.findings == []


def test_typography_and_link_changes_are_noise() -> None:
    old = BASE.replace("We do not sell", "We don't sell").replace(
        "Write to privacy@example.com",
        "Write to [privacy@example.com](mailto:privacy@example.com)")
    new = BASE.replace("We do not sell", "We don\u2019t sell").replace(
        "any questions.", "any\u00a0questions.").replace(
        "Write to privacy@example.com",
        "Write to [privacy@example.com](https://x.example/?utm_source=mail)")
    result = compare(old, new)
    assert result.noise_only and not result.material and result.findings == []


def test_retention_rewording_is_not_material() -> None:
    new = BASE.replace("for 12 months", "for one year")
    result = compare(BASE, new)
    assert not result.material
    assert result.categories == []
    retention = findings(result, "retention")
    assert [f.change for f in retention] == ["reworded"]
    assert retention[0].severity == "info"


def test_retention_period_change_is_material() -> None:
    new = BASE.replace("for 12 months", "for 24 months")
    result = compare(BASE, new)
    assert result.material and not result.noise_only
    assert result.categories == ["retention"]
    (finding,) = findings(result, "retention")
    assert (finding.change, finding.old, finding.new) == ("changed", "P12M", "P24M")
    assert finding.severity == "high"
    assert finding.section == "Data retention"
    assert finding.old_text == "We retain server logs for 12 months."
    assert finding.new_text == "We retain server logs for 24 months."
    assert result.summary().startswith("material: retention 12 months\u219224 months")


def test_do_not_sell_to_may_sell_is_material_sharing() -> None:
    new = BASE.replace("We do not sell your personal information.",
                       "We may sell your personal information.")
    result = compare(BASE, new)
    assert result.material
    assert "sharing" in result.categories
    sharing = findings(result, "sharing")
    assert any(f.old == "does not sell" and f.new == "may sell" and f.severity == "high"
               for f in sharing)


def test_negation_flip_is_material() -> None:
    new = BASE.replace("We share data with service providers",
                       "We do not share data with service providers")
    result = compare(BASE, new)
    assert result.material and "sharing" in result.categories


def test_date_only_bump_is_informational() -> None:
    new = BASE.replace("May 24, 2018", "January 3, 2020")
    result = compare(BASE, new)
    assert not result.material and not result.noise_only
    assert result.categories == ["effective_date"]
    assert result.effective_date == {"old": "2018-05-24", "new": "2020-01-03"}
    (finding,) = result.findings
    assert (finding.category, finding.severity) == ("effective_date", "info")
    assert result.summary() == "effective date 2018-05-24 \u2192 2020-01-03 only"


def test_body_change_without_date_bump_is_noted() -> None:
    new = BASE.replace("under 13", "under 16")
    result = compare(BASE, new)
    assert result.material and result.categories == ["children"]
    assert result.effective_date is None
    (child,) = findings(result, "children")
    assert (child.old, child.new) == (13, 16)
    assert result.summary().startswith("material: children 13\u219216")
    notes = [f for f in findings(result, "effective_date")]
    assert len(notes) == 1
    assert notes[0].severity == "info" and notes[0].old == notes[0].new == "2018-05-24"


def test_ambiguous_numeric_date() -> None:
    old = BASE.replace("May 24, 2018", "05/06/2018")
    new = BASE.replace("May 24, 2018", "05/07/2018")
    result = compare(old, new)
    assert result.effective_date == {"old": "2018-05-06", "new": "2018-05-07"}
    day_first = old.replace("## Contact us", "Reviewed on 25/05/2018.\n\n## Contact us")
    result = compare(day_first, new.replace("## Contact us", "Reviewed on 25/05/2018.\n\n"
                                            "## Contact us"))
    assert result.effective_date == {"old": "2018-06-05", "new": "2018-07-05"}


def test_new_ai_training_purpose_is_material() -> None:
    new = BASE.replace(
        "We use your information to send you service announcements.\n",
        "We use your information to send you service announcements.\n\n"
        "We also use your content and interactions to train our artificial intelligence "
        "and machine learning models.\n")
    result = compare(BASE, new)
    assert result.material and "purposes" in result.categories
    purposes = findings(result, "purposes")
    assert any(f.change == "added" and "ai training" in (f.new or []) and f.severity == "high"
               for f in purposes)


def test_contact_email_change_is_material() -> None:
    new = BASE.replace("privacy@example.com", "dpo@example.com")
    result = compare(BASE, new)
    assert result.categories == ["contact"]
    (finding,) = findings(result, "contact")
    assert (finding.old, finding.new) == ("privacy@example.com", "dpo@example.com")


def test_email_protection_placeholder_is_noise() -> None:
    old = BASE.replace("privacy@example.com", "[email protected]")
    result = compare(old, BASE)
    assert result.noise_only and not result.material


def test_spelling_fix_is_noise() -> None:
    old = BASE.replace("for 12 months", "for as long necessary")
    new = BASE.replace("for 12 months", "for as long as necessary")
    result = compare(old, new)
    assert not result.material and result.categories == []


def test_page_furniture_is_noise() -> None:
    old = "- Home\n- Products\n- Holiday Sale (May 13, 2020)\n\n" + BASE
    new = "- Home\n- Shop\n- Spring Days (Mar 19, 2020)\n- icbrule0101000960\n\n" + BASE
    result = compare(old, new)
    assert result.noise_only and not result.material
    assert result.effective_date is None


def test_new_section_is_material_with_categories() -> None:
    new = BASE.replace("## Contact us", "## International transfers\n\nWe transfer your "
                       "personal data to the United States under the Standard Contractual "
                       "Clauses.\n\n## Contact us")
    result = compare(BASE, new)
    assert result.material and result.categories == ["transfers"]
    (finding,) = findings(result, "transfers")
    assert finding.change == "added" and "standard contractual clauses" in finding.new


def test_removed_right_is_material() -> None:
    new = BASE.replace("3. You may object to processing.\n", "")
    result = compare(BASE, new)
    assert result.material and result.categories == ["rights"]
    assert findings(result, "rights")[0].change == "removed"


def test_truncated_capture_is_suspect_not_material() -> None:
    body = "\n\n".join(f"Paragraph {i}: we describe how we handle personal data in detail "
                       "for this particular part of the service." for i in range(40))
    old = BASE + "\n" + body
    new = BASE.split("## Sharing")[0] + "We share data with serv"
    result = compare(old, new)
    assert result.suspect and not result.material
    assert "words remain" in (result.suspect_reason or "")
    assert result.summary().startswith("suspect capture")


def test_html_and_markdown_inputs_compare_the_same() -> None:
    html_old = ("<html><body><nav><a href='/'>Home</a></nav><main><h1>Policy</h1>"
                "<p>Last updated: May 24, 2018</p><h2>Data retention</h2>"
                "<p>We retain server logs for 12&nbsp;months.</p></main></body></html>")
    html_new = html_old.replace("12&nbsp;months", "24 months").replace("Home", "Start")
    result = compare_documents(normalize_html(html_old), normalize_html(html_new))
    assert result.categories == ["retention"]
    (finding,) = findings(result, "retention")
    assert (finding.old, finding.new) == ("P12M", "P24M")


def test_json_round_trip_and_contract_keys() -> None:
    result = compare(BASE, BASE.replace("for 12 months", "for 24 months")
                     .replace("May 24, 2018", "January 3, 2020"))
    data = result.to_json_dict()
    assert set(data) == {"material", "noise_only", "categories", "effective_date", "findings",
                         "suspect", "suspect_reason"}
    assert set(data["findings"][0]) == {"category", "change", "severity", "old", "new",
                                        "old_text", "new_text", "section"}
    assert data["categories"] == ["effective_date", "retention"]
    restored = Comparison.from_json_dict(json.loads(json.dumps(data)))
    assert restored == result
    assert restored.summary() == ("material: retention 12 months\u219224 months "
                                  "(effective date 2018-05-24 \u2192 2020-01-03)")


def test_download_cut_off_mid_sentence_is_suspect() -> None:
    body = "\n\n".join(f"Paragraph {i}: we describe how we handle personal data in detail "
                       "for this particular part of the service." for i in range(40))
    old = BASE + "\n" + body
    new = BASE + "\n" + body[:int(len(body) * 0.7)].rstrip(" .:") + " and then the text stops"
    result = compare(old, new)
    assert result.suspect and "stops mid-sentence" in (result.suspect_reason or "")


EDITS = [
    ("12 months", "18 months"),
    ("We do not sell", "We may sell"),
    ("## Sharing\n", "## Sharing\n\nWe share location data with advertisers.\n"),
    ("3. You may object to processing.\n", ""),
    ("May 24, 2018", "June 1, 2020"),
    ("## Children\n\nOur service is not directed to children under 13.\n", ""),
    ("Write to privacy@example.com", "Write to legal@example.com"),
]


def test_setting_shared_blocks_aside_changes_no_result(monkeypatch) -> None:
    """Comparing only the edited stretch gives what comparing everything gives."""
    from tracker.compare import semantic

    def compare_all(old: str, new: str) -> dict:
        return compare(old, new).to_json_dict()

    trimmed = [compare_all(BASE, BASE.replace(a, b)) for a, b in EDITS]
    trimmed += [compare_all(BASE.replace(a, b), BASE) for a, b in EDITS]
    monkeypatch.setattr(semantic, "common_ends", lambda old, new: (0, 0))
    full = [compare_all(BASE, BASE.replace(a, b)) for a, b in EDITS]
    full += [compare_all(BASE.replace(a, b), BASE) for a, b in EDITS]
    assert all(BASE.replace(a, b) != BASE for a, b in EDITS)
    assert trimmed == full
    assert sum(r["material"] for r in trimmed) >= len(EDITS)


def test_the_summary_counts_what_else_changed_in_a_category() -> None:
    from tracker.compare.findings import Comparison, Finding

    findings = [Finding("retention", "changed", "high", "P18M", "P6M", "18 months", "6 months",
                        ""),
                Finding("retention", "added", "medium", None, None, None,
                        "We may keep backups for up to 5 years.", "")]
    comparison = Comparison(True, False, ["retention"], None, findings)
    assert comparison.summary() == "material: retention 18 months\u21926 months (+1 more)"


def test_a_new_section_is_quoted_without_its_heading_and_filed_under_it() -> None:
    old = "<main><h1>Privacy Policy</h1><h2>Data</h2><p>We collect your email address.</p></main>"
    new = old.replace("</main>", "<h2>Partners &amp; Affiliates</h2><p>We share your email "
                      "address with advertising partners.</p></main>")
    (finding,) = compare_documents(normalize_html(old), normalize_html(new)).findings
    assert (finding.category, finding.change) == ("sharing", "added")
    assert finding.section == "Partners & Affiliates"
    assert finding.new_text == "We share your email address with advertising partners."
