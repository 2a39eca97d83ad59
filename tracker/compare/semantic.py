"""Semantic comparison of two policy versions: what changed in meaning, with evidence.

Entry point for the CLI (`tracker compare`), the check pipeline and the benchmark. The stages:

1. set aside the blocks both versions share at the start and the end, and split the rest of
   each into sentences with comparison tokens (:mod:`.text`);
2. judge whether the new version is a broken capture (:mod:`.capture`) — then nothing else is
   reported as a change;
3. compare the policies' own effective dates (:mod:`.extractors.dates`);
4. align sentences and words and group the real edits (:mod:`.sentdiff`);
5. classify each edit into categories with typed old/new values (:mod:`.classify`).

The result follows the contract in docs/TAXONOMY.md (see :mod:`.findings`).
"""

from __future__ import annotations

from ..document import Document
from .capture import CUT_RATIO, suspect_capture
from .classify import Classifier
from .extractors.dates import extract_effective_date as _extract_effective_date
from .extractors.dates import find_effective_date
from .findings import (
    ADDED,
    CHANGED,
    INFO,
    REMOVED,
    REWORDED,
    Comparison,
    Finding,
)
from .lexicons import EFFECTIVE_DATE
from .sentdiff import diff_sentences
from .text import Sentence, common_ends, sentences_of

__all__ = ["Comparison", "Finding", "compare_documents", "extract_effective_date"]


def extract_effective_date(doc: Document) -> str | None:
    """The policy's own effective / last-updated date as ISO at the precision given, or None."""
    return _extract_effective_date(doc)


def compare_documents(old: Document, new: Document, confirmed: bool = False) -> Comparison:
    """Compare two versions of a policy and say what changed in meaning.

    ``confirmed`` means a person has checked that ``new`` is the real page (``tracker
    accept``): it is then never called a suspect capture, however much text it lost.
    """
    # Only the stretch between the blocks both versions share can hold an edit.
    head, tail = common_ends(old, new)
    old_sentences = sentences_of(old, head, len(old.blocks) - tail)
    new_sentences = sentences_of(new, head, len(new.blocks) - tail)
    identical = [s.key for s in old_sentences] == [s.key for s in new_sentences]

    reason = None
    if not identical and not confirmed:
        reason = _suspect(old, new, old_sentences, new_sentences, trimmed=bool(head or tail))
    if reason:
        return Comparison(material=False, noise_only=False, categories=[], effective_date=None,
                          findings=[], suspect=True, suspect_reason=reason)

    old_date = find_effective_date(old, hint_docs=(old, new))
    new_date = find_effective_date(new, hint_docs=(old, new))
    old_iso = old_date.iso if old_date else None
    new_iso = new_date.iso if new_date else None

    findings: list[Finding] = []
    effective_date = None
    if old_iso != new_iso:
        effective_date = {"old": old_iso, "new": new_iso}
        change = CHANGED if old_iso and new_iso else ADDED if new_iso else REMOVED
        findings.append(Finding(
            EFFECTIVE_DATE, change, INFO, old_iso, new_iso,
            old_date.text if old_date else None, new_date.text if new_date else None,
            (new_date or old_date).section if (new_date or old_date) else ""))

    if not identical:
        classifier = Classifier()
        for group in diff_sentences(old_sentences, new_sentences):
            findings.extend(classifier.classify(group))

    material = any(f.is_material for f in findings)
    if material and old_date and new_date and old_iso == new_iso:
        # The meaning changed but the policy's date did not: worth telling the reader.
        findings.append(Finding(EFFECTIVE_DATE, REWORDED, INFO, old_iso, new_iso,
                                old_date.text, new_date.text, new_date.section))
    categories = sorted({f.category for f in findings if f.is_material})
    if effective_date:
        categories = sorted({*categories, EFFECTIVE_DATE})
    return Comparison(
        material=material,
        noise_only=not material and effective_date is None,
        categories=categories,
        effective_date=effective_date,
        findings=findings,
    )


def _suspect(old: Document, new: Document, old_sentences: list[Sentence],
             new_sentences: list[Sentence], trimmed: bool) -> str | None:
    """:func:`suspect_capture` on the whole documents, split in full only when it can matter.

    Every verdict needs the new text under ``CUT_RATIO`` of the old words. Shared blocks
    add the same count to both sides, so unless the edited stretch itself lost that much the
    answer is no, and the shared blocks need no splitting.
    """
    if trimmed:
        old_words = sum(len(s.tokens) for s in old_sentences)
        new_words = sum(len(s.tokens) for s in new_sentences)
        if new_words >= CUT_RATIO * old_words:
            return None
        old_sentences, new_sentences = sentences_of(old), sentences_of(new)
    return suspect_capture(old, new, old_sentences, new_sentences)
