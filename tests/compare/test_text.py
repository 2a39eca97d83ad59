"""Sentence splitting and comparison tokens."""

from __future__ import annotations

from tracker.compare.text import (
    common_ends,
    loose_key,
    sentences_of,
    split_sentences,
    tokens_of,
)
from tracker.normalize import parse_markdown


def test_split_keeps_abbreviations() -> None:
    text = ("We work with partners, e.g. Example Inc. and others. They are in the U.S. and "
            "the EU. Contact us.")
    assert split_sentences(text) == [
        "We work with partners, e.g. Example Inc. and others.",
        "They are in the U.S. and the EU.",
        "Contact us.",
    ]


def test_tokens_fold_typography_links_and_contractions() -> None:
    assert tokens_of("We don\u2019t sell\u00a0data \u2014 see https://x.example/?utm_source=a") == \
        ["we", "do", "not", "sell", "data", "see"]
    assert tokens_of("Email privacy@Example.com today") == ["email", "privacy@example.com",
                                                            "today"]


def test_tokens_drop_dates_and_placeholders() -> None:
    assert tokens_of("Last updated: May 24, 2018") == ["last", "updated"]
    assert "obfuscated@email.invalid" in tokens_of("Write to [email\u00a0protected] now")


def test_cross_reference_titles_are_not_words() -> None:
    assert tokens_of('as described in the "Your Rights and Choices" section below') == \
        ["as", "described", "in", "the", "section", "below"]
    # A quoted link label that is not a section reference keeps its words.
    assert "share" in tokens_of('Use the "Do Not Sell or Share My Information" link.')


def test_loose_key_ignores_case_spacing_and_punctuation() -> None:
    assert loose_key("Other Information such as:") == loose_key("**Other Informationsuch as**")


def test_sentences_drop_list_numbering() -> None:
    doc = parse_markdown("# Rights\n\n1. You may access your data.\n2. You may delete it.\n")
    keys = [s.key for s in sentences_of(doc) if s.kind == "item"]
    renumbered = parse_markdown("# Rights\n\n3. You may access your data.\n4. You may delete it.\n")
    assert keys == [s.key for s in sentences_of(renumbered) if s.kind == "item"]
    assert keys[0] == "youmayaccessyourdata"


def test_common_ends_counts_shared_blocks_at_both_ends_without_overlap() -> None:
    old = parse_markdown("# T\n\nAlpha.\n\nBeta.\n\nGamma.\n\nOmega.\n")
    new = parse_markdown("# T\n\nAlpha.\n\nBeta changed.\n\nGamma.\n\nOmega.\n")
    assert common_ends(old, new) == (2, 2)
    assert common_ends(old, old) == (5, 0)  # all shared: nothing left over for the tail
    repeated = parse_markdown("Same.\n\nOther.\n\nSame.\n")
    assert common_ends(repeated, parse_markdown("Same.\n\nSame.\n")) == (1, 1)
    heading = parse_markdown("# Alpha.\n")
    assert common_ends(heading, parse_markdown("Alpha.\n")) == (0, 0)  # kind counts too


def test_sentences_of_a_stretch_keep_their_block_numbers() -> None:
    doc = parse_markdown("# T\n\nOne. Two.\n\nThree.\n")
    stretch = sentences_of(doc, 1, 2)
    assert [(s.index, s.block, s.text) for s in stretch] == [(0, 1, "One."), (1, 1, "Two.")]
