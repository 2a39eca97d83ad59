"""Durations in the largest exact unit and retention periods with kind and anchor."""

from __future__ import annotations

import pytest

from tracker.compare.extractors.durations import (
    canonical_iso,
    find_durations,
    find_retention,
    iso_duration,
)


@pytest.mark.parametrize(
    ("text", "stated", "canonical"),
    [
        ("thirty (30) days", "P30D", "P30D"),
        ("30 (thirty) days", "P30D", "P30D"),
        ("12 months", "P12M", "P1Y"),
        ("twelve months", "P12M", "P1Y"),
        ("one year", "P1Y", "P1Y"),
        ("18 months", "P18M", "P18M"),
        ("twenty-four months", "P24M", "P2Y"),
        ("24 hours", "PT24H", "P1D"),
        ("36 hours", "PT36H", "PT36H"),
        ("7 days", "P7D", "P1W"),
        ("90 days", "P90D", "P90D"),
        ("a year", "P1Y", "P1Y"),
        ("two-year", "P2Y", "P2Y"),
        ("1.5 years", "P18M", "P18M"),
        ("10 business days", "P10D(business)", "P10D(business)"),
        ("6 months", "P6M", "P6M"),
    ],
)
def test_duration_phrasings(text: str, stated: str, canonical: str) -> None:
    (found,) = find_durations(f"kept for {text} in total")
    assert found.iso == stated
    assert found.canonical == canonical


def test_iso_duration_units() -> None:
    assert iso_duration(48, "H") == "P2D"
    assert iso_duration(90, "MIN") == "PT90M"
    assert iso_duration(1.5, "Y") == "P18M"
    assert canonical_iso("P24M") == canonical_iso("P2Y") == "P2Y"
    assert canonical_iso("PT120M") == "PT2H"
    assert canonical_iso("does not sell") == "does not sell"


def test_rates_are_not_periods() -> None:
    assert [d.iso for d in find_durations("support 24 hours a day, twice a year")] == []


@pytest.mark.parametrize(
    ("sentence", "value", "kind"),
    [
        ("We retain server logs for 12 months.", "P12M", "fixed"),
        ("Logs are deleted after thirty (30) days.", "P30D", "fixed"),
        ("We keep your data for up to two years.", "P2Y", "max"),
        ("Records are stored for at least 7 years.", "P7Y", "min"),
        ("We retain your data for as long as necessary for these purposes.", "open-ended",
         "open-ended"),
        ("We keep it for the life of your account.", "open-ended", "open-ended"),
        ("Backups are retained indefinitely.", "indefinite", "indefinite"),
        ("We store messages until you delete your account.", "open-ended", "open-ended"),
    ],
)
def test_retention_kinds(sentence: str, value: str, kind: str) -> None:
    (period,) = find_retention(sentence)
    assert period.value == value
    assert period.kind == kind


def test_retention_canonical_value() -> None:
    (months,) = find_retention("We retain logs for 12 months.")
    (year,) = find_retention("We retain logs for one year.")
    assert months.value == "P12M" and year.value == "P1Y"
    assert months.canonical == year.canonical == "P1Y"


def test_retention_anchor() -> None:
    (period,) = find_retention("Data is deleted 3 years after the end of the contract.")
    assert period.duration == "P3Y"
    assert period.anchor == "end of the contract"
    (other,) = find_retention("We keep it for one year after account closure.")
    assert other.anchor == "account closure"


def test_account_life_plus_period() -> None:
    periods = find_retention("We retain it for the life of your account plus 2 years.")
    assert [p.duration for p in periods] == ["P2Y"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Our service is available in 12 months of the year.",  # no retention verb
        "Children under 13 years old may not use the service and we keep it so.",
        "You can contact us within 30 days of purchase.",
    ],
)
def test_not_retention(sentence: str) -> None:
    assert find_retention(sentence) == []
