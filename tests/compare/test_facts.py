"""Typed facts: sale polarity, ages, contacts, deadlines, notice periods, lexicon values."""

from __future__ import annotations

import pytest

from tracker.compare.extractors.facts import (
    extract_facts,
    find_ages,
    find_emails,
    find_organisations,
    sale_polarity,
)
from tracker.compare.lexicons import heading_categories, lexicon_hits
from tracker.compare.text import tokens_of


@pytest.mark.parametrize(
    ("sentence", "polarity"),
    [
        ("We do not sell your personal information.", "does not sell"),
        ("We don't sell your data.", "does not sell"),
        ("We will never sell your information to anyone.", "does not sell"),
        ("We have not sold personal information in the last 12 months.", "does not sell"),
        ("We keep logs for 30 days and sell nothing.", "does not sell"),
        ("We sell no personal information and rent none.", "does not sell"),
        ("We neither rent nor sell your data.", "does not sell"),
        ("Partners receive data without selling it on.", "does not sell"),
        ("We may sell your personal information to partners.", "may sell"),
        ("Sharing with partners may be considered a sale under the CCPA.", "may sell"),
        ("We sell aggregated audience data to advertisers.", "sells"),
        ("Click Do Not Sell My Personal Information to opt out.", "opt-out of sale"),
        ("We share your data with service providers.", None),
    ],
)
def test_sale_polarity(sentence: str, polarity: str | None) -> None:
    assert sale_polarity(sentence) == polarity


@pytest.mark.parametrize(
    ("sentence", "ages"),
    [
        ("Our service is not directed to children under 13.", [13]),
        ("You must be at least 16 years old to use the service.", [16]),
        ("We do not knowingly collect data from children under the age of 18.", [18]),
        ("Teen users aged 13-17 get additional protections.", [13, 17]),
        ("Users must be 18+ to register; minors need a parent.", [18]),
        ("We keep data for 13 months.", []),
        ("Call us at 1 800 555 0100 between 9 and 17.", []),
    ],
)
def test_ages(sentence: str, ages: list[int]) -> None:
    assert find_ages(sentence) == ages


def test_emails_and_organisations() -> None:
    text = "Contact our DPO at Privacy@Example.com or write to Example Media, Inc. in Boston."
    assert find_emails(text) == ["privacy@example.com"]
    assert find_organisations(text) == ["Example Media, Inc"]
    assert find_organisations("We use cookies to improve the site.") == []


def test_contact_facts_need_contact_context() -> None:
    assert extract_facts("Contact Example Ltd at hello@example.org.").typed()["contact"] == [
        "Example Ltd", "hello@example.org"]
    assert "contact" not in extract_facts("We use payment processors such as Stripe, "
                                          "Inc. to process payments.").typed()


def test_request_deadline_and_notice_period() -> None:
    rights = extract_facts("We will respond to your request within 30 days.").typed()
    assert rights["rights"] == "P30D" or rights["rights"] == ["P30D"]
    notice = extract_facts("We will notify you of changes to this policy at least 30 days "
                           "before they take effect.").typed()
    assert notice["policy_changes"] == "P30D" or notice["policy_changes"] == ["P30D"]
    assert "rights" not in extract_facts("We retain the data for 30 days.").typed()


def test_retention_typed_value() -> None:
    assert extract_facts("We retain logs for 12 months.").typed()["retention"] == "P12M"
    assert extract_facts("We retain logs for one year.").typed()["retention"] == "P1Y"


def _labels(sentence: str) -> set[tuple[str, str]]:
    return {(h.category, h.label) for h in lexicon_hits(tokens_of(sentence)) if h.is_value}


def test_lexicon_values() -> None:
    labels = _labels("We may use your content to train our machine learning models.")
    assert ("purposes", "ai training") in labels
    assert ("transfers", "standard contractual clauses") in _labels(
        "Transfers rely on the Standard Contractual Clauses approved by the Commission.")
    assert ("cookies_tracking", "analytics") in _labels("We use Google Analytics.")
    assert ("sharing", "service providers") in _labels("We share data with service providers.")
    assert ("data_collected", "ip address") in _labels("We collect your IP address.")
    assert ("rights", "portability") in _labels("You have the right to data portability.")


def test_lexicon_does_not_fire_on_lookalikes() -> None:
    labels = _labels("Tell us what you think about our new website design.")
    assert not labels
    # "us" the pronoun is not the country
    hits = lexicon_hits(tokens_of("Contact us about it."))
    assert all(h.category != "transfers" for h in hits)


def test_heading_categories() -> None:
    assert heading_categories(("Privacy", "How long we keep your data")) == ("retention",)
    assert heading_categories(("Cookies and similar technologies",)) == ("cookies_tracking",)
    assert heading_categories(("Introduction",)) == ()
