"""The CPU part of a check: fetched bytes -> quality verdict, normalized text, findings.

Everything here is a pure function of picklable inputs, so the check cycle can run it in a
pool of worker processes while the event loop keeps fetching. Blobs are written here too
(content-addressed, so writing one twice or orphaning one after a crash is harmless), which
keeps compression off the main process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .blobs import BlobError, BlobStore, sha256_hex
from .charset import decode_html
from .document import Document
from .fetch import FetchResult
from .fingerprint import SETTINGS_CHANGED, content_fingerprint
from .normalize import (
    NORMALIZER_VERSION,
    PrunedPage,
    document_from_pruned,
    normalize_html,
    parse_markdown,
    parse_plain_text,
    prune_html,
)

if TYPE_CHECKING:  # the tables are not needed in parse workers
    from .models import Snapshot

HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
MARKDOWN_TYPES = {"text/markdown", "text/x-markdown"}


@dataclass(frozen=True)
class PageJob:
    """What a worker needs to analyze one fetched page."""

    result: FetchResult
    select: tuple[str, ...]
    remove: tuple[str, ...]
    blob_root: str
    previous_fingerprint: str | None = None
    previous_text_sha: str | None = None
    previous_words: int | None = None
    previous_raw_sha: str | None = None  # the previous version's raw page: a delta's base


@dataclass(frozen=True)
class PageAnalysis:
    """What the worker found; ``unchanged`` means "same text as the latest version"."""

    fingerprint: str | None = None
    unchanged: bool = False
    ok: bool = True
    reason: str | None = None
    raw_sha: str | None = None
    raw_size: int = 0  # bytes of the body stored as ``raw_sha`` (the body itself is dropped)
    text_sha: str | None = None
    words: int = 0
    size: int = 0
    effective_date: str | None = None
    comparison: dict | None = None  # Comparison.to_json_dict() against ``compared_to``
    compared_to: str | None = None  # text sha of the version the comparison was made against


def document_from_body(body: bytes, content_type: str, charset: str | None,
                       select: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> Document:
    """Decode and normalize a body by its content type (HTML, Markdown or plain text)."""
    # The same charset rules for every type: a mislabelled text page must not turn to mojibake.
    if content_type in MARKDOWN_TYPES:
        return parse_markdown(decode_html(body, charset))
    if content_type == "text/plain":
        return parse_plain_text(decode_html(body, charset))
    return normalize_html(decode_html(body, charset), list(select), list(remove))


def read_capture(blobs: BlobStore, snapshot: Snapshot, select: tuple[str, ...],
                 remove: tuple[str, ...]) -> Document:
    """A stored capture read again from its raw bytes, with a target's selectors as they are
    now (renormalize, accept, `show --capture`)."""
    return document_from_body(blobs.get(snapshot.sha256), snapshot.content_type,
                              snapshot.charset, select, remove)


def analyze_page(job: PageJob) -> PageAnalysis:
    # Imported here: compiling the quality gate's patterns is ~8 ms of every start, and a
    # cycle of unchanged pages never needs them.
    from .quality import assess

    result = job.result
    if result.error is not None or not result.ok:
        verdict = assess(result, None, job.previous_words)
        return PageAnalysis(ok=False, reason=verdict.reason or result.error or "fetch failed",
                            raw_sha=_store_raw(job), raw_size=len(result.body))
    pruned, fingerprint = _pruned_and_fingerprint(job)
    if fingerprint is not None and fingerprint == job.previous_fingerprint:
        return PageAnalysis(fingerprint=fingerprint, unchanged=True)
    document = None
    if pruned is not None:
        document = document_from_pruned(pruned, list(job.select))
    elif result.content_type in MARKDOWN_TYPES | {"text/plain"}:
        document = document_from_body(result.body, result.content_type, result.charset)
    words = document.word_count() if document is not None else None
    # After an edit of the target's URL or selectors the last version was read another way:
    # a page that now reads shorter is the edit's doing, not a collapse.
    reread = job.previous_fingerprint == SETTINGS_CHANGED
    previous_words = None if reread else job.previous_words
    verdict = assess(result, document, previous_words, words)
    if not verdict.ok or document is None:
        return PageAnalysis(ok=False, reason=verdict.reason or "unusable page",
                            raw_sha=_store_raw(job), raw_size=len(result.body))
    # Imported here: the semantic engine costs ~60 ms to load, and a cycle in which nothing
    # changed never needs it (nor does a first version: its date needs only the extractor).
    from .compare.extractors.dates import extract_effective_date

    text = document.to_text()
    encoded = text.encode("utf-8")
    text_sha = sha256_hex(encoded)
    if text_sha == job.previous_text_sha:
        return PageAnalysis(fingerprint=fingerprint, unchanged=True, text_sha=text_sha)
    blobs = BlobStore(Path(job.blob_root))
    try:
        old_text = None if job.previous_text_sha is None else blobs.get(job.previous_text_sha)
    except BlobError as exc:  # the store is damaged, not the page: keep it, say what to do
        return PageAnalysis(ok=False, reason=f"cannot compare with the last version: {exc} "
                                             "(`tracker verify --repair` re-derives it)",
                            raw_sha=_store_raw(job), raw_size=len(result.body))
    # Both stored as deltas against the previous version's when they resemble them. Not
    # fsynced here: the recording side syncs once per batch before committing rows.
    blobs.put(encoded, sync=False, like=job.previous_text_sha, like_data=old_text)
    raw_sha = blobs.put(result.body, sync=False, like=job.previous_raw_sha)
    comparison = None
    if old_text is not None:
        from .compare.semantic import compare_documents

        # ``document`` equals Document.from_text(text) (the round trip is exact).
        old = Document.from_text(old_text.decode("utf-8"))
        comparison = compare_documents(old, document, confirmed=reread).to_json_dict()
        if comparison.get("suspect"):
            # Most of the text gone (a short page under the quality gate's length test): kept
            # as quarantined evidence, not a version; `tracker accept` records it if it is real.
            return PageAnalysis(ok=False, reason=f"suspect capture: {comparison['suspect_reason']}",
                                raw_sha=raw_sha, raw_size=len(result.body))
    return PageAnalysis(fingerprint=fingerprint, raw_sha=raw_sha, raw_size=len(result.body),
                        text_sha=text_sha, words=words or 0, size=len(encoded),
                        effective_date=extract_effective_date(document),
                        comparison=comparison,
                        compared_to=job.previous_text_sha if comparison else None)


def analyze_in_worker(job: PageJob) -> PageAnalysis:
    """:func:`analyze_page` in a worker process, with its blobs stored before the result goes
    back: the parent's :meth:`BlobStore.sync` cannot reach this process's buffered blobs."""
    analysis = analyze_page(job)
    try:
        BlobStore(Path(job.blob_root)).sync()
    except BlobError as exc:
        return unstored(exc)
    return analysis


def unstored(error: BlobError) -> PageAnalysis:
    """The analysis of a page whose blobs could not be stored: a failure, never a version."""
    return PageAnalysis(ok=False, reason=f"the page could not be stored: {error}")


def _pruned_and_fingerprint(job: PageJob) -> tuple[PrunedPage | None, str | None]:
    """An HTML page pruned of its chrome, and its :mod:`tracker.fingerprint` (else None)."""
    result = job.result
    if result.content_type not in HTML_TYPES:
        return None, None
    pruned = prune_html(decode_html(result.body, result.charset), list(job.remove),
                        bare=not job.select)
    context = f"{NORMALIZER_VERSION}|{'|'.join(job.remove)}"
    return pruned, content_fingerprint(pruned, job.select, context)


def quick_unchanged(job: PageJob) -> PageAnalysis | None:
    """The cheap test run before shipping a page to a worker: same fingerprint, same text."""
    if job.previous_fingerprint is None or not job.result.ok:
        return None
    _, fingerprint = _pruned_and_fingerprint(job)
    if fingerprint is not None and fingerprint == job.previous_fingerprint:
        return PageAnalysis(fingerprint=fingerprint, unchanged=True)
    return None


def compare_texts(old_text: str, new_text: str, confirmed: bool = False) -> dict:
    """Semantic comparison of two stored normalized texts, as the JSON contract's dict.

    ``confirmed``: see :func:`tracker.compare.semantic.compare_documents`.
    """
    from .compare.semantic import compare_documents

    old, new = Document.from_text(old_text), Document.from_text(new_text)
    return compare_documents(old, new, confirmed).to_json_dict()


def _store_raw(job: PageJob) -> str | None:
    """Quarantined captures keep their bytes as evidence (bounded by the fetch size cap)."""
    if not job.result.body:
        return None
    return BlobStore(Path(job.blob_root)).put(job.result.body, sync=False)
