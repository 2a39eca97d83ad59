"""Date finding and the policy's own effective / last-updated date."""

from __future__ import annotations

import pytest

from tracker.compare.extractors.dates import find_dates, find_effective_date
from tracker.compare.semantic import extract_effective_date
from tracker.normalize import parse_markdown


def doc(text: str):
    return parse_markdown(text)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Last updated: May 24, 2018", "2018-05-24"),
        ("Last Updated: May 24th, 2018", "2018-05-24"),
        ("Effective as of 24/05/2018", "2018-05-24"),
        ("Revised 2018-05-24", "2018-05-24"),
        ("Updated March 2021", "2021-03"),
        ("This policy was last updated on the 24th of May 2018.", "2018-05-24"),
        ("Effective Date: 1 December 2025", "2025-12-01"),
        ("Last modified: 1st December 2025", "2025-12-01"),
        ("Last revised 16-OCT-2023", "2023-10-16"),
        ("Last revised APRIL-2024", "2024-04"),
        ("_Last update : january 2024_", "2024-01"),
        ("(Updated as of December 2014)", "2014-12"),
        ("Last update: 9/19/17", "2017-09-19"),
        ("Last Modified: 12/22/2023", "2023-12-22"),
        ("Effective: 01 April 2022", "2022-04-01"),
        ("UPDATED AS OF: July 16, 2025", "2025-07-16"),
        ("Date of last revision: 2020-04-07", "2020-04-07"),
        ("This version is effective as of October 7, 2021.", "2021-10-07"),
    ],
)
def test_effective_date_phrasings(line: str, expected: str) -> None:
    text = f"# Privacy Policy\n\n{line}\n\nWe collect your email address to run the service.\n"
    assert extract_effective_date(doc(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "# Privacy\n\nCopyright 2019 Example Inc. All rights reserved.\n",
        "# Privacy\n\nThe Act of May 24, 2018 applies to processing in some states.\n",
        "# Events\n\n- Tulip Day (May 13, 2020)\n- Nurses Week (May 6 - 12, 2020)\n\n"
        "We share data with partners. Example text without a policy date at all here.\n",
        "# Privacy\n\nFor the version effective until December 15, 2022, click here.\n",
        "# Privacy\n\nWe keep logs for 12 months.\n",
    ],
)
def test_other_dates_are_not_the_policy_date(text: str) -> None:
    assert extract_effective_date(doc(text)) is None


def test_newest_of_several_statements_wins() -> None:
    text = "# P\n\nEffective December 15, 2022. Last Revised November 15, 2022.\n"
    assert extract_effective_date(doc(text)) == "2022-12-15"


def test_short_statement_beats_date_inside_body_sentence() -> None:
    text = ("# P\n\nEffective January 1, 2020, the California Consumer Privacy Act gives "
            "residents certain rights with respect to the personal information we collect "
            "about them, as described in the sections below.\n\nRevised December 26, 2019\n")
    assert extract_effective_date(doc(text)) == "2019-12-26"


def test_revision_history_table_newest_row() -> None:
    text = ("# Policy\n\nWe collect data.\n\n## Revision history\n\n"
            "| Date | Change |\n|---|---|\n| June 13th, 2023 | Revised article 14. |\n"
            "| August 31st, 2023 | Revised article 3. |\n| May 16th, 2018 | GDPR. |\n")
    assert extract_effective_date(doc(text)) == "2023-08-31"


def test_standalone_date_under_title() -> None:
    text = "# Notice\n\nNovember 29, 2022\n\nWe care about your privacy and explain it here.\n"
    assert extract_effective_date(doc(text)) == "2022-11-29"


def test_ambiguous_numeric_date_is_flagged() -> None:
    (found,) = find_dates("Last updated 05/06/2018")
    assert found.ambiguous
    assert found.iso == "2018-05-06"  # slashes: month first unless told otherwise
    (day_first,) = find_dates("Last updated 05/06/2018", day_first=True)
    assert day_first.iso == "2018-06-05"
    (clear,) = find_dates("Last updated 25/06/2018")
    assert not clear.ambiguous and clear.iso == "2018-06-25"


def test_effective_date_evidence_and_ambiguity() -> None:
    found = find_effective_date(doc("# Policy\n\n## Changes\n\nLast updated 05/06/2018\n"))
    assert found is not None
    assert found.ambiguous
    assert found.section == "Changes"
    assert found.text == "Last updated 05/06/2018"


def test_document_order_hint_resolves_ambiguous_date() -> None:
    text = "# P\n\nReviewed on 20/02/2024.\n\nLast updated on 10/06/2024.\n"
    assert extract_effective_date(doc(text)) == "2024-06-10"


def test_a_compared_pair_shares_one_order_hint() -> None:
    """The old version writes 20/02/2024 (day first), so the new version's 10/06/2024 is
    10 June, though the new version alone has nothing to vote with."""
    from tracker.compare.semantic import compare_documents

    old = doc("# P\n\nLast updated on 20/02/2024.\n\nWe keep logs.\n")
    new = doc("# P\n\nLast updated on 10/06/2024.\n\nWe keep logs.\n")
    assert extract_effective_date(new) == "2024-10-06"  # alone: slashes read month first
    assert compare_documents(old, new).effective_date == {"old": "2024-02-20",
                                                          "new": "2024-06-10"}
    assert find_effective_date(new, day_first=False).iso == "2024-10-06"  # told otherwise


def test_invalid_dates_are_rejected() -> None:
    assert find_dates("on 45/45/2018") == []
    assert [d.iso for d in find_dates("between 2019-13-01 and March 2020")] == ["2020-03"]


def test_the_no_digit_shortcut_finds_what_the_patterns_find() -> None:
    """Blocks without an ASCII digit skip the patterns: never one with a date, in any script."""
    from tracker.compare.extractors.dates import _dates_in, _find_dates

    texts = ["Last updated: May 5, 2024", "Effective 24/05/2018", "no digits at all here",
             "Updated ٢٠٢٤-٠٥-٠٥", "Revised on 2024\u20110\u200b5-05",
             "Effective:\u00a0May 5, 2024",
             "Version 3.2", "", "  ", "Dated the fifth of May, two thousand twenty-four",
             "Mis à jour le 5 mai 2024", "Stand: 05.05.2024", "１２/０５/２０２４ (full width)"]
    for text in texts:
        for day_first in (None, True, False):
            assert _dates_in(text, day_first) == _find_dates.__wrapped__(text, day_first), text
