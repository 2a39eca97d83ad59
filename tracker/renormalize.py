"""Re-derive versions from stored snapshots after the normalizer improved.

Only what a better normalizer can change is touched: version texts, which consecutive versions
turn out to be identical (merged), and the findings of each change. A change that already
existed keeps its alert state; a change that appears only now is marked suppressed, so
re-normalizing never mails anyone.
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from .analysis import compare_texts, read_capture
from .blobs import sha256_hex
from .compare.semantic import Comparison, extract_effective_date
from .document import Document
from .history import ALERT_SUPPRESSED, drop_change, make_change, versions_of
from .models import Change, Snapshot, Target, Version
from .normalize import NORMALIZER_VERSION
from .store import Store
from .targets import TargetSpec, get_target


def renormalize_targets(store: Store, names: list[str] | None) -> list[str]:
    lines = []
    with store.session() as session:
        if names:
            targets = [get_target(session, n) for n in names]
        else:
            targets = list(session.exec(select(Target)))
        for target in targets:
            lines.append(_renormalize(session, store, TargetSpec.of(target)))
    return lines


def _renormalize(session: Session, store: Store, spec: TargetSpec) -> str:
    versions = versions_of(session, spec.id)
    retexted = 0
    for version in versions:
        snapshot = session.get(Snapshot, version.snapshot_id)
        assert snapshot is not None
        document = read_capture(store.blobs, snapshot, spec.select, spec.remove)
        text = document.to_text()
        digest = sha256_hex(text.encode("utf-8"))
        if digest != version.text_sha256:
            store.blobs.put_text(text)
            parsed = Document.from_text(text)
            version.text_sha256, version.size = digest, len(text.encode("utf-8"))
            version.words, version.effective_date = parsed.word_count(), \
                extract_effective_date(parsed)
            retexted += 1
        version.normalizer_version = NORMALIZER_VERSION
    kept: list[Version] = []
    merged = 0
    for version in versions:
        if kept and kept[-1].text_sha256 == version.text_sha256:
            _drop_version(session, version)
            merged += 1
        else:
            kept.append(version)
    session.flush()
    existing = {(c.from_version_id, c.to_version_id): c for c in
                session.exec(select(Change).where(Change.target_id == spec.id))}
    wanted = set()
    for old, new in zip(kept, kept[1:], strict=False):
        wanted.add((old.id, new.id))
        comparison = compare_texts(store.blobs.get_text(old.text_sha256),
                                   store.blobs.get_text(new.text_sha256))
        change = existing.get((old.id, new.id))
        if change is None:
            make_change(session, spec.id, old, new, comparison, new.source,
                        alert_state=ALERT_SUPPRESSED)
        else:
            change.comparison_json = json.dumps(comparison)
            change.material = bool(comparison.get("material"))
            change.noise_only = bool(comparison.get("noise_only"))
            change.categories_json = json.dumps(comparison.get("categories", []))
            change.summary = Comparison.from_json_dict(comparison).summary()
    for key, change in existing.items():
        if key not in wanted:
            drop_change(session, change)
    count = len(versions)
    return (f"{spec.name}: {count} version{'' if count == 1 else 's'}, {retexted} re-normalized, "
            f"{merged} merged as identical")


def _drop_version(session: Session, version: Version) -> None:
    for change in session.exec(select(Change).where(
            (Change.from_version_id == version.id) | (Change.to_version_id == version.id))):
        drop_change(session, change)
    session.flush()
    session.delete(version)
